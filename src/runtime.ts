/**
 * Boot and shutdown of the process roles: `start` (server + worker), `server`, `worker`, `migrate`.
 *
 * Boot: configuration → database (embedded when DATABASE_URL is unset) → migrations → roles.
 * Shutdown (SIGINT/SIGTERM): stop accepting requests and jobs, let in-flight ones finish, close the
 * pools, then stop the embedded database. A second signal, or the timeout, exits at once.
 */
import path from "node:path";
import type pg from "pg";
import { createAuth } from "./auth/auth.js";
import type { Config } from "./config.js";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "./db/embedded.js";
import { migrate } from "./db/migrate.js";
import { APP_ROLE, createAppPool, createOwnerClient } from "./db/pool.js";
import { buildApp } from "./http/app.js";
import type { Logger } from "./observability/logger.js";
import { startMetricsServer } from "./observability/metrics.js";
import { createRegistry } from "./providers/registry.js";
import { loadOrCreateAuthSecret } from "./secrets.js";
import { loadVault } from "./vault/keyring.js";
import { VERSION } from "./version.js";
import { startWorker } from "./worker/worker.js";

export type Role = "start" | "server" | "worker" | "migrate";

export type Stoppable = { name: string; stop: () => Promise<unknown> };

export async function runRole(
  role: Role,
  config: Config,
  log: Logger,
  /** Started before the role (tracing): stopped last, after everything that uses it. */
  before: Stoppable[] = [],
): Promise<void> {
  // Stopped in reverse order of start.
  const started: Stoppable[] = [...before];
  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    stopping ??= (async () => {
      log.info({ reason }, "shutting down");
      const timer = setTimeout(() => {
        log.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown took too long; exiting");
        process.exit(1);
      }, config.shutdownTimeoutMs);
      timer.unref();
      for (const part of started.reverse()) {
        try {
          await part.stop();
        } catch (error) {
          log.error({ err: error, part: part.name }, "error while stopping");
        }
      }
      clearTimeout(timer);
      log.info("stopped");
    })();
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    void shutdown(signal).then(() => process.exit(0));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  watchNpmParent(() => {
    void shutdown("npm, which started Herald, is gone").then(() => process.exit(0));
  });

  try {
    const databaseUrl = await openDatabase(config, log, started);
    await migrate(databaseUrl, log, { auditRetention: config.audit });
    if (role === "migrate") {
      log.info("migrations are up to date");
      await shutdown("migrations done");
      return;
    }

    const vault = await loadVault({ keys: config.encryptionKeys, dataDir: config.dataDir, log });
    const registry = createRegistry(config, log);

    if (role === "start" || role === "worker") {
      // Not one connection per job: publish jobs share batched transactions and hold none while a
      // platform answers, so a fixed pool serves any concurrency and many worker processes fit
      // within PostgreSQL's max_connections.
      const pool = await appPool(
        databaseUrl,
        config.dbPoolSize,
        "herald-worker",
        log,
        WORKER_QUERY_TIMEOUT_MS,
      );
      started.push({ name: "worker pool", stop: () => pool.end() });
      const worker = await startWorker({
        pool,
        concurrency: config.workerConcurrency,
        version: VERSION,
        log,
        vault,
        registry,
        config,
      });
      started.push({ name: "worker", stop: () => worker.stop() });
      // In `herald start` the HTTP app's /metrics serves the same registry.
      if (role === "worker" && config.metrics.workerPort !== undefined) {
        const server = await startMetricsServer({
          host: config.host,
          port: config.metrics.workerPort,
          token: config.metrics.token,
          log,
        });
        started.push({ name: "metrics server", stop: () => server.close() });
      }
    }

    if (role === "start" || role === "server") {
      const pool = await appPool(databaseUrl, config.dbPoolSize, "herald-server", log);
      started.push({ name: "server pool", stop: () => pool.end() });
      const authSecret = config.authSecret ?? (await loadOrCreateAuthSecret(config.dataDir, log));
      const auth = createAuth({ pool, secret: authSecret, publicUrl: config.publicUrl, log });
      const app = await buildApp({
        config,
        pool,
        auth,
        authSecret,
        log,
        vault,
        registry,
        sandboxStateFile: path.join(config.dataDir, "sandbox.json"),
      });
      await app.listen({ port: config.port, host: config.host });
      started.push({ name: "http server", stop: () => app.close() });
      log.info({ url: config.publicUrl.href, version: VERSION, role }, "Herald is ready");
    }
  } catch (error) {
    await shutdown("failed to start");
    throw error;
  }
}

async function openDatabase(config: Config, log: Logger, started: Stoppable[]): Promise<string> {
  if (config.databaseUrl) return config.databaseUrl;
  const embedded: EmbeddedPostgres = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPgPort,
    log,
  });
  if (embedded.owned) started.push({ name: "embedded PostgreSQL", stop: () => embedded.stop() });
  return embedded.url;
}

/** An application-role pool, checked: if the role were not in effect, RLS would not protect us. */
/** Past the statement timeout (30 s), a worker query still unanswered is on a dead connection. */
const WORKER_QUERY_TIMEOUT_MS = 45_000;

async function appPool(
  url: string,
  max: number,
  applicationName: string,
  log: Logger,
  queryTimeoutMs?: number,
): Promise<pg.Pool> {
  const pool = createAppPool(url, { max, applicationName, log, queryTimeoutMs });
  const { rows } = await pool.query<{ role: string }>("select current_user as role");
  if (rows[0]?.role !== APP_ROLE) {
    await pool.end();
    throw new Error(`Database sessions run as ${rows[0]?.role}, not ${APP_ROLE}; refusing to start.`);
  }
  return pool;
}

/**
 * Under `npm start`, npm is the parent (the script `exec`s node). If npm is killed with SIGKILL,
 * nothing tells Herald; it would keep the port and the database to itself, and the next
 * `npm start` would fail. So when started by npm, Herald stops when its parent changes.
 */
function watchNpmParent(onOrphaned: () => void) {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onOrphaned();
    }
  }, 500);
  timer.unref();
}

/**
 * Runs an operator task on the owner connection acting as herald_audit (the CLI's `audit`
 * commands), starting the embedded database for it when needed.
 */
export async function withAuditOwner<T>(
  config: Config,
  log: Logger,
  fn: (owner: pg.Client) => Promise<T>,
): Promise<T> {
  const started: Stoppable[] = [];
  try {
    const url = await openDatabase(config, log, started);
    await migrate(url, log, { auditRetention: config.audit });
    const owner = createOwnerClient(url);
    await owner.connect();
    try {
      await owner.query("set role herald_audit");
      return await fn(owner);
    } finally {
      await owner.end();
    }
  } finally {
    for (const part of started.reverse()) await part.stop();
  }
}

/** Runs an operator task with an application-role pool (the CLI's `keys` commands). */
export async function withAppDatabase<T>(
  config: Config,
  log: Logger,
  fn: (pool: pg.Pool) => Promise<T>,
): Promise<T> {
  const started: Stoppable[] = [];
  try {
    const url = await openDatabase(config, log, started);
    await migrate(url, log, { auditRetention: config.audit });
    const pool = await appPool(url, 4, "herald-cli", log);
    try {
      return await fn(pool);
    } finally {
      await pool.end();
    }
  } finally {
    for (const part of started.reverse()) await part.stop();
  }
}
