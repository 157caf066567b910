/**
 * The one way to reach tenant data: `withWorkspace` opens a transaction on the application pool,
 * sets `herald.workspace_id` for row-level security (transaction-local, so it can never leak to the
 * next user of the connection) and hands the transaction to the callback. Repositories take that
 * `Tx` as their first argument and never open connections themselves.
 *
 * Commit on return, roll back on throw: one transaction per request, nothing half-written.
 */
import type pg from "pg";

/** A connection inside a transaction opened by `withWorkspace` or `withTransaction`. */
export type Tx = Pick<pg.PoolClient, "query">;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export async function withWorkspace<T>(
  pool: pg.Pool,
  workspaceId: string,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  return withWorkspaceLead(pool, workspaceId, undefined, (tx) => fn(tx));
}

/**
 * `withWorkspace`, plus one constant statement (`lead`, no parameters) sent in the same round trip
 * as BEGIN, whose rows `fn` receives: every request saves a round trip on its access check.
 */
export async function withWorkspaceLead<T>(
  pool: pg.Pool,
  workspaceId: string,
  lead: string | undefined,
  fn: (tx: Tx, leadRows: unknown[]) => Promise<T>,
): Promise<T> {
  if (!isUuid(workspaceId)) throw new TypeError("withWorkspace needs a workspace UUID");
  // The id is a validated UUID, so it can be inlined: BEGIN and the setting travel in one round trip.
  const begin = `begin; select set_config('herald.workspace_id', '${workspaceId}', true)${lead ? `; ${lead}` : ""}`;
  return transaction(pool, begin, fn);
}

/** A transaction with no workspace set: tenant tables show no rows. For global tables only. */
export async function withTransaction<T>(pool: pg.Pool, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return transaction(pool, "begin", (tx) => fn(tx));
}

async function transaction<T>(
  pool: pg.Pool,
  begin: string,
  fn: (tx: Tx, leadRows: unknown[]) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    // A multi-statement query answers with one result per statement; a lead's rows are the third.
    const results: pg.QueryResult | pg.QueryResult[] = await client.query(begin);
    const leadRows = Array.isArray(results) && results.length > 2 ? (results[2]?.rows ?? []) : [];
    try {
      const result = await fn(client, leadRows);
      await client.query("commit");
      return result;
    } catch (error) {
      await client.query("rollback").catch(() => {
        broken = true;
      });
      throw error;
    }
  } catch (error) {
    broken ||= isConnectionError(error);
    throw error;
  } finally {
    // A connection that failed mid-transaction is discarded rather than returned to the pool.
    client.release(broken);
  }
}

/** node-postgres's own messages for a connection that failed or could not be made. */
const CONNECTION_FAILED =
  /^(Connection terminated|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect|Query read timeout)/;

/**
 * The database is away rather than the statement wrong: a lost or refused connection, or a server
 * shutting down or starting up (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = "code" in error ? String(error.code) : "";
  if (code)
    return (
      /^08/.test(code) || ["57P01", "57P02", "57P03", "ECONNREFUSED", "ECONNRESET", "EPIPE"].includes(code)
    );
  return CONNECTION_FAILED.test(error.message);
}

/**
 * Runs `fn` again while the database is away (a restart, a failover), waiting 0.5 s, doubling up to
 * 5 s, for up to `withinMs`; any other error, or the last one, is thrown. Only for work that is safe
 * to repeat: a first try whose commit went through but whose answer was lost runs again.
 */
export async function retryWhileDatabaseAway<T>(
  fn: () => Promise<T>,
  options: { withinMs: number; onRetry: (error: unknown, delayMs: number) => void },
): Promise<T> {
  const deadline = Date.now() + options.withinMs;
  for (let delayMs = 500; ; delayMs = Math.min(delayMs * 2, 5000)) {
    try {
      return await fn();
    } catch (error) {
      if (!isConnectionError(error) || Date.now() + delayMs > deadline) throw error;
      options.onRetry(error, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
