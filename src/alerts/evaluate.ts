/**
 * Alert evaluation: for every workspace, each enabled rule's metric is computed from recorded facts
 * (publish attempts, targets, audit events), per scope key; a true condition with enough samples
 * opens an alert unless one is open for that rule and scope key, a false one resolves it. Each
 * workspace is evaluated in its own transaction under RLS, and every opened or resolved alert is
 * audited in that transaction.
 *
 * The caller gets the alerts opened in this run (`opened`): the place where notifications connect.
 */
import type pg from "pg";
import { z } from "zod";
import { recordAudit, SYSTEM } from "../audit/audit.js";
import type { Severity } from "../audit/catalogue.js";
import { type Tx, withWorkspace } from "../db/tenant.js";
import { enqueueNotification } from "../notifications/notifications.service.js";
import type { Logger } from "../observability/logger.js";
import * as repo from "./alerts.repository.js";
import type {
  AlertRule,
  AlertSeverity,
  Comparison,
  Metric,
  RuleScope,
  SystemAlert,
} from "./alerts.schemas.js";
import { resolveQuietSuspiciousAlerts } from "./suspicious-alerts.js";

/** No heartbeat younger than this: the system-wide "no live worker" alert (issue 6). */
export const NO_LIVE_WORKER_MS = 2 * 60_000;

/** An alert opened by an evaluation: what a notification needs. */
export type OpenedAlert = {
  id: string;
  workspaceId: string;
  ruleId: string;
  ruleName: string;
  severity: AlertSeverity;
  scopeKey: string;
  message: string;
  value: number | null;
  samples: number;
};

export type EvaluationResult = {
  workspaces: number;
  rulesEvaluated: number;
  fired: number;
  resolved: number;
  opened: OpenedAlert[];
  systemAlerts: SystemAlert[];
};

type Source = "attempts" | "targets" | "audit";

const FROM: Record<Source, string> = {
  attempts: `publish_attempts a
    join post_targets t on t.workspace_id = a.workspace_id and t.id = a.target_id
    join posts p on p.workspace_id = t.workspace_id and p.id = t.post_id`,
  targets: "post_targets t join posts p on p.workspace_id = t.workspace_id and p.id = t.post_id",
  audit: "audit_events e",
};

/** The column a scope groups and filters by, per source. */
const SCOPE_COLUMN: Record<Source, Record<Exclude<RuleScope, "workspace">, string>> = {
  attempts: { account: "t.account_id::text", client: "p.client_id::text", platform: "t.platform" },
  targets: { account: "t.account_id::text", client: "p.client_id::text", platform: "t.platform" },
  audit: { account: "e.account_id::text", client: "e.client_id::text", platform: "e.details->>'platform'" },
};

const WINDOW = "now() - make_interval(secs => $1::double precision)";
const FAILED = "('failed', 'retry', 'ambiguous', 'unconfirmed')";

/** Each metric: where its facts come from, which of them count, its value and its sample count. */
const METRIC_SQL: Record<Metric, { source: Source; where: string; value: string; samples: string }> = {
  // Share of finished attempts (skipped ones excluded) that did not publish, in percent.
  publish_failure_rate: {
    source: "attempts",
    where: `a.started_at >= ${WINDOW} and a.outcome is not null and a.outcome <> 'skipped'`,
    value: `100.0 * count(*) filter (where a.outcome in ${FAILED}) / nullif(count(*), 0)`,
    samples: "count(*)",
  },
  publish_attempts: {
    source: "attempts",
    where: `a.started_at >= ${WINDOW}`,
    value: "count(*)",
    samples: "count(*)",
  },
  publish_latency_avg_ms: {
    source: "attempts",
    where: `a.started_at >= ${WINDOW} and a.latency_ms is not null`,
    value: "avg(a.latency_ms)",
    samples: "count(*)",
  },
  token_refresh_success_rate: {
    source: "audit",
    where: `e.created_at >= ${WINDOW} and e.action in ('token_refreshed', 'token_refresh_failed')`,
    value: "100.0 * count(*) filter (where e.action = 'token_refreshed') / nullif(count(*), 0)",
    samples: "count(*)",
  },
  token_refresh_failures: {
    source: "audit",
    where: `e.created_at >= ${WINDOW} and e.action = 'token_refresh_failed'`,
    value: "count(*)",
    samples: "count(*)",
  },
  // Scheduled targets already due (each has its publish job waiting); the window is not used.
  queue_pending: {
    source: "targets",
    where: "t.status = 'scheduled' and t.publish_at <= now() and $1::int is not null",
    value: "count(*)",
    samples: "count(*)",
  },
  // Targets published in the window, per account (a workspace-scoped rule takes the busiest account).
  posts_per_account_hour: {
    source: "targets",
    where: `t.published_at >= ${WINDOW}`,
    value: "count(*)",
    samples: "count(*)",
  },
  // Scheduled targets still not started `window` after they were due.
  overdue_targets: {
    source: "targets",
    where: `t.status = 'scheduled' and t.publish_at < ${WINDOW}`,
    value: "count(*)",
    samples: "count(*)",
  },
};

const MeasureRow = z.object({
  scope_key: z.string(),
  value: z.coerce.number().nullable(),
  samples: z.coerce.number(),
});
export type Measure = z.infer<typeof MeasureRow>;

/** The rule's metric per scope key ('workspace', or '<scope>:<value>'). */
export async function measure(tx: Tx, rule: AlertRule): Promise<Measure[]> {
  const sql = METRIC_SQL[rule.metric];
  // Posts per account is always counted per account; a workspace-wide rule looks at the busiest.
  const scope: RuleScope =
    rule.metric === "posts_per_account_hour" && rule.scope === "workspace" ? "account" : rule.scope;
  const values: unknown[] = [rule.windowSeconds];
  let query: string;
  if (scope === "workspace") {
    query = `select 'workspace' as scope_key, ${sql.value} as value, ${sql.samples} as samples
               from ${FROM[sql.source]} where ${sql.where}`;
  } else {
    const column = SCOPE_COLUMN[sql.source][scope];
    let filter = "";
    if (rule.scopeValue !== null) {
      values.push(rule.scopeValue);
      filter = ` and ${column} = $2`;
    }
    query = `select '${scope}:' || coalesce(${column}, 'none') as scope_key, ${sql.value} as value,
                    ${sql.samples} as samples
               from ${FROM[sql.source]} where ${sql.where}${filter} group by 1`;
  }
  const { rows } = await tx.query(query, values);
  const measures = rows.map((row) => MeasureRow.parse(row));
  if (scope !== rule.scope) {
    const busiest = measures.reduce<Measure | undefined>(
      (max, m) => (max === undefined || (m.value ?? 0) > (max.value ?? 0) ? m : max),
      undefined,
    );
    return [{ scope_key: "workspace", value: busiest?.value ?? 0, samples: busiest?.samples ?? 0 }];
  }
  return measures;
}

export function breaches(comparison: Comparison, value: number, threshold: number): boolean {
  switch (comparison) {
    case ">":
      return value > threshold;
    case ">=":
      return value >= threshold;
    case "<":
      return value < threshold;
    case "<=":
      return value <= threshold;
  }
}

const AUDIT_SEVERITY: Record<AlertSeverity, Severity> = {
  info: "low",
  warning: "medium",
  error: "high",
  critical: "critical",
};

function describe(rule: AlertRule, m: Measure): string {
  const value = m.value === null ? "n/a" : String(Math.round(m.value * 100) / 100);
  const where = m.scope_key === "workspace" ? "" : ` (${m.scope_key})`;
  return `${rule.name}${where}: ${rule.metric} is ${value}, ${rule.comparison} ${rule.threshold} over the last ${rule.windowSeconds} s (${m.samples} samples)`;
}

/** One workspace's rules, in the caller's workspace transaction. */
export async function evaluateWorkspace(tx: Tx, workspaceId: string) {
  const rules = await repo.enabledRules(tx);
  const opened: OpenedAlert[] = [];
  let resolved = 0;
  for (const rule of rules) {
    const open = await repo.openAlerts(tx, rule.id);
    const firing = new Set<string>();
    for (const m of await measure(tx, rule)) {
      if (m.value === null || m.samples < rule.minSamples) continue;
      if (!breaches(rule.comparison, m.value, rule.threshold)) continue;
      firing.add(m.scope_key);
      if (open.has(m.scope_key)) continue;
      const message = describe(rule, m);
      const alert = await repo.openAlert(tx, workspaceId, {
        rule,
        scopeKey: m.scope_key,
        value: m.value,
        samples: m.samples,
        message,
      });
      if (!alert) continue; // a concurrent evaluation opened it first
      await recordAudit(tx, workspaceId, SYSTEM, {
        action: "alert_fired",
        severity: AUDIT_SEVERITY[rule.severity],
        target: { type: "alert", id: alert.id },
        details: {
          ruleId: rule.id,
          rule: rule.name,
          metric: rule.metric,
          scopeKey: m.scope_key,
          value: m.value,
          samples: m.samples,
          threshold: rule.threshold,
          severity: rule.severity,
        },
      });
      // The workspace's notification channels hear of it in the same transaction.
      await enqueueNotification(tx, workspaceId, {
        type: "alert.fired",
        severity: rule.severity,
        title: rule.name,
        text: message,
        data: {
          alertId: alert.id,
          ruleId: rule.id,
          metric: rule.metric,
          scopeKey: m.scope_key,
          value: m.value,
        },
      });
      opened.push({
        id: alert.id,
        workspaceId,
        ruleId: rule.id,
        ruleName: rule.name,
        severity: rule.severity,
        scopeKey: m.scope_key,
        message,
        value: m.value,
        samples: m.samples,
      });
    }
    for (const [scopeKey, alert] of open) {
      if (firing.has(scopeKey)) continue;
      if (!(await repo.resolveAlert(tx, alert.id))) continue;
      resolved++;
      await recordAudit(tx, workspaceId, SYSTEM, {
        action: "alert_resolved",
        target: { type: "alert", id: alert.id },
        details: { ruleId: rule.id, rule: rule.name, scopeKey },
      });
      await enqueueNotification(tx, workspaceId, {
        type: "alert.resolved",
        severity: rule.severity,
        title: `Resolved: ${rule.name}`,
        text: `The condition of “${rule.name}” cleared (${scopeKey}).`,
        data: { alertId: alert.id, ruleId: rule.id, metric: rule.metric, scopeKey },
      });
    }
  }
  resolved += await resolveQuietSuspiciousAlerts(tx, workspaceId);
  return { rulesEvaluated: rules.length, opened, resolved };
}

/** System-wide checks with no workspace: reported, not stored (src/alerts/README.md). */
export async function systemAlerts(pool: pg.Pool): Promise<SystemAlert[]> {
  const { rows } = await pool.query(
    `select count(*) filter (where stopped_at is null and last_seen_at > now() - make_interval(secs => $1)) as live,
            floor(extract(epoch from now() - max(last_seen_at))) as silent_s
       from worker_heartbeats`,
    [NO_LIVE_WORKER_MS / 1000],
  );
  const row = z.object({ live: z.coerce.number(), silent_s: z.coerce.number().nullable() }).parse(rows[0]);
  if (row.live > 0) return [];
  return [
    {
      key: "no_live_worker",
      severity: "critical",
      message:
        row.silent_s === null
          ? "No live worker: no worker has ever sent a heartbeat"
          : `No live worker: the last heartbeat was ${row.silent_s} s ago`,
    },
  ];
}

/** Every workspace's rules, then the system checks. A workspace that fails is logged and skipped. */
export async function evaluateAlerts(pool: pg.Pool, log: Logger): Promise<EvaluationResult> {
  const { rows } = await pool.query("select workspace_id from herald_alert_workspaces()");
  const ids = rows.map((row) => z.uuid().parse(row.workspace_id));
  const result: EvaluationResult = {
    workspaces: ids.length,
    rulesEvaluated: 0,
    fired: 0,
    resolved: 0,
    opened: [],
    systemAlerts: [],
  };
  for (const workspaceId of ids) {
    try {
      const one = await withWorkspace(pool, workspaceId, (tx) => evaluateWorkspace(tx, workspaceId));
      result.rulesEvaluated += one.rulesEvaluated;
      result.fired += one.opened.length;
      result.resolved += one.resolved;
      result.opened.push(...one.opened);
    } catch (error) {
      log.error({ err: error, workspaceId }, "alert evaluation failed for a workspace");
    }
  }
  result.systemAlerts = await systemAlerts(pool);
  for (const alert of result.opened) {
    log.warn({ alertId: alert.id, workspaceId: alert.workspaceId, severity: alert.severity }, alert.message);
  }
  for (const alert of result.systemAlerts) log.error({ alert: alert.key }, alert.message);
  return result;
}
