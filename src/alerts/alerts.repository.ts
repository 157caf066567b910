/** SQL for alert rules and alerts. Every function runs in the caller's workspace transaction (RLS). */
import { z } from "zod";
import type { Tx } from "../db/tenant.js";
import {
  ALERT_SEVERITIES,
  ALERT_STATUSES,
  type Alert,
  type AlertRule,
  type AlertRuleCreate,
  type AlertRuleUpdate,
  COMPARISONS,
  METRICS,
  SCOPES,
} from "./alerts.schemas.js";

const RuleRow = z.object({
  id: z.uuid(),
  name: z.string(),
  metric: z.enum(METRICS),
  window_seconds: z.number(),
  comparison: z.enum(COMPARISONS),
  threshold: z.coerce.number(),
  min_samples: z.number(),
  severity: z.enum(ALERT_SEVERITIES),
  scope: z.enum(SCOPES),
  scope_value: z.string().nullable(),
  enabled: z.boolean(),
  is_default: z.boolean(),
  created_at: z.date(),
  updated_at: z.date(),
});

const AlertRow = z.object({
  id: z.uuid(),
  // null for built-in alerts without a rule (suspicious activity, migration 0008)
  rule_id: z.uuid().nullable(),
  rule_name: z.string(),
  metric: z.string(),
  severity: z.enum(ALERT_SEVERITIES),
  scope_key: z.string(),
  status: z.enum(ALERT_STATUSES),
  value: z.number().nullable(),
  samples: z.number(),
  message: z.string(),
  fired_at: z.date(),
  acknowledged_at: z.date().nullable(),
  acknowledged_by: z.uuid().nullable(),
  resolved_at: z.date().nullable(),
});

function ruleOf(row: unknown): AlertRule {
  const r = RuleRow.parse(row);
  return {
    id: r.id,
    name: r.name,
    metric: r.metric,
    windowSeconds: r.window_seconds,
    comparison: r.comparison,
    threshold: r.threshold,
    minSamples: r.min_samples,
    severity: r.severity,
    scope: r.scope,
    scopeValue: r.scope_value,
    enabled: r.enabled,
    isDefault: r.is_default,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export function alertOf(row: unknown): Alert {
  const a = AlertRow.parse(row);
  return {
    id: a.id,
    ruleId: a.rule_id,
    ruleName: a.rule_name,
    metric: a.metric,
    severity: a.severity,
    scopeKey: a.scope_key,
    status: a.status,
    value: a.value,
    samples: a.samples,
    message: a.message,
    firedAt: a.fired_at.toISOString(),
    acknowledgedAt: a.acknowledged_at?.toISOString() ?? null,
    acknowledgedBy: a.acknowledged_by,
    resolvedAt: a.resolved_at?.toISOString() ?? null,
  };
}

/** The default rules (migration 0006), for a workspace just created in this transaction. */
export async function createDefaultRules(tx: Tx, workspaceId: string): Promise<void> {
  await tx.query("select herald_alert_default_rules($1)", [workspaceId]);
}

export async function listRules(tx: Tx, after: string[] | undefined, limit: number) {
  const { rows } = await tx.query(
    `select *, created_at::text as sort_key from alert_rules
      where ($1::timestamptz is null or (created_at, id) > ($1::timestamptz, $2::uuid))
      order by created_at, id limit $3`,
    [after?.[0] ?? null, after?.[1] ?? null, limit],
  );
  return rows.map((row: { sort_key: string }) => ({
    ...ruleOf(row),
    sortKey: [row.sort_key, ruleOf(row).id],
  }));
}

export async function enabledRules(tx: Tx): Promise<AlertRule[]> {
  const { rows } = await tx.query("select * from alert_rules where enabled order by created_at, id");
  return rows.map(ruleOf);
}

export async function findRule(tx: Tx, ruleId: string): Promise<AlertRule | undefined> {
  const { rows } = await tx.query("select * from alert_rules where id = $1", [ruleId]);
  return rows[0] === undefined ? undefined : ruleOf(rows[0]);
}

export async function insertRule(tx: Tx, workspaceId: string, rule: AlertRuleCreate): Promise<AlertRule> {
  const { rows } = await tx.query(
    `insert into alert_rules (workspace_id, name, metric, window_seconds, comparison, threshold, min_samples,
                              severity, scope, scope_value, enabled)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning *`,
    [
      workspaceId,
      rule.name,
      rule.metric,
      rule.windowSeconds,
      rule.comparison,
      rule.threshold,
      rule.minSamples,
      rule.severity,
      rule.scope,
      rule.scopeValue,
      rule.enabled,
    ],
  );
  return ruleOf(rows[0]);
}

const COLUMNS = {
  name: "name",
  metric: "metric",
  windowSeconds: "window_seconds",
  comparison: "comparison",
  threshold: "threshold",
  minSamples: "min_samples",
  severity: "severity",
  scope: "scope",
  scopeValue: "scope_value",
  enabled: "enabled",
} as const satisfies Record<keyof AlertRuleUpdate, string>;

export async function updateRule(tx: Tx, ruleId: string, changes: AlertRuleUpdate) {
  const sets: string[] = [];
  const values: unknown[] = [ruleId];
  for (const [field, column] of Object.entries(COLUMNS)) {
    const value = changes[field as keyof AlertRuleUpdate];
    if (value === undefined) continue;
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  }
  const { rows } = await tx.query(
    `update alert_rules set ${sets.join(", ")}, updated_at = now() where id = $1 returning *`,
    values,
  );
  return rows[0] === undefined ? undefined : ruleOf(rows[0]);
}

export async function deleteRule(tx: Tx, ruleId: string): Promise<boolean> {
  const { rowCount } = await tx.query("delete from alert_rules where id = $1", [ruleId]);
  return (rowCount ?? 0) > 0;
}

export async function listAlerts(
  tx: Tx,
  filter: { status?: string | undefined; severity?: string | undefined },
  after: string[] | undefined,
  limit: number,
) {
  const { rows } = await tx.query(
    `select *, fired_at::text as sort_key from alerts
      where ($1::text is null or status = $1) and ($2::text is null or severity = $2)
        and ($3::timestamptz is null or (fired_at, id) < ($3::timestamptz, $4::uuid))
      order by fired_at desc, id desc limit $5`,
    [filter.status ?? null, filter.severity ?? null, after?.[0] ?? null, after?.[1] ?? null, limit],
  );
  return rows.map((row: { sort_key: string; id: string }) => ({
    ...alertOf(row),
    sortKey: [row.sort_key, row.id],
  }));
}

export async function findAlert(tx: Tx, alertId: string): Promise<Alert | undefined> {
  const { rows } = await tx.query("select * from alerts where id = $1", [alertId]);
  return rows[0] === undefined ? undefined : alertOf(rows[0]);
}

export async function acknowledgeAlert(tx: Tx, alertId: string, userId: string | null) {
  const { rows } = await tx.query(
    `update alerts set status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2
      where id = $1 and status = 'firing' returning *`,
    [alertId, userId],
  );
  return rows[0] === undefined ? undefined : alertOf(rows[0]);
}

/** The open alerts of a rule, by scope key. */
export async function openAlerts(tx: Tx, ruleId: string): Promise<Map<string, Alert>> {
  const { rows } = await tx.query(
    "select * from alerts where rule_id = $1 and status in ('firing', 'acknowledged')",
    [ruleId],
  );
  return new Map(rows.map((row) => [alertOf(row).scopeKey, alertOf(row)]));
}

/** Opens an alert unless one is already open for the rule and scope key (then undefined). */
export async function openAlert(
  tx: Tx,
  workspaceId: string,
  alert: {
    rule: AlertRule;
    scopeKey: string;
    value: number | null;
    samples: number;
    message: string;
  },
): Promise<Alert | undefined> {
  const { rows } = await tx.query(
    `insert into alerts (workspace_id, rule_id, rule_name, metric, severity, scope_key, value, samples, message)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (workspace_id, rule_id, scope_key) where status in ('firing', 'acknowledged') do nothing
     returning *`,
    [
      workspaceId,
      alert.rule.id,
      alert.rule.name,
      alert.rule.metric,
      alert.rule.severity,
      alert.scopeKey,
      alert.value,
      alert.samples,
      alert.message.slice(0, 2000),
    ],
  );
  return rows[0] === undefined ? undefined : alertOf(rows[0]);
}

export async function resolveAlert(tx: Tx, alertId: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    `update alerts set status = 'resolved', resolved_at = now()
      where id = $1 and status in ('firing', 'acknowledged')`,
    [alertId],
  );
  return (rowCount ?? 0) > 0;
}

export async function resolveRuleAlerts(tx: Tx, ruleId: string): Promise<number> {
  const { rowCount } = await tx.query(
    `update alerts set status = 'resolved', resolved_at = now()
      where rule_id = $1 and status in ('firing', 'acknowledged')`,
    [ruleId],
  );
  return rowCount ?? 0;
}
