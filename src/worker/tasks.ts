/**
 * The jobs Herald runs, with their payload types, and the schedule of recurring ones.
 * Tasks are thin: they call services with a pool and a logger.
 */
import type { TaskList } from "graphile-worker";
import type pg from "pg";
import { sweepTokens } from "../accounts/token-sweep.js";
import { purgeExpiredThrottles } from "../auth/sign-in-throttle.js";
import type { Logger } from "../observability/logger.js";
import type { Registry } from "../providers/registry.js";
import { reencryptSecrets } from "../vault/rotation.js";
import type { Vault } from "../vault/vault.js";

declare global {
  namespace GraphileWorker {
    interface Tasks {
      maintenance: Record<string, never>;
      audit_retention: Record<string, never>;
      token_sweep: Record<string, never>;
      vault_rotate: Record<string, never>;
    }
  }
}

/** graphile-worker crontab: minute hour day month weekday task. */
export const CRONTAB = [
  "17 * * * * maintenance",
  "41 3 * * * audit_retention",
  "*/5 * * * * token_sweep",
  "23 4 * * * vault_rotate",
].join("\n");

export type TaskDeps = { pool: pg.Pool; log: Logger; vault: Vault; registry: Registry };

/** How long a stopped or silent worker's heartbeat row is kept (for monitoring history). */
const HEARTBEAT_RETENTION = "7 days";

export function createTaskList(deps: TaskDeps): TaskList {
  const { pool, log } = deps;
  return {
    /** Hourly housekeeping of global tables: expired sessions, throttle windows, old heartbeats. */
    maintenance: async () => {
      const sessions = await pool.query("delete from sessions where expires_at < now()");
      const verifications = await pool.query("delete from verifications where expires_at < now()");
      const throttles = await purgeExpiredThrottles(pool);
      const heartbeats = await pool.query(
        `delete from worker_heartbeats where last_seen_at < now() - interval '${HEARTBEAT_RETENTION}'`,
      );
      const connections = await pool.query<{ states: string; pending: string }>(
        "select * from herald_purge_connections()",
      );
      log.info(
        {
          sessions: sessions.rowCount,
          verifications: verifications.rowCount,
          throttles,
          heartbeats: heartbeats.rowCount,
          oauthStates: Number(connections.rows[0]?.states ?? 0),
          pendingConnections: Number(connections.rows[0]?.pending ?? 0),
        },
        "maintenance done",
      );
    },
    /**
     * Daily: audit partitions for the months ahead, then the retention policy (stored by
     * `herald migrate` from HERALD_AUDIT_ARCHIVE_AFTER and HERALD_AUDIT_PURGE_AFTER).
     */
    audit_retention: async () => {
      const partitions = await pool.query<{ created: number }>(
        "select herald_audit_ensure_partitions(3) as created",
      );
      const retention = await pool.query<{ archived: number; purged: number }>(
        "select * from herald_audit_retention()",
      );
      log.info(
        { partitionsCreated: partitions.rows[0]?.created, ...retention.rows[0] },
        "audit partitions and retention done",
      );
    },
    /** Every five minutes: renew tokens entering their refresh window, flag access that ends. */
    token_sweep: async () => {
      await sweepTokens(deps);
    },
    /** Daily: secrets still under an older key move to the current one. */
    vault_rotate: async () => {
      await reencryptSecrets(pool, deps.vault, log);
    },
  };
}
