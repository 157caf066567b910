/**
 * Prometheus metrics (docs/OBSERVABILITY.md lists every one with its labels).
 *
 * One registry per process, created when this module loads (`metrics` below), never prom-client's
 * global default registry: the server, the worker and the code they call (delivery, credentials)
 * import the same object instead of threading it through every dependency list. In tests each test
 * file is its own module instance, so counters there only ever grow; tests compare before and after.
 *
 * Queue depth, queue wait and live workers are read at scrape time, with one query on
 * graphile-worker's table and the heartbeats, from the pool of whichever role is running
 * (`watchQueue`): a scrape costs one cheap round trip, nothing is polled in between.
 *
 * Labels stay bounded: platforms come from the provider registry, codes are Herald's stable error
 * codes (`HERALD_*`), routes are Fastify's route patterns (never raw URLs), "unmatched" otherwise.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyPluginAsync } from "fastify";
import type pg from "pg";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { AuthenticationError } from "../errors.js";
import { toProblem } from "../http/problem.js";
import type { Logger } from "./logger.js";

/** A worker whose heartbeat is older than this is not counted as live (heartbeats come every 10 s). */
export const WORKER_LIVE_SECONDS = 30;

export type PublishAttemptOutcome = "published" | "already_published" | "retry" | "failed" | "unconfirmed";

const QUEUE_STATES = ["waiting", "scheduled", "locked", "failed"] as const;

type QueueSnapshot = {
  waiting: number;
  scheduled: number;
  locked: number;
  failed: number;
  waitSeconds: number;
  workersLive: number;
};

// graphile-worker 0.17: a job is locked while a worker runs it; `attempts >= max_attempts` means it
// failed for good (it stays in the table until someone deletes it). Herald's publish retries are its
// own (new jobs), so failed jobs here are bugs or exhausted webhook/maintenance jobs.
const QUEUE_SQL = `
  select
    count(*) filter (where locked_at is null and attempts < max_attempts and run_at <= now())::int as waiting,
    count(*) filter (where locked_at is null and attempts < max_attempts and run_at > now())::int as scheduled,
    count(*) filter (where locked_at is not null)::int as locked,
    count(*) filter (where locked_at is null and attempts >= max_attempts)::int as failed,
    coalesce(extract(epoch from now() - min(run_at) filter (
      where locked_at is null and attempts < max_attempts and run_at <= now())), 0)::float8 as wait_seconds,
    (select count(*) from worker_heartbeats
      where stopped_at is null and last_seen_at > now() - $1 * interval '1 second')::int as workers_live
  from graphile_worker._private_jobs`;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "herald_" });

  const publishAttempts = new Counter({
    name: "herald_publish_attempts_total",
    help: "Publish attempts by platform, outcome and error code (empty when none).",
    labelNames: ["platform", "outcome", "code"] as const,
    registers: [registry],
  });
  const publishLatency = new Histogram({
    name: "herald_publish_latency_seconds",
    help: "Duration of a publish attempt's platform calls.",
    labelNames: ["platform"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const publishLateness = new Histogram({
    name: "herald_publish_lateness_seconds",
    help: "How long after its due time a publish attempt started.",
    labelNames: ["platform"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const publishRetries = new Counter({
    name: "herald_publish_retries_total",
    help: "Publish attempts that ended in a scheduled retry.",
    labelNames: ["platform"] as const,
    registers: [registry],
  });
  const tokenRefreshes = new Counter({
    name: "herald_token_refreshes_total",
    help: "Token refreshes by platform and outcome (refreshed, failed, fresh: another caller had refreshed).",
    labelNames: ["platform", "outcome"] as const,
    registers: [registry],
  });
  const runnerRestarts = new Counter({
    name: "herald_worker_runner_restarts_total",
    help: "Times this worker's job runner stopped on its own (e.g. the database went away) and was started again.",
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "herald_http_request_duration_seconds",
    help: "HTTP request duration by method, route pattern and status.",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  // The queue gauges share one query per scrape: prom-client collects all metrics concurrently, so
  // the first collect starts it and the others join it.
  const sources: pg.Pool[] = [];
  let inFlight: Promise<QueueSnapshot | null> | null = null;
  const snapshot = () => {
    inFlight ??= readQueue(sources.at(-1)).finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
  const queueJobs = new Gauge({
    name: "herald_queue_jobs",
    help: "graphile-worker jobs by state: waiting (due), scheduled (run_at ahead), locked (running), failed (permanently).",
    labelNames: ["state"] as const,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      if (s) for (const state of QUEUE_STATES) this.set({ state }, s[state]);
    },
  });
  const queueWait = new Gauge({
    name: "herald_queue_wait_seconds",
    help: "Age of the oldest due job that no worker has taken yet (0 when none).",
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      if (s) this.set(s.waitSeconds);
    },
  });
  const workersLive = new Gauge({
    name: "herald_workers_live",
    help: `Worker processes whose heartbeat is under ${WORKER_LIVE_SECONDS} s old.`,
    registers: [registry],
    async collect() {
      const s = await snapshot();
      this.reset();
      if (s) this.set(s.workersLive);
    },
  });
  void queueJobs;
  void queueWait;
  void workersLive;

  return {
    registry,
    /** Called once per publish attempt, when it finishes. */
    publishAttempt(attempt: {
      platform: string;
      outcome: PublishAttemptOutcome;
      code: string | null | undefined;
      latencyMs: number;
      latenessMs: number | null | undefined;
    }) {
      const { platform, outcome } = attempt;
      publishAttempts.inc({ platform, outcome, code: attempt.code ?? "" });
      publishLatency.observe({ platform }, attempt.latencyMs / 1000);
      if (attempt.latenessMs !== null && attempt.latenessMs !== undefined)
        publishLateness.observe({ platform }, Math.max(0, attempt.latenessMs) / 1000);
      if (outcome === "retry") publishRetries.inc({ platform });
    },
    tokenRefresh(platform: string, outcome: "refreshed" | "failed" | "fresh") {
      tokenRefreshes.inc({ platform, outcome });
    },
    runnerRestarted() {
      runnerRestarts.inc();
    },
    httpRequest(method: string, route: string | undefined, status: number, seconds: number) {
      httpDuration.observe({ method, route: route ?? "unmatched", status: String(status) }, seconds);
    },
    /** Reads queue gauges from this pool until the returned function is called. */
    watchQueue(pool: pg.Pool): () => void {
      sources.push(pool);
      return () => {
        const index = sources.lastIndexOf(pool);
        if (index >= 0) sources.splice(index, 1);
      };
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** This process's metrics. */
export const metrics: Metrics = createMetrics();

async function readQueue(pool: pg.Pool | undefined): Promise<QueueSnapshot | null> {
  if (!pool) return null;
  try {
    const { rows } = await pool.query<{
      waiting: number;
      scheduled: number;
      locked: number;
      failed: number;
      wait_seconds: number;
      workers_live: number;
    }>(QUEUE_SQL, [WORKER_LIVE_SECONDS]);
    const row = rows[0];
    if (!row) return null;
    return {
      waiting: row.waiting,
      scheduled: row.scheduled,
      locked: row.locked,
      failed: row.failed,
      waitSeconds: row.wait_seconds,
      workersLive: row.workers_live,
    };
  } catch {
    // A scrape must not fail because the database is away: the queue gauges are left out, and
    // /ready and the health endpoint say why.
    return null;
  }
}

/** Constant-time check of `Authorization: Bearer <token>`; true when no token is configured. */
export function metricsAuthorized(header: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const match = /^Bearer (.+)$/i.exec(header ?? "");
  if (!match?.[1]) return false;
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(match[1]), digest(token));
}

const UNAUTHORIZED_DETAIL = "Send the metrics token as `Authorization: Bearer <token>`.";

/** `GET /metrics` on the HTTP app, outside /api/v1 (no session or API key), not rate-limited. */
export function metricsRoutes(options: {
  token: string | undefined;
  registry?: Registry;
}): FastifyPluginAsync {
  const registry = options.registry ?? metrics.registry;
  return async (app) => {
    app.get(
      "/metrics",
      {
        config: { rateLimit: false },
        schema: { hide: true },
      },
      async (request, reply) => {
        if (!metricsAuthorized(request.headers.authorization, options.token)) {
          throw new AuthenticationError(UNAUTHORIZED_DETAIL);
        }
        const text = await registry.metrics();
        return reply
          .header("content-type", registry.contentType)
          .header("cache-control", "no-store")
          .send(text);
      },
    );
  };
}

export type MetricsServer = { url: string; close(): Promise<void> };

/**
 * A worker process's own `/metrics` (HERALD_METRICS_PORT), for `herald worker` run apart from the
 * server; `herald start` serves one registry from the HTTP app instead.
 */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  token: string | undefined;
  log: Logger;
  registry?: Registry;
}): Promise<MetricsServer> {
  const registry = options.registry ?? metrics.registry;
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://metrics");
    if (url.pathname !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "content-type": "text/plain" }).end("Not found\n");
      return;
    }
    if (!metricsAuthorized(request.headers.authorization, options.token)) {
      const problem = toProblem(new AuthenticationError(UNAUTHORIZED_DETAIL), randomUUID());
      response
        .writeHead(401, { "content-type": "application/problem+json", "www-authenticate": "Bearer" })
        .end(JSON.stringify(problem));
      return;
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { "content-type": registry.contentType, "cache-control": "no-store" });
        response.end(request.method === "HEAD" ? undefined : text);
      },
      (error: unknown) => {
        options.log.error({ err: error }, "metrics scrape failed");
        response.writeHead(500, { "content-type": "text/plain" }).end("Metrics unavailable\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  options.log.info({ port: address.port }, "worker metrics listening");
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
