/**
 * check:kill: the acceptance check. `herald start` is killed with SIGKILL in the middle of
 * 1,000 due targets and started again; no target may be lost and none published twice.
 *
 * Setup: an embedded PostgreSQL of the check's own in a temporary directory (Herald gets it as
 * DATABASE_URL, so the kill hits Herald alone, not its database), and the Sandbox network as a
 * separate process (`herald sandbox`, state in memory, `HERALD_SANDBOX=off` and
 * `HERALD_SANDBOX_URL` for Herald): a kill cannot lose the platform's ledger, which is the
 * evidence. Accounts are connected and posts created through the API as a person would.
 *
 * Verdict, from the Sandbox ledger: every target's idempotency key (`herald-target-<id>`) created
 * exactly once (`created` or `timeout_after_create`; `deduped` is a replay the platform caught),
 * every target `published`. Prints one JSON line; exits 1 on a duplicate or a lost target.
 *
 * BENCH_KILL_TARGETS (1,000), BENCH_KILL_ACCOUNTS (20), BENCH_KILL_AT (0.33: the share published
 * when the kill comes), BENCH_CONCURRENCY (256, Herald's default HERALD_WORKER_CONCURRENCY).
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { createLogger } from "../src/observability/logger.js";
import {
  benchSecrets,
  connectSandboxAccounts,
  createScheduledTargets,
  creationsByKey,
  exited,
  FINAL_STATES,
  freePort,
  heraldSession,
  ROOT,
  readLedger,
  sleep,
  startProcess,
  startSandbox,
  targetCounts,
  targetKey,
  waitForHttp,
  withDatabase,
  writeResult,
} from "./lib.js";

const TARGETS = Number(process.env.BENCH_KILL_TARGETS ?? 1000);
const ACCOUNTS = Number(process.env.BENCH_KILL_ACCOUNTS ?? 20);
const KILL_AT = Number(process.env.BENCH_KILL_AT ?? 0.33);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256);
const RECOVERY_TIMEOUT_MS = 300_000;

const log = createLogger("warn");
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-kill-"));
await fs.chmod(dataDir, 0o755);
const database = await startEmbeddedPostgres({ dataDir: path.join(dataDir, "db"), port: 0, log });
const children: Array<ReturnType<typeof startProcess>> = [];
let exitCode = 1;
const withOwner = <T>(fn: Parameters<typeof withDatabase<T>>[1]) => withDatabase(database.url, fn);

try {
  const sandbox = await startSandbox();
  children.push(sandbox.child);

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    PORT: String(port),
    HERALD_PUBLIC_URL: base,
    HERALD_DATA_DIR: path.join(dataDir, "herald"),
    ...sandbox.env,
    HERALD_RATE_LIMIT_PER_MINUTE: "100000000",
    HERALD_WORKER_CONCURRENCY: String(CONCURRENCY),
    LOG_LEVEL: "info",
    ...benchSecrets(),
  };
  const startHerald = async () => {
    const herald = startProcess([path.join(ROOT, "dist/main.js"), "start"], env);
    children.push(herald);
    await waitForHttp(`${base}/ready`, herald);
    return herald;
  };

  const first = await startHerald();
  const session = await heraldSession(base);
  const accounts = await connectSandboxAccounts(session, ACCOUNTS);
  const dueAt = new Date(Date.now() + 5000);
  await createScheduledTargets(session, accounts, TARGETS, dueAt);
  const { rows: targetRows } = await withOwner((db) =>
    db.query<{ id: string }>("select id from post_targets where workspace_id = $1", [session.workspaceId]),
  );
  if (targetRows.length !== TARGETS)
    throw new Error(`expected ${TARGETS} targets, found ${targetRows.length}`);

  // The kill, once about KILL_AT of them are published.
  let atKill: Record<string, number> = {};
  for (;;) {
    atKill = await targetCounts(database.url, session.workspaceId);
    if ((atKill.published ?? 0) >= TARGETS * KILL_AT) break;
    if (first.exitCode !== null) throw new Error("Herald exited before the kill");
    await sleep(20);
  }
  first.kill("SIGKILL");
  await exited(first);
  const afterKill = await targetCounts(database.url, session.workspaceId);
  process.stderr.write(`killed with SIGKILL at ${JSON.stringify(afterKill)}\n`);

  const restartedAt = Date.now();
  const second = await startHerald();
  let finalCounts: Record<string, number> = {};
  let queueDrainedSeconds: number | null = null;
  let tenSecondsAfterRestart: Record<string, number> | undefined;
  for (;;) {
    finalCounts = await targetCounts(database.url, session.workspaceId);
    if (!tenSecondsAfterRestart && Date.now() - restartedAt >= 10_000) tenSecondsAfterRestart = finalCounts;
    // Everything but the claims the dead process left (resumed by the sweeper) is done.
    if (
      queueDrainedSeconds === null &&
      !finalCounts.scheduled &&
      (finalCounts.publishing ?? 0) <= (afterKill.publishing ?? 0)
    )
      queueDrainedSeconds = Math.round((Date.now() - restartedAt) / 100) / 10;
    const final = FINAL_STATES.reduce((sum, status) => sum + (finalCounts[status] ?? 0), 0);
    if (final >= TARGETS) break;
    if (Date.now() - restartedAt > RECOVERY_TIMEOUT_MS || second.exitCode !== null) break;
    await sleep(250);
  }
  const recoverySeconds = Math.round((Date.now() - restartedAt) / 100) / 10;

  const ledger = await readLedger(sandbox.url);
  const creations = creationsByKey(ledger);
  const { rows: states } = await withOwner((db) =>
    db.query<{ id: string; status: string; attempts: number }>(
      "select id, status, attempts from post_targets where workspace_id = $1",
      [session.workspaceId],
    ),
  );
  let duplicates = 0;
  let lost = 0;
  for (const target of states) {
    const created = creations.get(targetKey(target.id))?.length ?? 0;
    if (created > 1) duplicates += created - 1;
    if (created === 0 || target.status !== "published") lost += 1;
  }
  const { rows: resumed } = await withOwner((db) =>
    db.query<{ n: number }>(
      `select count(distinct target_id)::int as n from publish_attempts
       where workspace_id = $1 and attempt > 1`,
      [session.workspaceId],
    ),
  );
  const result = {
    targets: TARGETS,
    published: finalCounts.published ?? 0,
    failed: finalCounts.failed ?? 0,
    unconfirmed: finalCounts.unconfirmed ?? 0,
    duplicates,
    lost,
    recoverySeconds,
  };
  await writeResult("kill", {
    ...result,
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    concurrency: CONCURRENCY,
    atKill: afterKill,
    queueDrainedSeconds,
    tenSecondsAfterRestart,
    targetsWithASecondAttempt: resumed[0]?.n ?? 0,
    ledgerCounts: ledger.counts,
    sandboxDeduped: ledger.counts.deduped ?? 0,
  });
  process.stderr.write(
    `10 s after the restart: ${JSON.stringify(tenSecondsAfterRestart)}; only the dead process's claims ` +
      `left after ${queueDrainedSeconds} s; at the end: ${JSON.stringify(finalCounts)}; ` +
      `${resumed[0]?.n ?? 0} targets needed a second attempt; Sandbox ledger ${JSON.stringify(ledger.counts)}\n`,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
  exitCode = duplicates > 0 || lost > 0 ? 1 : 0;
} finally {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  await sleep(1000);
  await database.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
