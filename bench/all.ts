/**
 * `npm run bench`: every benchmark of the project, one after the other (API with observability
 * overhead, audit, publish), each printing its own table, then one table of their headline figures
 * beside the reference each measured in the same run, as a ratio. `-- --quick`: smaller sizes (a
 * smoke run; its figures are noisier). Results: bench/results/all-<date>.json.
 */
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import type { Figure } from "./figures.js";
import { ROOT, table, writeResult } from "./lib.js";

const QUICK = process.argv.includes("--quick");
const QUICK_SIZES = {
  BENCH_SECONDS: "4",
  BENCH_AUDIT_ROWS: "200000",
  BENCH_TARGETS: "2000",
  BENCH_LATENESS_TARGETS: "1000",
};

const BENCHMARKS = ["api", "audit", "publish"];

/** Runs one benchmark; answers the path of the results file it reports on its last lines. */
function run(name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, `bench/${name}.bench.ts`)], {
      cwd: ROOT,
      env: { ...process.env, ...(QUICK ? QUICK_SIZES : {}) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk);
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const file = /^results: (.+)$/m.exec(output)?.[1];
      if (code !== 0 || !file) reject(new Error(`bench ${name} exited with ${code}`));
      else resolve(path.resolve(ROOT, file.trim()));
    });
  });
}

const all: Array<Figure & { benchmark: string }> = [];
for (const name of BENCHMARKS) {
  process.stdout.write(`\n==> bench:${name}\n`);
  const file = await run(name);
  const { figures } = JSON.parse(await fs.readFile(file, "utf8")) as { figures: Figure[] };
  all.push(...figures.map((f) => ({ benchmark: name, ...f })));
}

const number = (value: number | null) => (value === null ? "" : value.toLocaleString("en"));
process.stdout.write(`\n==> all benchmarks${QUICK ? " (quick sizes)" : ""}\n\n`);
process.stdout.write(
  `${table(
    all.map((f) => ({
      benchmark: f.benchmark,
      figure: f.figure,
      value: `${number(f.value)} ${f.unit}`,
      reference: f.reference ? `${f.reference}: ${number(f.referenceValue)} ${f.unit}` : "",
      ratio: f.ratio === null ? "" : `${(f.ratio * 100).toFixed(1)}%`,
    })),
  )}\n`,
);
const file = await writeResult("all", { date: new Date().toISOString(), quick: QUICK, figures: all });
process.stdout.write(`\nresults: ${path.relative(ROOT, file)}\n`);
