/**
 * check:burst: the publishing issue's acceptance check on a zero-setup Herald. `herald start`
 * (compiled) runs as `npm start` runs it: its own embedded PostgreSQL in a fresh data directory,
 * the Sandbox mounted at /sandbox, server and worker in one process, default settings. Through the
 * API: 2 Sandbox accounts connected through the OAuth flow, then 200 posts with one target per
 * account (400 targets), each created with an Idempotency-Key, all due in the same second about
 * 10 s ahead.
 *
 * Verdict from `GET /posts/{id}` (every target published, its attempts and their lateness) and the
 * Sandbox ledger (one creation per target: `created` or `timeout_after_create`; `deduped` is a
 * replay the platform caught). Prints one JSON line; exits 1 if a target is not published or was
 * created twice.
 *
 * `--faults`: Sandbox faults of 20% 5xx, 10% 429 with `Retry-After: 1` and 5% timeout after create.
 * BENCH_BURST_POSTS (200), BENCH_BURST_ACCOUNTS (2), BENCH_BURST_LEAD_MS (10,000); HERALD_PUBLISH_* and
 * HERALD_WORKER_* settings are passed on; BENCH_PROFILE_DIR (a CPU profile of Herald).
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import {
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
  targetKey,
  waitForHttp,
  writeResult,
} from "./lib.js";

const POSTS = Number(process.env.BENCH_BURST_POSTS ?? 200);
const ACCOUNTS = Number(process.env.BENCH_BURST_ACCOUNTS ?? 2);
const LEAD_MS = Number(process.env.BENCH_BURST_LEAD_MS ?? 10_000);
const FAULTS = process.argv.includes("--faults");
const FINAL = new Set(FINAL_STATES);

const Post = z.object({
  id: z.uuid(),
  targets: z.array(
    z.object({
      id: z.uuid(),
      status: z.string(),
      publishAt: z.string().nullable(),
      publishedAt: z.string().nullable(),
      error: z.object({ code: z.string().nullable(), message: z.string() }).nullable(),
      attemptLog: z.array(z.object({ attempt: z.number(), latenessMs: z.number().nullable() })).optional(),
    }),
  ),
});
type Post = z.infer<typeof Post>;

/**
 * CPU seconds (user + system) used so far by Herald's process, and by its PostgreSQL server: the
 * postmaster started on `dataDir`, its children alive now (the pooled backends), and the children it
 * has reaped (backends that ended: the kernel adds their time to the postmaster's cutime/cstime).
 */
async function cpuSeconds(heraldPid: number): Promise<{ herald: number; postgres: number }> {
  const stats = new Map<number, { ppid: number; ticks: number; reaped: number }>();
  let postmaster = 0;
  for (const entry of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await fs.readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const match = /^\d+ \(.*\) \S+ (\d+)(?: \S+){9} (\d+) (\d+) (\d+) (\d+)/.exec(stat);
    if (!match) continue;
    stats.set(Number(entry), {
      ppid: Number(match[1]),
      ticks: Number(match[2]) + Number(match[3]),
      reaped: Number(match[4]) + Number(match[5]),
    });
    const command = await fs.readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (command.includes("postgres\0-D\0") && command.includes(dataDir)) postmaster = Number(entry);
  }
  let postgres = 0;
  for (const [pid, stat] of stats) {
    if (pid === postmaster) postgres += stat.ticks + stat.reaped;
    else if (stat.ppid === postmaster) postgres += stat.ticks;
  }
  return { herald: (stats.get(heraldPid)?.ticks ?? 0) / 100, postgres: postgres / 100 };
}

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-burst-"));
await fs.chmod(dataDir, 0o755);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
// BENCH_PROFILE_DIR: Herald writes a V8 CPU profile there when it stops.
const profile = process.env.BENCH_PROFILE_DIR
  ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(process.env.BENCH_PROFILE_DIR)}`]
  : [];
const herald = startProcess([...profile, path.join(ROOT, "dist/main.js"), "start"], {
  PORT: String(port),
  HERALD_PUBLIC_URL: base,
  HERALD_DATA_DIR: dataDir,
  // The check reads every post back while it waits; the default limit is for people.
  HERALD_RATE_LIMIT_PER_MINUTE: "100000000",
  LOG_LEVEL: "info",
  ...Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => key.startsWith("HERALD_PUBLISH_") || key.startsWith("HERALD_WORKER_"),
    ),
  ),
});
let exitCode = 1;
try {
  await waitForHttp(`${base}/ready`, herald, 120_000);
  const session = await heraldSession(base);
  const accounts = await connectSandboxAccounts(session, ACCOUNTS);
  const sandbox = `${base}/sandbox`;
  if (FAULTS) {
    const faults = await fetch(`${sandbox}/admin/faults`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        errorRate: 0.2,
        rateLimitRate: 0.1,
        retryAfterSeconds: 1,
        timeoutAfterCreateRate: 0.05,
      }),
    });
    if (!faults.ok) throw new Error(`faults: ${faults.status} ${await faults.text()}`);
  }

  const api = `${base}/api/v1/workspaces/${session.workspaceId}`;
  const headers = { cookie: session.cookie, "content-type": "application/json" };
  const dueAt = new Date(Math.ceil((Date.now() + LEAD_MS) / 1000) * 1000);
  const postIds: string[] = [];
  let next = 0;
  const create = async () => {
    while (next < POSTS) {
      const index = next++;
      const response = await fetch(`${api}/posts`, {
        method: "POST",
        headers: { ...headers, "idempotency-key": `burst-${dueAt.getTime()}-${index}` },
        body: JSON.stringify({
          clientId: session.clientId,
          content: { text: `Burst post ${index} (${dueAt.toISOString()})` },
          targets: accounts.map((accountId) => ({ accountId })),
          publishAt: dueAt.toISOString(),
        }),
      });
      if (response.status !== 201)
        throw new Error(`create post: ${response.status} ${await response.text()}`);
      postIds.push(Post.parse(await response.json()).id);
    }
  };
  await Promise.all(Array.from({ length: 4 }, create));
  const createdBeforeDue = Date.now() < dueAt.getTime();

  const read = async (): Promise<Post[]> => {
    const posts: Post[] = [];
    for (let i = 0; i < postIds.length; i += 8) {
      const chunk = postIds.slice(i, i + 8);
      posts.push(
        ...(await Promise.all(
          chunk.map(async (id) => Post.parse(await (await fetch(`${api}/posts/${id}`, { headers })).json())),
        )),
      );
    }
    return posts;
  };
  // While the burst runs, only the Sandbox's ledger counts are polled (reading 200 posts a second
  // would load the very process being measured); the posts are read once the platform has them all.
  const deadline = dueAt.getTime() + 180_000;
  const expected = POSTS * ACCOUNTS;
  await sleep(Math.max(0, dueAt.getTime() - Date.now() - 500));
  const cpuBefore = await cpuSeconds(herald.pid ?? 0);
  for (;;) {
    const { counts } = z
      .object({ counts: z.record(z.string(), z.number()) })
      .parse(await (await fetch(`${sandbox}/admin/ledger?limit=1`)).json());
    if ((counts.created ?? 0) + (counts.timeout_after_create ?? 0) >= expected || Date.now() > deadline)
      break;
    await sleep(200);
  }
  const cpuAfter = await cpuSeconds(herald.pid ?? 0);
  let posts = await read();
  while (posts.some((post) => post.targets.some((t) => !FINAL.has(t.status))) && Date.now() < deadline) {
    await sleep(1000);
    posts = await read();
  }

  const targets = posts.flatMap((post) => post.targets);
  const statuses: Record<string, number> = {};
  for (const target of targets) statuses[target.status] = (statuses[target.status] ?? 0) + 1;
  const lateness = targets
    .flatMap((t) => t.attemptLog?.filter((a) => a.attempt === 1 && a.latenessMs !== null) ?? [])
    .map((a) => a.latenessMs as number)
    .sort((a, b) => a - b);
  // How long after the due second each target was on the platform (its attempt's start is the lateness).
  const publishedAfter = targets
    .filter((t) => t.publishedAt && t.publishAt)
    .map((t) => Date.parse(t.publishedAt as string) - Date.parse(t.publishAt as string))
    .sort((a, b) => a - b);
  const attempts = targets.reduce((sum, t) => sum + (t.attemptLog?.length ?? 0), 0);

  const ledger = await readLedger(sandbox);
  const creations = creationsByKey(ledger);
  let duplicates = 0;
  let notCreated = 0;
  for (const target of targets) {
    const created = creations.get(targetKey(target.id))?.length ?? 0;
    if (created > 1) duplicates += created - 1;
    if (created === 0) notCreated += 1;
  }
  const result = {
    faults: FAULTS,
    targets: targets.length,
    published: statuses.published ?? 0,
    statuses,
    attempts,
    ledgerCreates: [...creations.values()].reduce((sum, entries) => sum + entries.length, 0),
    duplicates,
    notCreated,
    latenessMs: {
      p50: percentile(lateness, 50),
      p99: percentile(lateness, 99),
      max: lateness.at(-1) ?? null,
    },
    publishedAfterMs: {
      p50: percentile(publishedAfter, 50),
      p99: percentile(publishedAfter, 99),
      max: publishedAfter.at(-1) ?? null,
    },
    // CPU spent from just before the due second until the platform had every post: a figure
    // that another load on the machine does not inflate the way it does times.
    cpuMsPerTarget: {
      herald: Math.round(((cpuAfter.herald - cpuBefore.herald) * 1000 * 100) / expected) / 100,
      postgres: Math.round(((cpuAfter.postgres - cpuBefore.postgres) * 1000 * 100) / expected) / 100,
    },
    createdBeforeDue,
    notPublished: targets
      .filter((t) => t.status !== "published")
      .map((t) => ({ id: t.id, status: t.status, error: t.error, attempts: t.attemptLog?.length })),
  };
  await writeResult(FAULTS ? "burst-faults" : "burst", {
    ...result,
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    ledgerCounts: ledger.counts,
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
  exitCode = result.published === expected && duplicates === 0 && notCreated === 0 ? 0 : 1;
} finally {
  herald.kill("SIGTERM");
  await exited(herald);
  await fs.rm(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
