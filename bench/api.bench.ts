/**
 * bench:api: throughput and p99 of an authenticated, RLS-scoped `GET /api/v1/workspaces/{id}/clients`
 * beside two references from the same run on the same machine, and the Herald server's peak RSS:
 * - a bare Fastify route serving the same bytes (the cost of HTTP alone);
 * - a bare Fastify route running Herald's SQL round trips on a plain pg pool (the database floor).
 *
 * Method: an embedded PostgreSQL in a temporary directory; Herald's compiled server (`dist/`) as a
 * child process, logging at info to /dev/null as in production; the references in other child
 * processes; autocannon in this process, 20 connections, 3 s warm-up then 10 s measured, each target
 * in turn. Aims (issue 2): >= 15% of the bare throughput, p99 < 50 ms, RSS < 250 MB.
 *
 * Observability overhead: the same route on a second Herald server with tracing on (OTLP/HTTP to a
 * sink in this process that accepts and discards), against the first (tracing off); and how long a
 * Prometheus scrape of /metrics takes.
 */
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { z } from "zod";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { createLogger } from "../src/observability/logger.js";
import { figure } from "./figures.js";
import { freePort, load, peakRssMiB, ROOT, startProcess, table, waitForHttp, writeResult } from "./lib.js";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = 20;

const log = createLogger("warn");
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-bench-"));
await fs.chmod(dataDir, 0o755);
const database = await startEmbeddedPostgres({ dataDir, port: 0, log });
const children: Array<ReturnType<typeof startProcess>> = [];

/** Starts a reference server (bench/bare-server.ts) and returns its URL. */
async function startReference(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const child = startProcess(["--import", "tsx", path.join(ROOT, "bench/bare-server.ts")], {
    ...env,
    PORT: String(port),
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}/`;
  await waitForHttp(url, child);
  return url;
}

async function pgQuery(url: string, sql: string): Promise<Record<string, unknown>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows[0] ?? {};
  } finally {
    await client.end();
  }
}

try {
  const heraldPort = await freePort();
  const herald = startProcess([path.join(ROOT, "dist/main.js"), "server"], {
    DATABASE_URL: database.url,
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

  const bare = await startReference({ MODE: "static", BARE_BODY: sample });
  const tokenRow = await pgQuery(database.url, "select token, user_id from sessions limit 1");
  const floor = await startReference({
    MODE: "database",
    DATABASE_URL: database.url,
    TOKEN: String(tokenRow.token),
    USER_ID: String(tokenRow.user_id),
    WORKSPACE_ID: workspace.id,
  });

  const measure = async (url: string, requestHeaders?: Record<string, string>) => {
    await load({ url, connections: CONNECTIONS, durationSeconds: 3, headers: requestHeaders });
    return load({ url, connections: CONNECTIONS, durationSeconds: SECONDS, headers: requestHeaders });
  };
  const reference = await measure(bare);
  const databaseFloor = await measure(floor);
  const heraldLoad = await measure(clientsUrl, { cookie });
  const rss = await peakRssMiB(herald.pid ?? 0);

  // The same route with tracing on: a second server on the same database, exporting to a sink.
  let spansReceived = 0;
  const sink = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      spansReceived += 1;
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  const sinkPort = await freePort();
  await new Promise<void>((resolve) => sink.listen(sinkPort, "127.0.0.1", resolve));
  const tracedPort = await freePort();
  const traced = startProcess([path.join(ROOT, "dist/main.js"), "server"], {
    DATABASE_URL: database.url,
    PORT: String(tracedPort),
    HERALD_DATA_DIR: dataDir,
    HERALD_RATE_LIMIT_PER_MINUTE: "100000000",
    LOG_LEVEL: "info",
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`,
  });
  children.push(traced);
  await waitForHttp(`http://127.0.0.1:${tracedPort}/ready`, traced);
  const tracedLoad = await measure(clientsUrl.replace(`:${heraldPort}/`, `:${tracedPort}/`), { cookie });
  sink.close();
  const scrapes: number[] = [];
  for (let i = 0; i < 50; i++) {
    const started = performance.now();
    await (await fetch(`${base}/metrics`)).text();
    scrapes.push(performance.now() - started);
  }
  scrapes.sort((a, b) => a - b);
  const scrapeMedianMs = Math.round((scrapes[25] ?? 0) * 10) / 10;

  const ratio = heraldLoad.requestsPerSecond / reference.requestsPerSecond;
  const row = (target: string, result: typeof reference) => ({
    target,
    "req/s": result.requestsPerSecond,
    "% of bare": `${((result.requestsPerSecond / reference.requestsPerSecond) * 100).toFixed(1)}%`,
    "p50 ms": result.p50Ms,
    "p99 ms": result.p99Ms,
    errors: result.errors + result.non2xx,
  });
  const rows = [
    row("bare Fastify route, same bytes (reference)", reference),
    row("bare Fastify + pg, Herald's 4 round trips (database floor)", databaseFloor),
    row(`Herald GET clients (session, RLS, ${CLIENTS} rows)`, heraldLoad),
    row("the same, tracing on (OTLP to a local sink)", tracedLoad),
  ];
  const summary = {
    benchmark: "api",
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    connections: CONNECTIONS,
    seconds: SECONDS,
    reference,
    databaseFloor,
    herald: heraldLoad,
    traced: { ...tracedLoad, exportRequests: spansReceived },
    metricsScrapeMedianMs: scrapeMedianMs,
    figures: [
      figure("Herald GET clients", heraldLoad.requestsPerSecond, "req/s", {
        name: "bare Fastify route",
        value: reference.requestsPerSecond,
      }),
      figure("Herald GET clients", heraldLoad.requestsPerSecond, "req/s", {
        name: "Fastify + pg, same round trips",
        value: databaseFloor.requestsPerSecond,
      }),
      figure("Herald GET clients, tracing on", tracedLoad.requestsPerSecond, "req/s", {
        name: "the same, tracing off",
        value: heraldLoad.requestsPerSecond,
      }),
      figure("Herald GET clients p99", heraldLoad.p99Ms, "ms"),
      figure("server peak RSS", rss, "MiB"),
      figure("/metrics scrape, median", scrapeMedianMs, "ms"),
    ],
    ratioToDatabaseFloor:
      Math.round((heraldLoad.requestsPerSecond / databaseFloor.requestsPerSecond) * 1000) / 1000,
    ratio: Math.round(ratio * 1000) / 1000,
    serverPeakRssMiB: rss,
    aims: { ratioAtLeast: 0.15, p99BelowMs: 50, rssBelowMiB: 250 },
    met: { ratio: ratio >= 0.15, p99: heraldLoad.p99Ms < 50, rss: rss < 250 },
  };
  const file = await writeResult("api", summary);
  process.stdout.write(`${table(rows)}\n\n`);
  process.stdout.write(
    `ratio to reference: ${(ratio * 100).toFixed(1)}% (aim >= 15%; the database floor alone is ` +
      `${((databaseFloor.requestsPerSecond / reference.requestsPerSecond) * 100).toFixed(1)}%)   ` +
      `Herald p99: ${heraldLoad.p99Ms} ms (aim < 50)   ` +
      `server peak RSS: ${rss} MiB (aim < 250)\n` +
      `tracing on: ${((tracedLoad.requestsPerSecond / heraldLoad.requestsPerSecond) * 100).toFixed(1)}% of the ` +
      `untraced throughput (${spansReceived} OTLP export requests)   /metrics scrape median: ${scrapeMedianMs} ms\n` +
      `results: ${path.relative(ROOT, file)}\n`,
  );
} finally {
  for (const child of children) child.kill("SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await database.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
