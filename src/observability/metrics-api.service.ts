/**
 * Dashboard figures of one workspace over a time range, computed in SQL from what was recorded:
 * publish attempts (publish_attempts), token refreshes (audit events) and the targets waiting now.
 * Every query runs in the request's workspace transaction, so RLS keeps other workspaces out.
 */
import { z } from "zod";
import type { WorkspaceAccess } from "../access/workspace-access.js";
import type { Tx } from "../db/tenant.js";
import { ForbiddenError } from "../errors.js";
import { OVERDUE_TARGET_MS } from "./health.js";
import {
  DEFAULT_RANGE_MS,
  HOURLY_UP_TO_MS,
  type MetricsQuery,
  type PublishTotals,
  type WorkspaceMetrics,
} from "./metrics-api.schemas.js";

const n = z.coerce.number();
const nOrNull = z.coerce.number().nullable();

const TotalsRow = z.object({
  platform: z.string().nullable(),
  attempts: n,
  finished: n,
  published: n,
  failed: n,
  unconfirmed: n,
  retries: n,
  latency_avg: nOrNull,
  latency_p50: nOrNull,
  latency_p95: nOrNull,
  lateness_avg: nOrNull,
  lateness_p50: nOrNull,
  lateness_p95: nOrNull,
  lateness_max: nOrNull,
});

const SeriesRow = z.object({
  bucket_start: z.date(),
  platform: z.string(),
  attempts: n,
  published: n,
  failed: n,
  avg_latency: nOrNull,
  avg_lateness: nOrNull,
});

const RefreshRow = z.object({ refreshed: n, failed: n });
const QueueRow = z.object({ scheduled: n, due: n, overdue: n, publishing: n });

/** Round to 0.1 ms, as the health figures do. */
const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);
const rate = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 1000) / 1000 : null);

const PUBLISHED = "a.outcome in ('published', 'already_published')";

function totalsOf(row: z.infer<typeof TotalsRow>): PublishTotals {
  return {
    attempts: row.attempts,
    published: row.published,
    failed: row.failed,
    unconfirmed: row.unconfirmed,
    retries: row.retries,
    successRate: rate(row.published, row.finished),
    latencyMs: { avg: round(row.latency_avg), p50: round(row.latency_p50), p95: round(row.latency_p95) },
    latenessMs: {
      avg: round(row.lateness_avg),
      p50: round(row.lateness_p50),
      p95: round(row.lateness_p95),
      max: round(row.lateness_max),
    },
  };
}

/** The range the query asks for (already checked by the schema: ordered, at most 31 days). */
export function rangeOf(query: MetricsQuery, now = Date.now()): { from: Date; to: Date } {
  const to = query.to === undefined ? now : Date.parse(query.to);
  const from = query.from === undefined ? to - DEFAULT_RANGE_MS : Date.parse(query.from);
  return { from: new Date(from), to: new Date(to) };
}

export async function workspaceMetrics(
  tx: Tx,
  access: WorkspaceAccess,
  query: MetricsQuery,
): Promise<WorkspaceMetrics> {
  // The figures cover every client's posts: a member limited to some clients does not see them.
  if (access.clientIds !== null) {
    throw new ForbiddenError(
      "Monitoring figures cover every client of the workspace; this member is limited to some clients.",
    );
  }
  const { from, to } = rangeOf(query);
  const bucket = to.getTime() - from.getTime() > HOURLY_UP_TO_MS ? "day" : "hour";

  const totals = await tx.query(
    `select a.platform,
            count(*) as attempts,
            count(*) filter (where a.outcome is not null and a.outcome <> 'skipped') as finished,
            count(*) filter (where ${PUBLISHED}) as published,
            count(*) filter (where a.outcome = 'failed') as failed,
            count(*) filter (where a.outcome = 'unconfirmed') as unconfirmed,
            count(*) filter (where a.outcome in ('retry', 'ambiguous')) as retries,
            avg(a.latency_ms)::double precision as latency_avg,
            percentile_cont(0.5) within group (order by a.latency_ms) as latency_p50,
            percentile_cont(0.95) within group (order by a.latency_ms) as latency_p95,
            avg(a.lateness_ms)::double precision as lateness_avg,
            percentile_cont(0.5) within group (order by a.lateness_ms) as lateness_p50,
            percentile_cont(0.95) within group (order by a.lateness_ms) as lateness_p95,
            max(a.lateness_ms) as lateness_max
       from publish_attempts a
      where a.started_at >= $1 and a.started_at < $2
      group by grouping sets ((a.platform), ())
      order by a.platform nulls first`,
    [from, to],
  );
  const rows = totals.rows.map((row) => TotalsRow.parse(row));
  const overall = rows.find((row) => row.platform === null);

  const series = await tx.query(
    `select date_trunc($3, a.started_at, 'UTC') as bucket_start, a.platform,
            count(*) as attempts,
            count(*) filter (where ${PUBLISHED}) as published,
            count(*) filter (where a.outcome = 'failed') as failed,
            avg(a.latency_ms)::double precision as avg_latency,
            avg(a.lateness_ms)::double precision as avg_lateness
       from publish_attempts a
      where a.started_at >= $1 and a.started_at < $2
      group by 1, 2
      order by 1, 2`,
    [from, to, bucket],
  );

  const refresh = await tx.query(
    `select count(*) filter (where e.action = 'token_refreshed') as refreshed,
            count(*) filter (where e.action = 'token_refresh_failed') as failed
       from audit_events e
      where e.action in ('token_refreshed', 'token_refresh_failed')
        and e.created_at >= $1 and e.created_at < $2`,
    [from, to],
  );
  const r = RefreshRow.parse(refresh.rows[0]);

  const queue = await tx.query(
    `select count(*) filter (where t.status = 'scheduled') as scheduled,
            count(*) filter (where t.status = 'scheduled' and t.publish_at <= now()) as due,
            count(*) filter (where t.status = 'scheduled' and t.publish_at < now() - $1::interval) as overdue,
            count(*) filter (where t.status = 'publishing') as publishing
       from post_targets t
      where t.status in ('scheduled', 'publishing')`,
    [`${OVERDUE_TARGET_MS / 1000} seconds`],
  );

  const empty = TotalsRow.parse({
    ...Object.fromEntries(Object.keys(TotalsRow.shape).map((key) => [key, null])),
    ...{ attempts: 0, finished: 0, published: 0, failed: 0, unconfirmed: 0, retries: 0 },
  });
  return {
    workspaceId: access.workspaceId,
    from: from.toISOString(),
    to: to.toISOString(),
    bucket,
    publishing: {
      ...totalsOf(overall ?? empty),
      platforms: rows.flatMap((row) =>
        row.platform === null ? [] : [{ platform: row.platform, ...totalsOf(row) }],
      ),
    },
    series: series.rows.map((row) => {
      const s = SeriesRow.parse(row);
      return {
        bucketStart: s.bucket_start.toISOString(),
        platform: s.platform,
        attempts: s.attempts,
        published: s.published,
        failed: s.failed,
        avgLatencyMs: round(s.avg_latency),
        avgLatenessMs: round(s.avg_lateness),
      };
    }),
    tokenRefresh: {
      refreshed: r.refreshed,
      failed: r.failed,
      successRate: rate(r.refreshed, r.refreshed + r.failed),
    },
    queue: QueueRow.parse(queue.rows[0]),
  };
}
