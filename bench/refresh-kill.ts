/**
 * check:refresh-kill: what a worker killed in the middle of a token refresh costs (docs/RELIABILITY.md,
 * docs/CONNECTIONS.md).
 *
 * The Sandbox rotates refresh tokens and, as OAuth's security best practice allows platforms to,
 * revokes the whole grant when a rotated refresh token is used again. A process killed after the
 * platform rotated the tokens and before its answer arrived leaves the platform with tokens Herald
 * never saw: no client can store an answer it did not receive. (The database going away after the
 * answer arrived is a different case, and Herald stores the tokens when it is back: tested in
 * test/connections.test.ts.)
 *
 * Setup: `herald start` on a PostgreSQL of its own, the Sandbox as a separate process, and between
 * them a small proxy that delays the Sandbox's answers to refresh-token grants by 3 s (the rotation
 * is done; only the answer is late). One account, its access token expired, one post due now: the
 * attempt gets a 401, Herald refreshes, and Herald is killed with SIGKILL while the answer is held.
 * Herald is started again and the target resumed.
 *
 * Prints one JSON line with the target's final state and the account's status. Passes when Herald
 * handles the lost grant as documented: the target reaches a final state without being published
 * twice, and either it is published with the account active (the kill missed the rotation), or the
 * account is marked `needs_reconnection` with the platform's reason and the target ends with
 * HERALD_ACCOUNT_UNAVAILABLE, so a person is told to reconnect. Exit 1 otherwise.
 */

import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { createLogger } from "../src/observability/logger.js";
import {
  benchSecrets,
  connectSandboxAccounts,
  exited,
  FINAL_STATES,
  freePort,
  heraldSession,
  ROOT,
  sleep,
  startProcess,
  startSandbox,
  waitForHttp,
  withDatabase,
} from "./lib.js";

const HOLD_MS = 3000;
const log = createLogger("warn", "stderr");
const dir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-refresh-kill-"));
await fs.chmod(dir, 0o755);
const database = await startEmbeddedPostgres({ dataDir: path.join(dir, "db"), port: 0, log });
const children: Array<ReturnType<typeof startProcess>> = [];
let exitCode = 1;

/** Forwards everything to `upstream`; the answers to refresh-token grants are held HOLD_MS. */
async function startDelayingProxy(upstream: string, onRefreshAnswered: () => void) {
  const port = await freePort();
  const server = http.createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers = Object.fromEntries(
      Object.entries(request.headers).filter(
        (entry): entry is [string, string] => typeof entry[1] === "string" && entry[0] !== "host",
      ),
    );
    const answer = await fetch(`${upstream}${request.url}`, {
      method: request.method,
      headers,
      body: body.length > 0 ? body : null,
      redirect: "manual",
    });
    const text = Buffer.from(await answer.arrayBuffer());
    if (request.url?.startsWith("/oauth/token") && body.toString().includes("grant_type=refresh_token")) {
      onRefreshAnswered();
      await sleep(HOLD_MS);
    }
    const kept = ["content-type", "location", "retry-after"].flatMap((name) => {
      const value = answer.headers.get(name);
      return value ? [[name, value] as [string, string]] : [];
    });
    response.writeHead(answer.status, Object.fromEntries(kept)).end(text);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

try {
  const sandbox = await startSandbox();
  children.push(sandbox.child);
  let herald: ReturnType<typeof startProcess> | undefined;
  let killedAt = 0;
  const proxy = await startDelayingProxy(sandbox.url, () => {
    if (killedAt || !herald) return;
    killedAt = Date.now();
    herald.kill("SIGKILL");
  });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: database.url,
    PORT: String(port),
    HERALD_PUBLIC_URL: base,
    HERALD_DATA_DIR: path.join(dir, "herald"),
    HERALD_SANDBOX: "off",
    HERALD_SANDBOX_URL: proxy.url,
    LOG_LEVEL: "info",
    ...benchSecrets(),
  };
  const startHerald = async () => {
    const child = startProcess([path.join(ROOT, "dist/main.js"), "start"], env, {
      logFile: path.join(dir, "herald.log"),
    });
    children.push(child);
    await waitForHttp(`${base}/ready`, child);
    return child;
  };
  herald = await startHerald();
  const session = await heraldSession(base);
  const [accountId] = await connectSandboxAccounts(session, 1);
  const { rows } = await withDatabase(database.url, (db) =>
    db.query<{ platform_account_id: string }>(
      "select platform_account_id from social_accounts where id = $1",
      [accountId],
    ),
  );
  const expired = await fetch(`${sandbox.url}/admin/faults`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ expireTokens: [rows[0]?.platform_account_id] }),
  });
  if (!expired.ok) throw new Error(`faults: ${expired.status}`);
  const created = await fetch(`${base}/api/v1/workspaces/${session.workspaceId}/posts`, {
    method: "POST",
    headers: { cookie: session.cookie, "content-type": "application/json" },
    body: JSON.stringify({
      clientId: session.clientId,
      content: { text: "Published across a refresh" },
      targets: [{ accountId }],
      publishNow: true,
    }),
  });
  if (created.status !== 201) throw new Error(`create post: ${created.status} ${await created.text()}`);

  for (let waited = 0; !killedAt && waited < 30_000; waited += 100) await sleep(100);
  if (!killedAt) throw new Error("Herald never refreshed the expired token");
  await exited(herald);
  herald = await startHerald();

  let target: { status: string; error_code: string | null; error_message: string | null } | undefined;
  for (let waited = 0; waited < 180_000; waited += 1000) {
    const found = await withDatabase(database.url, (db) =>
      db.query<NonNullable<typeof target>>(
        "select status, error_code, error_message from post_targets where workspace_id = $1",
        [session.workspaceId],
      ),
    );
    target = found.rows[0];
    if (target && FINAL_STATES.includes(target.status)) break;
    await sleep(1000);
  }
  const { rows: accounts } = await withDatabase(database.url, (db) =>
    db.query<{ status: string; status_reason: string | null }>(
      "select status, status_reason from social_accounts where id = $1",
      [accountId],
    ),
  );
  const account = accounts[0];
  const grantLost = account?.status === "needs_reconnection";
  const result = {
    grantLost,
    target: target?.status,
    error: target?.error_code ?? null,
    errorMessage: target?.error_message ?? null,
    account: account?.status,
    accountReason: account?.status_reason ?? null,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  const published = target?.status === "published" && account?.status === "active";
  const flagged =
    grantLost &&
    Boolean(account?.status_reason) &&
    target?.error_code === "HERALD_ACCOUNT_UNAVAILABLE" &&
    FINAL_STATES.includes(target.status);
  exitCode = published || flagged ? 0 : 1;
  proxy.close();
} finally {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  await Promise.race([Promise.all(children.map(exited)), sleep(15_000)]);
  await database.stop();
  await fs.rm(dir, { recursive: true, force: true });
}
process.exit(exitCode);
