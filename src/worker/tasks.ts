/**
 * The jobs Herald runs, with their payload types, and the schedule of recurring ones.
 * Tasks are thin: they call services with a pool and a logger.
 */
import type { TaskList } from "graphile-worker";
import type pg from "pg";
import { z } from "zod";
import { sweepTokens } from "../accounts/token-sweep.js";
import { evaluateAlerts } from "../alerts/evaluate.js";
import { purgeExpiredThrottles } from "../auth/sign-in-throttle.js";
import type { Config } from "../config.js";
import { createMediaStore } from "../media/media.store.js";
import { deliverNotification } from "../notifications/delivery.js";
import type { Logger } from "../observability/logger.js";
import type { Registry } from "../providers/registry.js";
import { createPublisher } from "../publishing/delivery.js";
import { PublishLimits } from "../publishing/limits.js";
import { sweepTargets } from "../publishing/sweeper.js";
import { reencryptSecrets } from "../vault/rotation.js";
import type { Vault } from "../vault/vault.js";
import { deliverWebhook } from "../webhooks/delivery.js";

const PublishPayload = z.object({ workspaceId: z.uuid(), targetId: z.uuid() });

declare global {
  namespace GraphileWorker {
    interface Tasks {
      maintenance: Record<string, never>;
      audit_retention: Record<string, never>;
      token_sweep: Record<string, never>;
      vault_rotate: Record<string, never>;
      deliver_webhook: { workspaceId: string; deliveryId: string };
      deliver_notification: { workspaceId: string; deliveryId: string };
      publish_target: { workspaceId: string; targetId: string };
      publish_sweep: Record<string, never>;
      alert_check: Record<string, never>;
    }
  }
}

/** How often the publish sweeper runs while workers live; the crontab's minute is the safety net. */
const SWEEP_EVERY_MS = 15_000;

/** graphile-worker crontab: minute hour day month weekday task. */
export const CRONTAB = [
  "17 * * * * maintenance",
  "41 3 * * * audit_retention",
  "*/5 * * * * token_sweep",
  "23 4 * * * vault_rotate",
  "* * * * * publish_sweep",
  "* * * * * alert_check",
].join("\n");

export type TaskDeps = {
  pool: pg.Pool;
  log: Logger;
  vault: Vault;
  registry: Registry;
  config: Config;
  /** This process's heartbeat id (null in tests that run no heartbeat). */
  workerId?: string | null;
};

/** How long a stopped or silent worker's heartbeat row is kept (for monitoring history). */
const HEARTBEAT_RETENTION = "7 days";

export function createTaskList(deps: TaskDeps): TaskList {
  const { pool, log, config } = deps;
  const publish = createPublisher({
    ...deps,
    mediaStore: createMediaStore(config),
    limits: new PublishLimits(config.publishing),
    workerId: deps.workerId ?? null,
  });
  return {
    /** One target's publish attempt (src/publishing/delivery.ts), batched with others due with it. */
    publish_target: async (payload) => {
      await publish(PublishPayload.parse(payload));
    },
    /** Every 15 s: targets a dead worker left, and overdue ones, get their job again. */
    publish_sweep: async (_payload, helpers) => {
      await sweepTargets(pool, log);
      // And again in 15 s: one pending tick for all workers (the key replaces), so a dead worker's
      // claims are resumed within seconds of its heartbeat going stale, not at the next minute.
      await helpers.addJob(
        "publish_sweep",
        {},
        { jobKey: "publish_sweep_tick", runAt: new Date(Date.now() + SWEEP_EVERY_MS) },
      );
    },
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
    /** Every minute: alert rules of every workspace (src/alerts); opened alerts are logged. */
    alert_check: async () => {
      await evaluateAlerts(pool, log);
    },
    /** Daily: secrets still under an older key move to the current one. */
    vault_rotate: async () => {
      await reencryptSecrets(pool, deps.vault, log);
    },
    /** One outbound webhook delivery; a failed attempt throws, so graphile-worker retries it. */
    deliver_webhook: async (payload, helpers) => {
      await deliverWebhook(deps, payload, helpers.job);
    },
    /** One notification to one channel (webhook, Slack, email); a failed attempt throws to retry. */
    deliver_notification: async (payload, helpers) => {
      await deliverNotification(deps, payload, helpers.job);
    },
  };
}
