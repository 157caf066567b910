/** Shared pieces of the benchmarks: processes, ports, readiness, peak memory, result files. */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { z } from "zod";

export const ROOT = path.resolve(import.meta.dirname, "..");

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The p-th percentile (nearest rank) of numbers sorted ascending; NaN when there are none. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * A node child process in the project's root. Its stdout (Herald's JSON log) is dropped, or
 * appended with its stderr to `logFile`; without one, stderr is the caller's.
 */
export function startProcess(
  args: string[],
  env: Record<string, string>,
  options: { logFile?: string } = {},
): ChildProcess {
  const log = options.logFile ? openSync(options.logFile, "a") : undefined;
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", log ?? "ignore", log ?? "inherit"],
  });
  if (log !== undefined) closeSync(log);
  return child;
}

/** Waits until a child process has exited (at once if it already has). */
export async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => child.once("exit", resolve));
}

/**
 * The Sandbox network as its own process (`herald sandbox`, state in memory): a Herald killed or
 * restarted cannot take the platform's ledger with it. Herald reaches it with `HERALD_SANDBOX=off`
 * and `HERALD_SANDBOX_URL` (see `sandboxEnv`).
 */
export async function startSandbox(options: { logFile?: string } = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = startProcess(
    [path.join(ROOT, "dist/main.js"), "sandbox", "--port", String(port)],
    { LOG_LEVEL: "warn" },
    options,
  );
  await waitForHttp(`${url}/admin/faults`, child);
  return { url, child, env: { HERALD_SANDBOX: "off", HERALD_SANDBOX_URL: url } };
}

const LedgerSchema = z.object({
  entries: z.array(
    z.object({
      at: z.string(),
      accountId: z.string().nullable(),
      idempotencyKey: z.string().nullable(),
      outcome: z.string(),
      postId: z.string().nullable(),
    }),
  ),
  counts: z.record(z.string(), z.number()),
});
export type Ledger = z.infer<typeof LedgerSchema>;
export type LedgerEntry = Ledger["entries"][number];

const LEDGER_LIMIT = 100_000;

/** Every create call the Sandbox at `sandboxUrl` saw (its admin API), newest first. */
export async function readLedger(sandboxUrl: string): Promise<Ledger> {
  const response = await fetch(`${sandboxUrl}/admin/ledger?limit=${LEDGER_LIMIT}`);
  if (!response.ok) throw new Error(`ledger: ${response.status} ${await response.text()}`);
  const ledger = LedgerSchema.parse(await response.json());
  if (ledger.entries.length >= LEDGER_LIMIT)
    throw new Error(`the ledger has more than ${LEDGER_LIMIT} entries`);
  return ledger;
}

/**
 * The ledger's creations by idempotency key: `created`, and `timeout_after_create` (created, the
 * answer withheld). `deduped` is a replay the platform caught, not a creation.
 */
export function creationsByKey(ledger: Ledger): Map<string, LedgerEntry[]> {
  const creations = new Map<string, LedgerEntry[]>();
  for (const entry of ledger.entries) {
    if (!entry.idempotencyKey || !["created", "timeout_after_create"].includes(entry.outcome)) continue;
    creations.set(entry.idempotencyKey, [...(creations.get(entry.idempotencyKey) ?? []), entry]);
  }
  return creations;
}

/** The key Herald sends with every attempt of a target (src/publishing/delivery.ts). */
export const targetKey = (targetId: string) => `herald-target-${targetId}`;

/** Runs `fn` on a fresh connection to `url` (the database owner: RLS does not apply). */
export async function withDatabase<T>(url: string, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: url });
  // A connection the server cuts (a restart) also fails the query running on it; without a
  // listener, the client's error event would end the process.
  db.on("error", () => {});
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

export async function waitForHttp(url: string, child: ChildProcess, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before ${url} answered`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** Peak resident set size of a process so far, in MiB (Linux: VmHWM). */
export async function peakRssMiB(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
  return Math.round(kib / 1024);
}

export type Load = {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
};

export async function load(options: {
  url: string;
  connections: number;
  durationSeconds: number;
  headers?: Record<string, string>;
}): Promise<Load> {
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    headers: options.headers,
  });
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export async function writeResult(name: string, result: unknown): Promise<string> {
  const dir = path.join(ROOT, "bench/results");
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}-${new Date().toISOString().replaceAll(":", "-")}.json`);
  await fs.writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

export function table(rows: Array<Record<string, string | number>>): string {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ");
  return [
    line(columns),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map((r) => line(columns.map((c) => String(r[c])))),
  ].join("\n");
}

/**
 * Driving a running Herald over HTTP as a person would (bench:publish, check:kill): sign up, a
 * workspace and a client, Sandbox accounts connected through the real OAuth flow, posts.
 */
export type HeraldSession = { base: string; cookie: string; workspaceId: string; clientId: string };

async function expectJson(response: Response, status: number, what: string): Promise<unknown> {
  if (response.status !== status) {
    throw new Error(`${what}: ${response.status} ${await response.text()}`);
  }
  return response.json();
}

/** A person (session cookie), their workspace and one client. */
export async function heraldSession(base: string, email = "bench@example.com"): Promise<HeraldSession> {
  const signUp = await fetch(`${base}/api/v1/auth/sign-up`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "Bench", email, password: "benchmark password" }),
  });
  if (!signUp.ok) throw new Error(`sign-up: ${signUp.status} ${await signUp.text()}`);
  const cookie = (signUp.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
  const headers = { cookie, "content-type": "application/json" };
  const workspace = Id.parse(
    await expectJson(
      await fetch(`${base}/api/v1/workspaces`, {
        method: "POST",
        headers,
        body: JSON.stringify({ name: "Bench" }),
      }),
      201,
      "create workspace",
    ),
  );
  const client = Id.parse(
    await expectJson(
      await fetch(`${base}/api/v1/workspaces/${workspace.id}/clients`, {
        method: "POST",
        headers,
        body: JSON.stringify({ name: "Bench client", timezone: "UTC" }),
      }),
      201,
      "create client",
    ),
  );
  return { base, cookie, workspaceId: workspace.id, clientId: client.id };
}

const Id = z.object({ id: z.uuid() });

/**
 * Connects `count` Sandbox accounts: authorize, the Sandbox's consent with `auto_approve=1` (at most
 * 20 accounts a consent, so one Sandbox user per 20), Herald's callback with the session cookie,
 * then the pending selection confirmed for the client. Returns Herald's account ids.
 */
export async function connectSandboxAccounts(session: HeraldSession, count: number): Promise<string[]> {
  const { base, cookie, workspaceId, clientId } = session;
  const api = `${base}/api/v1/workspaces/${workspaceId}`;
  const headers = { cookie, "content-type": "application/json" };
  const ids: string[] = [];
  for (let user = 0; ids.length < count; user++) {
    const names = Array.from({ length: Math.min(20, count - ids.length) }, (_, i) => `Account ${i + 1}`);
    const { authorizationUrl } = z.object({ authorizationUrl: z.url() }).parse(
      await expectJson(
        await fetch(`${api}/connections/sandbox/authorize`, {
          method: "POST",
          headers,
          body: JSON.stringify({ clientIds: [clientId] }),
        }),
        201,
        "authorize",
      ),
    );
    const consent = new URL(authorizationUrl);
    consent.searchParams.set("auto_approve", "1");
    consent.searchParams.set("sandbox_user", `bench-user-${user}`);
    consent.searchParams.set("sandbox_accounts", names.join(","));
    const approved = await fetch(consent, { redirect: "manual" });
    const location = approved.headers.get("location");
    if (approved.status !== 302 || !location) {
      throw new Error(`the Sandbox consent did not redirect: ${approved.status} ${await approved.text()}`);
    }
    const page = await (await fetch(new URL(location, consent), { headers: { cookie } })).text();
    const data = /<script type="application\/json" id="herald-oauth-result">([^<]*)<\/script>/.exec(
      page,
    )?.[1];
    const { message } = z
      .object({ message: z.object({ ok: z.literal(true), pendingId: z.string() }) })
      .parse(JSON.parse(data ?? "null"));
    const pending = z
      .object({ accounts: z.array(z.object({ platformAccountId: z.string() })) })
      .parse(
        await expectJson(
          await fetch(`${api}/connections/pending/${message.pendingId}`, { headers }),
          200,
          "pending",
        ),
      );
    const confirmed = z.object({ accounts: z.array(Id) }).parse(
      await expectJson(
        await fetch(`${api}/connections/pending/${message.pendingId}/confirm`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            platformAccountIds: pending.accounts.map((account) => account.platformAccountId),
            clientIds: [clientId],
          }),
        }),
        200,
        "confirm",
      ),
    );
    ids.push(...confirmed.accounts.map((account) => account.id));
  }
  return ids.slice(0, count);
}

/**
 * Creates posts through the API until `targets` targets exist, each post with one target per
 * account (at most 50), all due at `publishAt`; `parallel` requests in flight. Returns the post ids.
 */
export async function createScheduledTargets(
  session: HeraldSession,
  accountIds: string[],
  targets: number,
  publishAt: Date,
  parallel = 4,
): Promise<string[]> {
  const perPost = Math.min(50, accountIds.length);
  const sizes: number[] = [];
  for (let left = targets; left > 0; left -= perPost) sizes.push(Math.min(perPost, left));
  const postIds: string[] = [];
  let next = 0;
  const send = async () => {
    while (next < sizes.length) {
      const index = next++;
      const size = sizes[index] ?? 0;
      const response = await fetch(`${session.base}/api/v1/workspaces/${session.workspaceId}/posts`, {
        method: "POST",
        headers: { cookie: session.cookie, "content-type": "application/json" },
        body: JSON.stringify({
          clientId: session.clientId,
          content: { text: `Bench post ${index} (${publishAt.toISOString()})` },
          targets: accountIds.slice(0, size).map((accountId) => ({ accountId })),
          publishAt: publishAt.toISOString(),
        }),
      });
      postIds.push(Id.parse(await expectJson(response, 201, "create post")).id);
    }
  };
  await Promise.all(Array.from({ length: parallel }, send));
  return postIds;
}

/** Targets of a workspace by status, read as the database owner (RLS does not apply). */
export async function targetCounts(ownerUrl: string, workspaceId: string): Promise<Record<string, number>> {
  const { rows } = await withDatabase(ownerUrl, (db) =>
    db.query<{ status: string; n: number }>(
      "select status, count(*)::int as n from post_targets where workspace_id = $1 group by status",
      [workspaceId],
    ),
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

/** Final target states: nothing more will happen to the target without a person. */
export const FINAL_STATES: readonly string[] = ["published", "failed", "unconfirmed", "cancelled"];

/** A fixed encryption key and auth secret, so that every process of a run shares them. */
export function benchSecrets(): Record<string, string> {
  return {
    HERALD_AUTH_SECRET: randomBytes(32).toString("hex"),
    HERALD_ENCRYPTION_KEYS: `bench:${randomBytes(32).toString("base64")}`,
  };
}
