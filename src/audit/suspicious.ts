/**
 * Suspicious-activity rules: each raises one `security_alert` event when its threshold is reached
 * within its window (once, at the crossing, not on every event after it). One raised in a workspace
 * also opens a critical alert there (src/alerts/suspicious-alerts.ts); sign-in failures belong to no
 * workspace, so they stay audit events in the workspace-less chain.
 */
import { openSuspiciousActivityAlert } from "../alerts/suspicious-alerts.js";
import type { Tx } from "../db/tenant.js";
import { type AuditContext, recordAudit } from "./audit.js";

export const RULES = {
  failedSignInsForAccount: { threshold: 5, windowMinutes: 15 },
  failedSignInsFromIp: { threshold: 20, windowMinutes: 15 },
  crossTenantAttempts: { threshold: 3, windowMinutes: 60 },
} as const;

/** Called after a `cross_tenant_attempt` was written into the victim workspace's trail. */
export async function raiseOnRepeatedCrossTenantAttempts(tx: Tx, workspaceId: string, context: AuditContext) {
  const { actor } = context;
  if (!actor.id) return;
  const rule = RULES.crossTenantAttempts;
  const { rows } = await tx.query<{ attempts: number }>(
    `select count(*)::int as attempts from audit_events
     where workspace_id = $1 and action = 'cross_tenant_attempt' and actor_id = $2
       and created_at > now() - make_interval(mins => $3)`,
    [workspaceId, actor.id, rule.windowMinutes],
  );
  if (rows[0]?.attempts !== rule.threshold) return;
  await recordAudit(tx, workspaceId, context, {
    action: "security_alert",
    severity: "critical",
    outcome: "denied",
    details: {
      rule: "repeated_cross_tenant_attempts",
      attempts: rule.threshold,
      windowMinutes: rule.windowMinutes,
    },
  });
  // The workspace's alert (one open per kind) and its notification, in the same transaction.
  await openSuspiciousActivityAlert(
    tx,
    workspaceId,
    "repeated_cross_tenant_attempts",
    `Suspicious activity: ${rule.threshold} cross-tenant attempts by ${actor.type} ${actor.id} within ${rule.windowMinutes} minutes`,
    rule.threshold,
  );
}

/** Called after a failed sign-in, with the failures counted in the current throttle window. */
export async function raiseOnRepeatedSignInFailures(
  tx: Tx,
  context: AuditContext,
  email: string,
  failures: { account: number; ip: number },
) {
  const account = RULES.failedSignInsForAccount;
  if (failures.account === account.threshold) {
    await recordAudit(tx, null, context, {
      action: "security_alert",
      outcome: "failure",
      subjectEmail: email,
      details: {
        rule: "repeated_failed_sign_ins_for_account",
        failures: account.threshold,
        windowMinutes: account.windowMinutes,
      },
    });
  }
  const ip = RULES.failedSignInsFromIp;
  if (failures.ip === ip.threshold) {
    await recordAudit(tx, null, context, {
      action: "security_alert",
      outcome: "failure",
      details: {
        rule: "repeated_failed_sign_ins_from_ip",
        failures: ip.threshold,
        windowMinutes: ip.windowMinutes,
      },
    });
  }
}
