import { z } from "zod";

/** The longest range one request may cover. */
export const MAX_RANGE_MS = 31 * 24 * 3600_000;
/** Without `from`, the range is this long. */
export const DEFAULT_RANGE_MS = 24 * 3600_000;
/** Ranges longer than this are bucketed by day, shorter ones by hour. */
export const HOURLY_UP_TO_MS = 3 * 24 * 3600_000;

const Time = z.iso.datetime({ offset: true });

export const MetricsQuery = z
  .object({
    from: Time.optional().meta({ description: "Start of the range (inclusive); default `to` minus 24 h." }),
    to: Time.optional().meta({ description: "End of the range (exclusive); default now." }),
  })
  .superRefine((query, ctx) => {
    const to = query.to === undefined ? Date.now() : Date.parse(query.to);
    const from = query.from === undefined ? to - DEFAULT_RANGE_MS : Date.parse(query.from);
    // The field named is the one the caller sent (with `to` omitted, `from` is the one to blame).
    const blamed = query.to === undefined ? "from" : "to";
    if (to <= from) {
      ctx.addIssue({ code: "custom", path: [blamed], message: "`to` must be after `from`" });
    } else if (to - from > MAX_RANGE_MS) {
      ctx.addIssue({ code: "custom", path: [blamed], message: "the range must not exceed 31 days" });
    }
  });
export type MetricsQuery = z.infer<typeof MetricsQuery>;

const PublishTotals = z.object({
  attempts: z.number().int().describe("Attempts started in the range, including running ones"),
  published: z.number().int().describe("Attempts that published (or found the post already published)"),
  failed: z.number().int().describe("Attempts that failed for good"),
  unconfirmed: z.number().int().describe("Attempts whose result could not be confirmed"),
  retries: z.number().int().describe("Attempts that failed and were retried (outcome retry or ambiguous)"),
  successRate: z
    .number()
    .nullable()
    .describe("published / finished attempts (running and skipped excluded); null when none finished"),
  latencyMs: z.object({
    avg: z.number().nullable(),
    p50: z.number().nullable(),
    p95: z.number().nullable(),
  }),
  latenessMs: z.object({
    avg: z.number().nullable(),
    p50: z.number().nullable(),
    p95: z.number().nullable(),
    max: z.number().nullable(),
  }),
});
export type PublishTotals = z.infer<typeof PublishTotals>;

export const WorkspaceMetricsSchema = z
  .object({
    workspaceId: z.uuid(),
    from: z.iso.datetime(),
    to: z.iso.datetime(),
    bucket: z.enum(["hour", "day"]).describe("Hour for ranges up to 3 days, day beyond"),
    publishing: PublishTotals.extend({
      platforms: z.array(PublishTotals.extend({ platform: z.string() })),
    }),
    series: z
      .array(
        z.object({
          bucketStart: z.iso.datetime().describe("Start of the UTC hour or day"),
          platform: z.string(),
          attempts: z.number().int(),
          published: z.number().int(),
          failed: z.number().int(),
          avgLatencyMs: z.number().nullable(),
          avgLatenessMs: z.number().nullable(),
        }),
      )
      .describe("Buckets with at least one attempt, by time then platform (empty buckets are omitted)"),
    tokenRefresh: z.object({
      refreshed: z.number().int(),
      failed: z.number().int(),
      successRate: z.number().nullable().describe("refreshed / (refreshed + failed); null when none"),
    }),
    queue: z.object({
      scheduled: z.number().int().describe("Targets scheduled, due or not (now, not in the range)"),
      due: z.number().int().describe("Scheduled targets already due"),
      overdue: z.number().int().describe("Scheduled targets due over 5 minutes ago and not started"),
      publishing: z.number().int().describe("Targets being published now"),
    }),
  })
  .meta({ id: "WorkspaceMetrics" });
export type WorkspaceMetrics = z.infer<typeof WorkspaceMetricsSchema>;
