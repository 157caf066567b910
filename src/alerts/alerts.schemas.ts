import { z } from "zod";
import { Id } from "../http/ids.js";
import { PageQuery } from "../http/pagination.js";

export const METRICS = [
  "publish_failure_rate",
  "publish_attempts",
  "publish_latency_avg_ms",
  "token_refresh_success_rate",
  "token_refresh_failures",
  "queue_pending",
  "posts_per_account_hour",
  "overdue_targets",
] as const;
export type Metric = (typeof METRICS)[number];

export const COMPARISONS = [">", ">=", "<", "<="] as const;
export type Comparison = (typeof COMPARISONS)[number];
export const ALERT_SEVERITIES = ["info", "warning", "error", "critical"] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
export const SCOPES = ["workspace", "client", "account", "platform"] as const;
export type RuleScope = (typeof SCOPES)[number];
export const ALERT_STATUSES = ["firing", "acknowledged", "resolved"] as const;

/** 30 days: the longest window a rule may look back. */
const MAX_WINDOW_SECONDS = 30 * 24 * 3600;

export const AlertRuleSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    metric: z.enum(METRICS),
    windowSeconds: z.number().int(),
    comparison: z.enum(COMPARISONS),
    threshold: z.number(),
    minSamples: z.number().int(),
    severity: z.enum(ALERT_SEVERITIES),
    scope: z.enum(SCOPES),
    scopeValue: z.string().nullable(),
    enabled: z.boolean(),
    isDefault: z.boolean(),
    createdAt: z.iso.datetime({ offset: true }),
    updatedAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "AlertRule" });
export type AlertRule = z.infer<typeof AlertRuleSchema>;

const ruleFields = {
  name: z.string().trim().min(1).max(200),
  metric: z.enum(METRICS).meta({ description: "What is measured (docs/OBSERVABILITY.md, Alerts)" }),
  windowSeconds: z
    .number()
    .int()
    .positive()
    .max(MAX_WINDOW_SECONDS)
    .meta({ description: "How far back the metric looks, in seconds" }),
  comparison: z.enum(COMPARISONS),
  threshold: z.number().finite().meta({ description: "Rates are percentages (0-100), latency in ms" }),
  minSamples: z
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .meta({ description: "The rule fires only when at least this many samples were measured" }),
  severity: z.enum(ALERT_SEVERITIES),
  scope: z.enum(SCOPES),
  scopeValue: z
    .string()
    .min(1)
    .max(200)
    .nullable()
    .meta({ description: "One client id, account id or platform; null: each one separately" }),
  enabled: z.boolean(),
};

export const AlertRuleCreateSchema = z
  .strictObject({
    ...ruleFields,
    minSamples: ruleFields.minSamples.default(0),
    severity: ruleFields.severity.default("warning"),
    scope: ruleFields.scope.default("workspace"),
    scopeValue: ruleFields.scopeValue.default(null),
    enabled: ruleFields.enabled.default(true),
  })
  .meta({
    id: "AlertRuleCreate",
    examples: [
      {
        name: "Busy page",
        metric: "posts_per_account_hour",
        windowSeconds: 3600,
        comparison: ">",
        threshold: 5,
        severity: "warning",
        scope: "account",
      },
    ],
  });
export type AlertRuleCreate = z.infer<typeof AlertRuleCreateSchema>;

export const AlertRuleUpdateSchema = z
  .strictObject({
    name: ruleFields.name.optional(),
    metric: ruleFields.metric.optional(),
    windowSeconds: ruleFields.windowSeconds.optional(),
    comparison: ruleFields.comparison.optional(),
    threshold: ruleFields.threshold.optional(),
    minSamples: ruleFields.minSamples.optional(),
    severity: ruleFields.severity.optional(),
    scope: ruleFields.scope.optional(),
    scopeValue: ruleFields.scopeValue.optional(),
    enabled: ruleFields.enabled.optional(),
  })
  .refine((v) => Object.values(v).some((value) => value !== undefined), "give at least one field to change")
  .meta({ id: "AlertRuleUpdate", examples: [{ threshold: 25, enabled: true }] });
export type AlertRuleUpdate = z.infer<typeof AlertRuleUpdateSchema>;

export const AlertSchema = z
  .object({
    id: z.uuid(),
    ruleId: z.uuid().nullable().describe("null for built-in suspicious-activity alerts, which have no rule"),
    ruleName: z.string(),
    metric: z.string(),
    severity: z.enum(ALERT_SEVERITIES),
    scopeKey: z
      .string()
      .meta({ description: "`workspace`, or `account:<id>`, `client:<id>`, `platform:<name>`" }),
    status: z.enum(ALERT_STATUSES),
    value: z.number().nullable(),
    samples: z.number().int(),
    message: z.string(),
    firedAt: z.iso.datetime({ offset: true }),
    acknowledgedAt: z.iso.datetime({ offset: true }).nullable(),
    acknowledgedBy: z.uuid().nullable(),
    resolvedAt: z.iso.datetime({ offset: true }).nullable(),
  })
  .meta({ id: "Alert" });
export type Alert = z.infer<typeof AlertSchema>;

export const AlertListQuery = PageQuery.extend({
  status: z.enum(ALERT_STATUSES).optional(),
  severity: z.enum(ALERT_SEVERITIES).optional(),
});

export const RuleParams = z.object({ workspaceId: Id, ruleId: Id });
export const AlertParams = z.object({ workspaceId: Id, alertId: Id });

export const SystemAlertSchema = z.object({
  key: z.string(),
  severity: z.enum(ALERT_SEVERITIES),
  message: z.string(),
});
export type SystemAlert = z.infer<typeof SystemAlertSchema>;

export const CheckSummarySchema = z
  .object({
    workspaces: z.number().int(),
    rulesEvaluated: z.number().int(),
    fired: z.number().int(),
    resolved: z.number().int(),
    systemAlerts: z.array(SystemAlertSchema),
  })
  .meta({ id: "AlertCheckSummary" });
