/**
 * Suspicious activity as alerts: when src/audit/suspicious.ts writes a `security_alert` event into a
 * workspace's trail, that workspace gets a critical alert without a rule (rule_id null, migration
 * 0008), one open alert per kind of activity (scope key `kind:<rule>`), and its notification channels
 * hear of it in the same transaction. Such an alert resolves by itself once its kind has been quiet
 * (no new `security_alert` of that kind) for 24 hours; the evaluator checks every minute.
 *
 * Rule-less rather than a tenth default rule: the detection happens at the event, not in a periodic
 * measurement, so there is nothing for a rule's metric, window or threshold to mean.
 */
import { recordAudit, SYSTEM } from "../audit/audit.js";
import type { Tx } from "../db/tenant.js";
import { enqueueNotification } from "../notifications/notifications.service.js";
import { alertOf } from "./alerts.repository.js";
import type { Alert } from "./alerts.schemas.js";

export const SUSPICIOUS_ACTIVITY = "Suspicious activity";
export const SUSPICIOUS_METRIC = "suspicious_activity";
/** A suspicious-activity alert resolves after this long without a new event of its kind. */
export const SUSPICIOUS_QUIET_HOURS = 24;

/** Opens the kind's alert unless one is open (then undefined); audits and notifies when it does. */
export async function openSuspiciousActivityAlert(
  tx: Tx,
  workspaceId: string,
  kind: string,
  message: string,
  value: number,
): Promise<Alert | undefined> {
  const scopeKey = `kind:${kind}`;
  const { rows } = await tx.query(
    `insert into alerts (workspace_id, rule_id, rule_name, metric, severity, scope_key, value, samples, message)
     values ($1, null, $2, $3, 'critical', $4, $5::double precision, $5::int, $6)
     on conflict (workspace_id, scope_key) where rule_id is null and status in ('firing', 'acknowledged')
     do nothing
     returning *`,
    [workspaceId, SUSPICIOUS_ACTIVITY, SUSPICIOUS_METRIC, scopeKey, value, message.slice(0, 2000)],
  );
  if (rows[0] === undefined) return undefined;
  const alert = alertOf(rows[0]);
  await recordAudit(tx, workspaceId, SYSTEM, {
    action: "alert_fired",
    severity: "critical",
    target: { type: "alert", id: alert.id },
    details: { ruleId: null, rule: SUSPICIOUS_ACTIVITY, metric: SUSPICIOUS_METRIC, scopeKey, value },
  });
  await enqueueNotification(tx, workspaceId, {
    type: "alert.fired",
    severity: "critical",
    title: SUSPICIOUS_ACTIVITY,
    text: message,
    data: { alertId: alert.id, ruleId: null, metric: SUSPICIOUS_METRIC, scopeKey, value },
  });
  return alert;
}

/** Resolves the workspace's suspicious-activity alerts whose kind has been quiet for 24 hours. */
export async function resolveQuietSuspiciousAlerts(tx: Tx, workspaceId: string): Promise<number> {
  const { rows } = await tx.query(
    `update alerts a set status = 'resolved', resolved_at = now()
      where a.rule_id is null and a.metric = $1 and a.status in ('firing', 'acknowledged')
        and not exists (
          select 1 from audit_events e
           where e.action = 'security_alert' and 'kind:' || (e.details->>'rule') = a.scope_key
             and e.created_at > now() - make_interval(hours => $2))
      returning a.id, a.scope_key`,
    [SUSPICIOUS_METRIC, SUSPICIOUS_QUIET_HOURS],
  );
  for (const row of rows as Array<{ id: string; scope_key: string }>) {
    await recordAudit(tx, workspaceId, SYSTEM, {
      action: "alert_resolved",
      target: { type: "alert", id: row.id },
      details: { ruleId: null, rule: SUSPICIOUS_ACTIVITY, scopeKey: row.scope_key },
    });
    await enqueueNotification(tx, workspaceId, {
      type: "alert.resolved",
      severity: "critical",
      title: `Resolved: ${SUSPICIOUS_ACTIVITY}`,
      text: `No suspicious activity of this kind for ${SUSPICIOUS_QUIET_HOURS} hours (${row.scope_key}).`,
      data: { alertId: row.id, ruleId: null, metric: SUSPICIOUS_METRIC, scopeKey: row.scope_key },
    });
  }
  return rows.length;
}
