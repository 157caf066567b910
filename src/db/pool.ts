/**
 * Connection pools. Requests and jobs use pools whose sessions run as `herald_app` (no ownership,
 * no BYPASSRLS), set as a startup parameter so that no query can ever run before the role is in
 * place. The owner role from DATABASE_URL is used only by the migrator.
 */
import pg from "pg";
import { parseIntoClientConfig } from "pg-connection-string";
import type { Logger } from "../observability/logger.js";

export const APP_ROLE = "herald_app";

export type PoolOptions = {
  max: number;
  applicationName: string;
  /** Milliseconds; a runaway query is cancelled rather than holding locks forever. */
  statementTimeoutMs?: number;
  /**
   * Milliseconds a query may wait for its answer on the client side, for pools whose queries are
   * all short (the worker's): a connection that died without a word would otherwise leave a query,
   * and the publish batch waiting on it (src/publishing/batcher.ts), waiting forever. Not for the
   * server's pool, whose audit exports stream one cursor for minutes.
   */
  queryTimeoutMs?: number;
  log: Logger;
};

export function createAppPool(databaseUrl: string, options: PoolOptions): pg.Pool {
  const config = parseIntoClientConfig(databaseUrl);
  const startup = [
    `-c role=${APP_ROLE}`,
    `-c statement_timeout=${options.statementTimeoutMs ?? 30_000}`,
    "-c idle_in_transaction_session_timeout=60000",
  ];
  const pool = new pg.Pool({
    ...config,
    // Options from the URL are kept, ours come last and win.
    options: [config.options, ...startup].filter(Boolean).join(" "),
    application_name: options.applicationName,
    max: options.max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    // TCP keepalives notice a peer that died without a word.
    keepAlive: true,
    query_timeout: options.queryTimeoutMs,
  });
  // An idle client that loses its connection (database restart) emits 'error' on the pool; without
  // a listener that would crash the process. The pool replaces the client on next use.
  pool.on("error", (error) => options.log.warn({ err: error }, "idle database connection lost"));
  pool.on("connect", (client) => {
    client.on("error", (error) => options.log.warn({ err: error }, "database connection lost"));
  });
  return pool;
}

/** A client for one owner-role task (migrations, maintenance). */
export function createOwnerClient(databaseUrl: string): pg.Client {
  return new pg.Client({ ...parseIntoClientConfig(databaseUrl), application_name: "herald-migrate" });
}
