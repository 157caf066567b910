/**
 * Each worker process writes its heartbeat row every few seconds, so that monitoring can tell a
 * live worker from one that stopped (a stub "healthy" is exactly what Herald must not be).
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import type pg from "pg";
import type { Logger } from "../observability/logger.js";

export const HEARTBEAT_INTERVAL_MS = 10_000;

export type Heartbeat = { workerId: string; stop(): Promise<void> };

export async function startHeartbeat(pool: pg.Pool, version: string, log: Logger): Promise<Heartbeat> {
  const workerId = `${os.hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  await pool.query(
    `insert into worker_heartbeats (worker_id, hostname, pid, version, started_at, last_seen_at)
     values ($1, $2, $3, $4, now(), now())`,
    [workerId, os.hostname(), process.pid, version],
  );
  const beat = async () => {
    try {
      await pool.query("update worker_heartbeats set last_seen_at = now() where worker_id = $1", [workerId]);
    } catch (error) {
      log.warn({ err: error, workerId }, "heartbeat failed");
    }
  };
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return {
    workerId,
    async stop() {
      clearInterval(timer);
      await pool
        .query("update worker_heartbeats set stopped_at = now(), last_seen_at = now() where worker_id = $1", [
          workerId,
        ])
        .catch((error: unknown) => log.warn({ err: error, workerId }, "could not record worker stop"));
    },
  };
}
