/**
 * bench:publish: end-to-end publishes per second, how late a burst of due targets starts, and the
 * worker's peak RSS, beside graphile-worker's own no-op job throughput measured in the same run.
 *
 * Method: an embedded PostgreSQL in a temporary directory; Herald's compiled `herald server` (the
 * Sandbox network mounted at /sandbox, zero latency, no faults) and `herald worker` as two child
 * processes on it, logging at info to /dev/null as in production. Everything goes through the API:
 * sign-up, a workspace and a client, Sandbox accounts connected through the real OAuth flow
 * (consent with `auto_approve=1`, the callback with the session cookie, confirm), posts of up to
 * 50 targets (one per account) scheduled for one instant after creation ends. Times come from the
 * database clock: from the targets' `publish_at` to the last `published_at`.
 *
 * References: graphile-worker's `run()` in this process with a no-op task, on a database of its own
 * in the same PostgreSQL server, with Herald's concurrency, poll interval and pool size; once with
 * graphile-worker's default settings (each job fetched and completed on its own), once with
 * Herald's preset (a local queue fetching a batch at a time, completions batched); the same number
 * of jobs added at once with `addJobs`, due at one instant, timed from that instant until the last
 * job completed. Aim (issue): Herald >= 50% of graphile-worker's no-op throughput.
 *
 * Sizes: BENCH_TARGETS (10,000), BENCH_LATENESS_TARGETS (5,000), BENCH_ACCOUNTS (50),
 * BENCH_CONCURRENCY (256, Herald's HERALD_WORKER_CONCURRENCY), BENCH_POLL_MS (200,
 * HERALD_WORKER_POLL_MS), BENCH_POOL (10, HERALD_DB_POOL_SIZE), BENCH_WORKERS (1: worker processes;
 * the references run min(BENCH_TARGETS, 10,000) jobs), BENCH_SANDBOX (`mounted`, or `separate`: `herald sandbox` in its own
 * process, state in memory), BENCH_PROFILE_DIR (a CPU profile of the worker).
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Logger, makeWorkerUtils, run } from "graphile-worker";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { createLogger } from "../src/observability/logger.js";
import { graphilePreset } from "../src/worker/worker.js";
import { figure } from "./figures.js";
import {
  benchSecrets,
  connectSandboxAccounts,
  createScheduledTargets,
  freePort,
  type HeraldSession,
  heraldSession,
  peakRssMiB,
  ROOT,
  startProcess,
  table,
  waitForHttp,
  writeResult,
} from "./lib.js";

const TARGETS = Number(process.env.BENCH_TARGETS ?? 10_000);
const LATENESS_TARGETS = Number(process.env.BENCH_LATENESS_TARGETS ?? 5000);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 50);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256);
const POOL = Number(process.env.BENCH_POOL ?? 10);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
/** The references run at most this many jobs: their rate is steady well before. */
const REFERENCE_JOBS = Math.min(TARGETS, 10_000);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 200);
const SANDBOX = process.env.BENCH_SANDBOX === "separate" ? "separate" : "mounted";
const FINAL = ["published", "failed", "unconfirmed", "cancelled"];

const log = createLogger("warn");
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-bench-"));
await fs.chmod(dataDir, 0o755);
const database = await startEmbeddedPostgres({ dataDir, port: 0, log });
const children: Array<ReturnType<typeof startProcess>> = [];
const owner = new pg.Pool({ connectionString: database.url, max: 2 });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => Math.round(ms) / 1000;
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

/** graphile-worker alone: `jobs` no-op jobs due at one instant, timed until the last completes. */
async function referenceRun(
  jobs: number,
  settings: "default" | "herald",
): Promise<{ seconds: number; jobsPerSecond: number }> {
  const name = `bench_reference_${settings}`;
  const admin = new pg.Client({ connectionString: database.adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(database.url);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.href, max: POOL });
  pool.on("error", (error) => process.stderr.write(`reference pool: ${error.message}\n`));
  let completed = 0;
  let target = 0;
  let done: () => void = () => {};
  const runner = await run({
    pgPool: pool,
    concurrency: CONCURRENCY,
    pollInterval: POLL_MS,
    ...(settings === "herald" ? { preset: graphilePreset(CONCURRENCY) } : {}),
    noHandleSignals: true,
    taskList: { noop: async () => {} },
    logger: new Logger(() => () => {}),
  });
  runner.events.on("job:complete", () => {
    completed += 1;
    if (completed === target) done();
  });
  const utils = await makeWorkerUtils({ pgPool: pool, logger: new Logger(() => () => {}) });
  const batch = async (count: number, leadMs: number) => {
    completed = 0;
    target = count;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const runAt = new Date(Date.now() + leadMs);
    for (let i = 0; i < count; i += 5000) {
      await utils.addJobs(
        Array.from({ length: Math.min(5000, count - i) }, (_, j) => ({
          identifier: "noop",
          payload: { n: i + j },
          runAt,
        })),
      );
    }
    await finished;
    return (Date.now() - runAt.getTime()) / 1000;
  };
  await batch(500, 1000); // warm-up
  const elapsed = await batch(jobs, 3000);
  await utils.release();
  await runner.stop();
  await pool.end();
  return { seconds: elapsed, jobsPerSecond: Math.round(jobs / elapsed) };
}

async function waitUntilFinal(postIds: string[], count: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await owner.query<{ n: number }>(
      "select count(*)::int as n from post_targets where post_id = any($1::uuid[]) and status = any($2)",
      [postIds, FINAL],
    );
    if ((rows[0]?.n ?? 0) >= count) return;
    if (Date.now() > deadline) throw new Error(`targets not final after ${timeoutMs} ms`);
    await sleep(250);
  }
}

type Burst = {
  targets: number;
  creationSeconds: number;
  createdBeforeDue: boolean;
  drainSeconds: number;
  targetsPerSecond: number;
  statuses: Record<string, number>;
  latenessMs: { p50: number; p99: number; max: number };
  /** Median time in the platform call (tokens + Sandbox request), and from claim to finish. */
  medianMs: { platformCall: number; claimToFinish: number };
};

/**
 * `count` targets due at one instant, `leadMs` after creation starts (enough to create them all
 * first); waits until all are final and reads the figures from the database.
 */
async function burst(
  session: HeraldSession,
  accounts: string[],
  count: number,
  leadMs: number,
): Promise<Burst> {
  const dueAt = new Date(Math.ceil((Date.now() + leadMs) / 1000) * 1000);
  const started = Date.now();
  const postIds = await createScheduledTargets(session, accounts, count, dueAt);
  const creationSeconds = seconds(Date.now() - started);
  const createdBeforeDue = Date.now() < dueAt.getTime();
  await waitUntilFinal(postIds, count, 600_000);
  const { rows } = await owner.query<{ status: string; n: number; drain: number }>(
    `select status, count(*)::int as n,
            extract(epoch from max(published_at) - min(publish_at))::float8 as drain
     from post_targets where post_id = any($1::uuid[]) group by status`,
    [postIds],
  );
  const { rows: lateness } = await owner.query<{ ms: number }>(
    `select a.lateness_ms::int as ms from publish_attempts a join post_targets t on t.id = a.target_id
     where t.post_id = any($1::uuid[]) and a.attempt = 1 order by a.lateness_ms`,
    [postIds],
  );
  const { rows: phases } = await owner.query<{ publish: number; attempt: number }>(
    `select percentile_cont(0.5) within group (order by a.latency_ms)::float8 as publish,
            percentile_cont(0.5) within group (order by extract(epoch from a.ended_at - a.started_at) * 1000)::float8
              as attempt
     from publish_attempts a join post_targets t on t.id = a.target_id where t.post_id = any($1::uuid[])`,
    [postIds],
  );
  const drainSeconds = rows.find((row) => row.status === "published")?.drain ?? Number.NaN;
  const ms = lateness.map((row) => row.ms);
  return {
    targets: count,
    creationSeconds,
    createdBeforeDue,
    drainSeconds: Math.round(drainSeconds * 1000) / 1000,
    targetsPerSecond: Math.round(count / drainSeconds),
    statuses: Object.fromEntries(rows.map((row) => [row.status, row.n])),
    latenessMs: { p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.at(-1) ?? Number.NaN },
    medianMs: {
      platformCall: Math.round(phases[0]?.publish ?? 0),
      claimToFinish: Math.round(phases[0]?.attempt ?? 0),
    },
  };
}

try {
  process.stderr.write(
    `reference: graphile-worker, ${REFERENCE_JOBS} no-op jobs, concurrency ${CONCURRENCY}...\n`,
  );
  const reference = await referenceRun(REFERENCE_JOBS, "default");
  const referenceHerald = await referenceRun(REFERENCE_JOBS, "herald");

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    PORT: String(port),
    HERALD_PUBLIC_URL: base,
    HERALD_DATA_DIR: dataDir,
    HERALD_RATE_LIMIT_PER_MINUTE: "100000000",
    HERALD_WORKER_CONCURRENCY: String(CONCURRENCY),
    HERALD_DB_POOL_SIZE: String(POOL),
    HERALD_WORKER_POLL_MS: String(POLL_MS),
    LOG_LEVEL: "info",
    ...benchSecrets(),
  };
  if (SANDBOX === "mounted") env.HERALD_SANDBOX = "on";
  else {
    const sandboxPort = await freePort();
    const sandbox = startProcess(
      [path.join(ROOT, "dist/main.js"), "sandbox", "--port", String(sandboxPort)],
      {
        LOG_LEVEL: "warn",
      },
    );
    children.push(sandbox);
    await waitForHttp(`http://127.0.0.1:${sandboxPort}/admin/faults`, sandbox);
    env.HERALD_SANDBOX = "off";
    env.HERALD_SANDBOX_URL = `http://127.0.0.1:${sandboxPort}`;
  }
  const sandboxUrl = env.HERALD_SANDBOX_URL ?? `${base}/sandbox`;
  const server = startProcess([path.join(ROOT, "dist/main.js"), "server"], env);
  children.push(server);
  await waitForHttp(`${base}/ready`, server);
  // BENCH_PROFILE_DIR: the worker writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_PROFILE_DIR
    ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(process.env.BENCH_PROFILE_DIR)}`]
    : [];
  const workers = Array.from({ length: WORKERS }, (_, i) =>
    startProcess([...(i === 0 ? profile : []), path.join(ROOT, "dist/main.js"), "worker"], env),
  );
  children.push(...workers);
  for (let i = 0; ; i++) {
    const { rows } = await owner.query<{ n: number }>(
      "select count(*)::int as n from worker_heartbeats where stopped_at is null and pid = any($1::int[])",
      [workers.map((worker) => worker.pid)],
    );
    if (rows[0]?.n === WORKERS) break;
    if (workers.some((worker) => worker.exitCode !== null) || i > 600)
      throw new Error("a worker did not start");
    await sleep(100);
  }

  process.stderr.write(`Herald: connecting ${ACCOUNTS} Sandbox accounts...\n`);
  const session = await heraldSession(base);
  const accounts = await connectSandboxAccounts(session, ACCOUNTS);

  // Warm-up, and the creation rate that sets how far ahead the bursts are scheduled.
  const warm = await burst(session, accounts, Math.min(500, 10 * accounts.length), 3000);
  const createPerMs = warm.targets / (warm.creationSeconds * 1000 || 1);
  const leadFor = (count: number, atLeastMs: number) =>
    Math.max(atLeastMs, (count / createPerMs) * 1.5 + 3000);

  process.stderr.write(`Herald: ${TARGETS} targets due at one instant...\n`);
  const throughput = await burst(session, accounts, TARGETS, leadFor(TARGETS, 3000));
  process.stderr.write(`Herald: lateness, ${LATENESS_TARGETS} targets due in the same second...\n`);
  const lateness = await burst(session, accounts, LATENESS_TARGETS, leadFor(LATENESS_TARGETS, 15_000));
  const workerRss = Math.max(...(await Promise.all(workers.map((worker) => peakRssMiB(worker.pid ?? 0)))));
  const serverRss = await peakRssMiB(server.pid ?? 0);

  // Exactly once, as the platform saw it: one creation per target, none deduped or lost.
  const ledger = (await (await fetch(`${sandboxUrl}/admin/ledger?limit=1`)).json()) as {
    counts: Record<string, number>;
  };
  const expected = warm.targets + TARGETS + LATENESS_TARGETS;

  const ratio = throughput.targetsPerSecond / reference.jobsPerSecond;
  const ratioHerald = throughput.targetsPerSecond / referenceHerald.jobsPerSecond;
  const percent = (value: number, of: number) => `${((value / of) * 100).toFixed(1)}%`;
  const rows = [
    ...[
      ["graphile-worker no-op jobs, default settings (reference)", reference],
      ["graphile-worker no-op jobs, Herald's preset (reference)", referenceHerald],
    ].map(([name, result]) => {
      const r = result as { seconds: number; jobsPerSecond: number };
      return {
        run: String(name),
        items: REFERENCE_JOBS,
        "per second": r.jobsPerSecond,
        "% of default ref": percent(r.jobsPerSecond, reference.jobsPerSecond),
        "% of preset ref": percent(r.jobsPerSecond, referenceHerald.jobsPerSecond),
        seconds: r.seconds.toFixed(2),
        "lateness p50/p99/max ms": "",
        "created before due": "",
      };
    }),
    ...[
      [`Herald publishes, burst`, throughput],
      [`Herald publishes, lateness burst`, lateness],
    ].map(([name, result]) => {
      const b = result as Burst;
      return {
        run: String(name),
        items: b.targets,
        "per second": b.targetsPerSecond,
        "% of default ref": percent(b.targetsPerSecond, reference.jobsPerSecond),
        "% of preset ref": percent(b.targetsPerSecond, referenceHerald.jobsPerSecond),
        seconds: b.drainSeconds.toFixed(2),
        "lateness p50/p99/max ms": `${b.latenessMs.p50} / ${b.latenessMs.p99} / ${b.latenessMs.max}`,
        "created before due": b.createdBeforeDue
          ? `yes (${b.creationSeconds} s)`
          : `NO (${b.creationSeconds} s)`,
      };
    }),
  ];
  const summary = {
    benchmark: "publish",
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
    settings: {
      workers: WORKERS,
      concurrency: CONCURRENCY,
      pollMs: POLL_MS,
      pool: POOL,
      accounts: ACCOUNTS,
      sandbox: SANDBOX,
      targets: TARGETS,
      latenessTargets: LATENESS_TARGETS,
    },
    reference,
    referenceHerald,
    warmUp: warm,
    throughput,
    lateness,
    ratio: Math.round(ratio * 1000) / 1000,
    ratioToPreset: Math.round(ratioHerald * 1000) / 1000,
    workerPeakRssMiB: workerRss,
    serverPeakRssMiB: serverRss,
    sandboxLedger: { ...ledger.counts, expectedCreated: expected },
    aims: { ratioAtLeast: 0.5 },
    met: { ratio: ratio >= 0.5, ratioToPreset: ratioHerald >= 0.5 },
    figures: [
      figure(`Herald publishes, ${TARGETS} due at once`, throughput.targetsPerSecond, "targets/s", {
        name: "graphile-worker no-op jobs, default settings",
        value: reference.jobsPerSecond,
      }),
      figure(`Herald publishes, ${TARGETS} due at once`, throughput.targetsPerSecond, "targets/s", {
        name: "graphile-worker no-op jobs, Herald's preset",
        value: referenceHerald.jobsPerSecond,
      }),
      figure(`lateness p99, ${LATENESS_TARGETS} due in one second`, lateness.latenessMs.p99, "ms"),
      figure("worker peak RSS", workerRss, "MiB"),
    ],
  };
  const file = await writeResult("publish", summary);
  process.stdout.write(`${table(rows)}\n\n`);
  process.stdout.write(
    `Herald at ${(ratio * 100).toFixed(1)}% of graphile-worker's no-op throughput with its default settings, ` +
      `${(ratioHerald * 100).toFixed(1)}% with Herald's preset (aim >= 50%); ` +
      `${WORKERS} worker process(es), concurrency ${CONCURRENCY}, pool ${POOL}, poll ${POLL_MS} ms, ${ACCOUNTS} accounts, Sandbox ${SANDBOX}\n` +
      `worker peak RSS: ${workerRss} MiB   server peak RSS: ${serverRss} MiB\n` +
      `Sandbox ledger: ${JSON.stringify(ledger.counts)} (expected ${expected} created)\n` +
      `results: ${path.relative(ROOT, file)}\n`,
  );
} finally {
  for (const child of children) child.kill("SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await owner.end();
  await database.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
