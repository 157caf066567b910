/**
 * `npm run bench:scale`: the publish benchmark at 1,000, 10,000 and 100,000 due targets with one
 * worker process, and at 10,000 with 2 and 4 worker processes, to show how the cost grows. Each
 * run is a whole bench:publish (its own database, its references measured in the same run); this
 * prints one table of them. `-- --quick`: 1,000 and 5,000 targets, 1 and 2 workers.
 */
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ROOT, table, writeResult } from "./lib.js";

const QUICK = process.argv.includes("--quick");
const RUNS: Array<{ targets: number; workers: number }> = QUICK
  ? [
      { targets: 1000, workers: 1 },
      { targets: 5000, workers: 1 },
      { targets: 5000, workers: 2 },
    ]
  : [
      { targets: 1000, workers: 1 },
      { targets: 10_000, workers: 1 },
      { targets: 100_000, workers: 1 },
      { targets: 10_000, workers: 2 },
      { targets: 10_000, workers: 4 },
    ];

type PublishResult = {
  reference: { jobsPerSecond: number };
  referenceHerald: { jobsPerSecond: number };
  throughput: { targetsPerSecond: number; drainSeconds: number; medianMs: { claimToFinish: number } };
  lateness: { latenessMs: { p50: number; p99: number } };
  workerPeakRssMiB: number;
};

function publishRun(targets: number, workers: number): Promise<PublishResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/publish.bench.ts")], {
      cwd: ROOT,
      env: {
        ...process.env,
        BENCH_TARGETS: String(targets),
        BENCH_WORKERS: String(workers),
        BENCH_LATENESS_TARGETS: String(Math.min(targets, 5000)),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", async (code) => {
      const file = /^results: (.+)$/m.exec(output)?.[1];
      if (code !== 0 || !file) return reject(new Error(`bench:publish exited with ${code}\n${output}`));
      resolve(JSON.parse(await fs.readFile(path.resolve(ROOT, file.trim()), "utf8")) as PublishResult);
    });
  });
}

const rows: Array<Record<string, string | number>> = [];
const results: unknown[] = [];
for (const { targets, workers } of RUNS) {
  process.stderr.write(`scale: ${targets} targets, ${workers} worker process(es)...\n`);
  const r = await publishRun(targets, workers);
  results.push({ targets, workers, ...r });
  rows.push({
    targets,
    workers,
    "targets/s": r.throughput.targetsPerSecond,
    "drain s": r.throughput.drainSeconds,
    "claim→finish median ms": r.throughput.medianMs.claimToFinish,
    "lateness p50/p99 ms": `${r.lateness.latenessMs.p50} / ${r.lateness.latenessMs.p99}`,
    "no-op jobs/s, default / preset": `${r.reference.jobsPerSecond} / ${r.referenceHerald.jobsPerSecond}`,
    "% of default ref": `${((r.throughput.targetsPerSecond / r.reference.jobsPerSecond) * 100).toFixed(1)}%`,
    "worker RSS MiB": r.workerPeakRssMiB,
  });
}
process.stdout.write(`${table(rows)}\n`);
const file = await writeResult("scale", {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, node: process.version },
  quick: QUICK,
  runs: results,
});
process.stdout.write(`\nresults: ${path.relative(ROOT, file)}\n`);
