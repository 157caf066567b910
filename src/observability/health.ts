/**
 * The health of the whole system as it really is: the database answers, migrations are applied, a
 * worker is alive (from its heartbeat, never assumed), the queue drains, and publishing succeeds.
 * A stub "healthy" would hide a stopped worker; every figure here comes from a query.
 *
 * System-wide figures (database, migrations, workers, queue) are counts without tenant data; the
 * publish figures and open alerts cover only the caller's workspaces (docs/OBSERVABILITY.md, "Health").
 * An open critical alert makes the status degraded.
 */
import type pg from "pg";
import { z } from "zod";
import { ROLES, roleAllows } from "../access/permissions.js";
import type { Principal } from "../access/principal.js";
import { loadMigrations, pendingMigrations } from "../db/migrate.js";
import { HEARTBEAT_INTERVAL_MS } from "../worker/heartbeat.js";
import type { Logger } from "./logger.js";

/** A worker is live when its last heartbeat is younger than this (three missed beats) and it has not stopped. */
export const LIVE_HEARTBEAT_MS = 3 * HEARTBEAT_INTERVAL_MS;
/** The queue is stuck (down) when a due job has waited longer than this. */
export const STUCK_QUEUE_MS = 5 * 60_000;
/** A scheduled target not started this long after it was due is overdue (degraded). */
export const OVERDUE_TARGET_MS = 5 * 60_000;
/** Degraded when fewer than this share of the last hour's finished attempts published... */
export const MIN_SUCCESS_RATE = 0.9;
/** ...out of at least this many (a single failure among three attempts is not a trend). */
export const MIN_ATTEMPTS_FOR_RATE = 10;
/** The publish figures' window. */
export const PUBLISHING_WINDOW_MS = 60 * 60_000;

const PublishFigures = z.object({
  attempts: z.number().int().describe("Attempts started in the window, including running ones"),
  published: z.number().int().describe("Attempts that published (or found the post already published)"),
  failed: z.number().int().describe("Attempts that failed for good"),
  retried: z.number().int().describe("Attempts that failed and will be retried (including ambiguous ones)"),
  unconfirmed: z.number().int().describe("Attempts whose result could not be confirmed"),
  running: z.number().int().describe("Attempts without an outcome yet (running, or their worker died)"),
  successRate: z
    .number()
    .nullable()
    .describe("published / finished attempts (skipped ones excluded); null when none finished"),
  avgLatencyMs: z.number().nullable().describe("Mean platform call time"),
  p95LatencyMs: z.number().nullable().describe("95th percentile platform call time"),
  avgLatenessMs: z
    .number()
    .nullable()
    .describe("Mean delay between the time a target was due and its attempt"),
});

export const HealthSchema = z
  .object({
    status: z.enum(["ok", "degraded", "down"]),
    reasons: z.array(z.string()).describe("Why the status is not ok; empty when ok"),
    checkedAt: z.iso.datetime(),
    database: z.object({
      ok: z.boolean(),
      latencyMs: z.number().nullable().describe("Round trip of `select 1`"),
    }),
    migrations: z.object({
      ok: z.boolean(),
      applied: z.number().int().nullable(),
      expected: z.number().int(),
      pending: z.array(z.string()),
    }),
    workers: z.object({
      live: z.array(
        z.object({
          id: z.string(),
          host: z.string(),
          pid: z.number().int(),
          version: z.string(),
          startedAt: z.iso.datetime(),
          lastSeenAt: z.iso.datetime(),
        }),
      ),
      lastHeartbeatAt: z.iso
        .datetime()
        .nullable()
        .describe("The newest heartbeat of any worker, live or not"),
    }),
    queue: z.object({
      due: z.number().int().describe("Jobs due now and waiting for a worker"),
      scheduled: z.number().int().describe("Jobs due later (including retries waiting for their backoff)"),
      running: z.number().int().describe("Jobs locked by a worker"),
      failed: z.number().int().describe("Jobs that used all their attempts"),
      oldestDueAgeMs: z.number().nullable().describe("How long the oldest due job has waited"),
      overdueTargets: z.number().int().describe("Scheduled targets, all workspaces, due over 5 minutes ago"),
    }),
    publishing: PublishFigures.extend({
      windowMinutes: z.number().int(),
      workspaces: z.array(PublishFigures.extend({ workspaceId: z.uuid() })),
    }).nullable(),
    alerts: z.object({
      open: z
        .number()
        .int()
        .nullable()
        .describe(
          "Open (firing or acknowledged) alerts of the caller's workspaces; null when the database is down",
        ),
      bySeverity: z
        .object({
          info: z.number().int(),
          warning: z.number().int(),
          error: z.number().int(),
          critical: z.number().int(),
        })
        .nullable(),
    }),
  })
  .meta({ id: "MonitoringHealth" });

export type Health = z.infer<typeof HealthSchema>;
type Figures = z.infer<typeof PublishFigures>;

const iso = (value: Date) => value.toISOString();
const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));

/** Round to 0.1 ms: enough for a dashboard, and stable in logs. */
const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);

const WorkerRow = z.object({
  worker_id: z.string(),
  hostname: z.string(),
  pid: z.number(),
  version: z.string(),
  started_at: z.date(),
  last_seen_at: z.date(),
});

const QueueRow = z.object({
  due: z.coerce.number(),
  scheduled: z.coerce.number(),
  running: z.coerce.number(),
  failed: z.coerce.number(),
  oldest_due_ms: z.coerce.number().nullable(),
});

const FiguresRow = z.object({
  workspace_id: z.uuid().nullable(),
  attempts: z.coerce.number(),
  finished: z.coerce.number(),
  published: z.coerce.number(),
  failed: z.coerce.number(),
  retried: z.coerce.number(),
  unconfirmed: z.coerce.number(),
  running: z.coerce.number(),
  avg_latency_ms: z.number().nullable(),
  p95_latency_ms: z.number().nullable(),
  avg_lateness_ms: z.number().nullable(),
});

const MembershipRow = z.object({ workspace_id: z.uuid(), role: z.enum(ROLES), restricted: z.boolean() });

/**
 * The workspaces whose publish figures the caller sees: an API key, its own; a person, every
 * workspace where their role allows `monitoring:read` and they are not limited to some clients
 * (a workspace's figures include every client's posts).
 */
async function visibleWorkspaces(pool: pg.Pool, principal: Principal): Promise<string[]> {
  if (principal.kind === "api_key") return [principal.workspaceId];
  const { rows } = await pool.query("select * from herald_monitoring_memberships($1)", [principal.userId]);
  return rows
    .map((row) => MembershipRow.parse(row))
    .filter((m) => !m.restricted && roleAllows(m.role, "monitoring:read"))
    .map((m) => m.workspace_id);
}

function figuresOf(row: z.infer<typeof FiguresRow>): Figures {
  return {
    attempts: row.attempts,
    published: row.published,
    failed: row.failed,
    retried: row.retried,
    unconfirmed: row.unconfirmed,
    running: row.running,
    successRate: row.finished > 0 ? Math.round((row.published / row.finished) * 1000) / 1000 : null,
    avgLatencyMs: round(row.avg_latency_ms),
    p95LatencyMs: round(row.p95_latency_ms),
    avgLatenessMs: round(row.avg_lateness_ms),
  };
}

async function publishing(pool: pg.Pool, workspaceIds: string[]): Promise<NonNullable<Health["publishing"]>> {
  const since = new Date(Date.now() - PUBLISHING_WINDOW_MS);
  const { rows } = await pool.query("select * from herald_monitoring_publishing($1::uuid[], $2)", [
    workspaceIds,
    since,
  ]);
  const parsed = rows.map((row) => FiguresRow.parse(row));
  const total = parsed.find((row) => row.workspace_id === null);
  if (!total) throw new Error("herald_monitoring_publishing returned no total");
  return {
    windowMinutes: PUBLISHING_WINDOW_MS / 60_000,
    ...figuresOf(total),
    workspaces: parsed.flatMap((row) =>
      row.workspace_id === null ? [] : [{ workspaceId: row.workspace_id, ...figuresOf(row) }],
    ),
  };
}

const OpenAlertsRow = z.object({
  severity: z.enum(["info", "warning", "error", "critical"]),
  open: z.coerce.number(),
});

/** Open alerts of the same workspaces as the publish figures, by severity (counts only, migration 0008). */
async function openAlerts(pool: pg.Pool, workspaceIds: string[]) {
  const { rows } = await pool.query("select * from herald_monitoring_open_alerts($1::uuid[])", [
    workspaceIds,
  ]);
  const bySeverity = { info: 0, warning: 0, error: 0, critical: 0 };
  for (const row of rows) {
    const r = OpenAlertsRow.parse(row);
    bySeverity[r.severity] = r.open;
  }
  const open = bySeverity.info + bySeverity.warning + bySeverity.error + bySeverity.critical;
  return { open, bySeverity };
}

async function queue(pool: pg.Pool): Promise<Health["queue"]> {
  // graphile-worker's own table (the app role reads it, see grantWorkerSchema in db/migrate.ts).
  const jobs = await pool.query(`
    select count(*) filter (where locked_at is null and attempts < max_attempts and run_at <= now()) as due,
           count(*) filter (where locked_at is null and attempts < max_attempts and run_at > now()) as scheduled,
           count(*) filter (where locked_at is not null and attempts < max_attempts) as running,
           count(*) filter (where attempts >= max_attempts) as failed,
           floor(extract(epoch from now() - min(run_at) filter (
             where locked_at is null and attempts < max_attempts and run_at <= now())) * 1000) as oldest_due_ms
      from graphile_worker._private_jobs`);
  const q = QueueRow.parse(jobs.rows[0]);
  const overdue = await pool.query("select overdue from herald_monitoring_overdue_targets($1::interval)", [
    `${OVERDUE_TARGET_MS / 1000} seconds`,
  ]);
  return {
    due: q.due,
    scheduled: q.scheduled,
    running: q.running,
    failed: q.failed,
    oldestDueAgeMs: q.oldest_due_ms,
    overdueTargets: Number(overdue.rows[0]?.overdue ?? 0),
  };
}

async function workers(pool: pg.Pool): Promise<Health["workers"] & { silentForMs: number | null }> {
  const { rows } = await pool.query(
    `select worker_id, hostname, pid, version, started_at, last_seen_at
       from worker_heartbeats
      where stopped_at is null and last_seen_at > now() - $1::interval
      order by started_at, worker_id`,
    [`${LIVE_HEARTBEAT_MS / 1000} seconds`],
  );
  const newest = await pool.query(
    `select max(last_seen_at) as last, floor(extract(epoch from now() - max(last_seen_at)) * 1000) as silent_ms
       from worker_heartbeats`,
  );
  const last: unknown = newest.rows[0]?.last;
  return {
    live: rows.map((row) => {
      const w = WorkerRow.parse(row);
      return {
        id: w.worker_id,
        host: w.hostname,
        pid: w.pid,
        version: w.version,
        startedAt: iso(w.started_at),
        lastSeenAt: iso(w.last_seen_at),
      };
    }),
    lastHeartbeatAt: last instanceof Date ? iso(last) : null,
    silentForMs: num(newest.rows[0]?.silent_ms),
  };
}

/** Everything at once; a database that does not answer is reported, not thrown. */
export async function checkHealth(pool: pg.Pool, principal: Principal, log: Logger): Promise<Health> {
  const checkedAt = new Date().toISOString();
  const expected = loadMigrations().then((m) => m.length);
  const started = performance.now();
  try {
    await pool.query("select 1");
  } catch (error) {
    log.warn({ err: error }, "health: the database did not answer");
    return {
      status: "down",
      reasons: ["the database did not answer"],
      checkedAt,
      database: { ok: false, latencyMs: null },
      migrations: { ok: false, applied: null, expected: await expected, pending: [] },
      workers: { live: [], lastHeartbeatAt: null },
      queue: { due: 0, scheduled: 0, running: 0, failed: 0, oldestDueAgeMs: null, overdueTargets: 0 },
      publishing: null,
      alerts: { open: null, bySeverity: null },
    };
  }
  const latencyMs = round(performance.now() - started);
  const workspaceIds = await visibleWorkspaces(pool, principal);
  const [pending, expectedCount, w, q, p, a] = await Promise.all([
    pendingMigrations(pool),
    expected,
    workers(pool),
    queue(pool),
    publishing(pool, workspaceIds),
    openAlerts(pool, workspaceIds),
  ]);

  const down: string[] = [];
  const degraded: string[] = [];
  if (w.live.length === 0) {
    down.push(
      w.silentForMs === null
        ? "no live worker: no worker has ever sent a heartbeat"
        : `no live worker for ${Math.floor(w.silentForMs / 1000)} s`,
    );
  }
  if (q.oldestDueAgeMs !== null && q.oldestDueAgeMs > STUCK_QUEUE_MS) {
    down.push(`the oldest due job has waited ${Math.floor(q.oldestDueAgeMs / 1000)} s`);
  }
  const finished = p.published + p.failed + p.retried + p.unconfirmed;
  if (p.successRate !== null && finished >= MIN_ATTEMPTS_FOR_RATE && p.successRate < MIN_SUCCESS_RATE) {
    degraded.push(
      `publish success rate ${Math.round(p.successRate * 1000) / 10}% over the last hour (${finished} attempts)`,
    );
  }
  if (q.overdueTargets > 0)
    degraded.push(`${q.overdueTargets} scheduled target(s) overdue by over 5 minutes`);
  if (a.bySeverity.critical > 0) degraded.push(`${a.bySeverity.critical} critical alert(s) open`);
  if (pending.length > 0) degraded.push(`${pending.length} migration(s) pending: ${pending.join(", ")}`);

  return {
    status: down.length > 0 ? "down" : degraded.length > 0 ? "degraded" : "ok",
    reasons: [...down, ...degraded],
    checkedAt,
    database: { ok: true, latencyMs },
    migrations: {
      ok: pending.length === 0,
      applied: expectedCount - pending.length,
      expected: expectedCount,
      pending,
    },
    workers: { live: w.live, lastHeartbeatAt: w.lastHeartbeatAt },
    queue: q,
    publishing: p,
    alerts: a,
  };
}
