/**
 * The publishing sweeper (`publish_sweep`, every 15 s, at each minute, and when a worker starts): nothing is lost.
 *
 * - A target left `publishing` by a worker that died (its lease expired, or its heartbeat
 *   stopped) gets a job again; the claim resumes it as an uncertain attempt (delivery.ts).
 * - A `scheduled` target still not started a while after it was due gets its job again (a job
 *   lost to an operator's cleanup, or workers far behind), and is reported as overdue.
 *
 * Re-adding a job is harmless: the job key replaces a waiting job, and a job that finds the
 * target claimed or not due does nothing.
 */
import type pg from "pg";
import type { Logger } from "../observability/logger.js";
import { WORKER_GONE_AFTER_SECONDS } from "./delivery.js";

/** How late a scheduled target may be before the sweeper acts on it. */
const OVERDUE_AFTER_SECONDS = 30;
const BATCH = 1000;

export type SweepReport = { resumed: number; overdue: number };

export async function sweepTargets(pool: pg.Pool, log: Logger): Promise<SweepReport> {
  const { rows } = await pool.query<{
    workspace_id: string;
    target_id: string;
    publish_at: Date;
    reason: "lease_expired" | "worker_gone" | "overdue";
  }>("select * from herald_targets_to_resume($1 * interval '1 second', $2 * interval '1 second', $3)", [
    OVERDUE_AFTER_SECONDS,
    WORKER_GONE_AFTER_SECONDS,
    BATCH,
  ]);
  if (rows.length === 0) return { resumed: 0, overdue: 0 };
  await pool.query(
    `select graphile_worker.add_job('publish_target', json_build_object('workspaceId', t.workspace_id, 'targetId', t.id),
       max_attempts := 25, job_key := 'publish:' || t.id, job_key_mode := 'replace')
     from unnest($1::uuid[], $2::uuid[]) as t(workspace_id, id)`,
    [rows.map((row) => row.workspace_id), rows.map((row) => row.target_id)],
  );
  const overdue = rows.filter((row) => row.reason === "overdue");
  for (const row of overdue)
    log.warn(
      { workspaceId: row.workspace_id, targetId: row.target_id, dueAt: row.publish_at },
      "target overdue: it was due and has not started; its job was queued again",
    );
  const report = { resumed: rows.length - overdue.length, overdue: overdue.length };
  log.info(report, "publish sweep");
  return report;
}
