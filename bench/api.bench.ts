/**
 * bench:api: throughput and p99 of an authenticated, RLS-scoped `GET /api/v1/workspaces/{id}/clients`
 * beside a bare Fastify route serving the same bytes, from one run on the same machine, and the
 * Herald server's peak RSS.
 *
 * Method: an embedded PostgreSQL in a temporary directory; Herald's compiled server (`dist/`) as a
 * child process, logging at info to /dev/null as in production; the bare route in another child
 * process; autocannon in this process, 20 connections, 3 s warm-up then 10 s measured, each target
 * in turn. Aims (issue 2): >= 15% of the bare throughput, p99 < 50 ms, RSS < 250 MB.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { createLogger } from "../src/observability/logger.js";
import { freePort, load, peakRssMiB, ROOT, startProcess, table, waitForHttp, writeResult } from "./lib.js";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = 20;

const log = createLogger("warn");
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-bench-"));
await fs.chmod(dataDir, 0o755);
const pg = await startEmbeddedPostgres({ dataDir, port: 0, log });
const children: Array<ReturnType<typeof startProcess>> = [];

try {
  const heraldPort = await freePort();
  const herald = startProcess([path.join(ROOT, "dist/main.js"), "server"], {
    DATABASE_URL: pg.url,
    PORT: String(heraldPort),
    HERALD_DATA_DIR: dataDir,
    HERALD_RATE_LIMIT_PER_MINUTE: "100000000",
    LOG_LEVEL: "info",
  });
  children.push(herald);
  const base = `http://127.0.0.1:${heraldPort}`;
  await waitForHttp(`${base}/ready`, herald);

  // A person, a workspace and its clients.
  const signUp = await fetch(`${base}/api/v1/auth/sign-up`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "Bench", email: "bench@example.com", password: "benchmark password" }),
  });
  const cookie = (signUp.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
  const headers = { cookie, "content-type": "application/json" };
  const created = await fetch(`${base}/api/v1/workspaces`, {
    method: "POST",
    headers,
    body: JSON.stringify({ name: "Bench" }),
  });
  const workspace = z.object({ id: z.uuid() }).parse(await created.json());
  for (let i = 0; i < CLIENTS; i++) {
    await fetch(`${base}/api/v1/workspaces/${workspace.id}/clients`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        name: `Client ${i}`,
        timezone: "Europe/Paris",
        postingTimes: [{ weekday: 1, time: "09:00" }],
      }),
    });
  }
  const clientsUrl = `${base}/api/v1/workspaces/${workspace.id}/clients`;
  const sample = await (await fetch(clientsUrl, { headers: { cookie } })).text();

  const barePort = await freePort();
  const bare = startProcess(["--import", "tsx", path.join(ROOT, "bench/bare-server.ts")], {
    PORT: String(barePort),
    BARE_BODY: sample,
  });
  children.push(bare);
  await waitForHttp(`http://127.0.0.1:${barePort}/`, bare);

  const measure = async (url: string, requestHeaders?: Record<string, string>) => {
    await load({ url, connections: CONNECTIONS, durationSeconds: 3, headers: requestHeaders });
    return load({ url, connections: CONNECTIONS, durationSeconds: SECONDS, headers: requestHeaders });
  };
  const reference = await measure(`http://127.0.0.1:${barePort}/`);
  const heraldLoad = await measure(clientsUrl, { cookie });
  const rss = await peakRssMiB(herald.pid ?? 0);

  const ratio = heraldLoad.requestsPerSecond / reference.requestsPerSecond;
  const rows = [
    {
      target: "bare Fastify route (reference)",
      "req/s": reference.requestsPerSecond,
      "p50 ms": reference.p50Ms,
      "p99 ms": reference.p99Ms,
      errors: reference.errors + reference.non2xx,
    },
    {
      target: `GET clients (session, RLS, ${CLIENTS} rows)`,
      "req/s": heraldLoad.requestsPerSecond,
      "p50 ms": heraldLoad.p50Ms,
      "p99 ms": heraldLoad.p99Ms,
      errors: heraldLoad.errors + heraldLoad.non2xx,
    },
  ];
  const summary = {
    benchmark: "api",
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    connections: CONNECTIONS,
    seconds: SECONDS,
    reference,
    herald: heraldLoad,
    ratio: Math.round(ratio * 1000) / 1000,
    serverPeakRssMiB: rss,
    aims: { ratioAtLeast: 0.15, p99BelowMs: 50, rssBelowMiB: 250 },
    met: { ratio: ratio >= 0.15, p99: heraldLoad.p99Ms < 50, rss: rss < 250 },
  };
  const file = await writeResult("api", summary);
  process.stdout.write(`${table(rows)}\n\n`);
  process.stdout.write(
    `ratio to reference: ${(ratio * 100).toFixed(1)}% (aim >= 15%)   Herald p99: ${heraldLoad.p99Ms} ms (aim < 50)   ` +
      `server peak RSS: ${rss} MiB (aim < 250)\nresults: ${path.relative(ROOT, file)}\n`,
  );
} finally {
  for (const child of children) child.kill("SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await pg.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
