import type { WorkspaceAccess } from "../access/workspace-access.js";
import { auditIn } from "../audit/audit.js";
import type { Tx } from "../db/tenant.js";
import { ConflictError, ForbiddenError, NotFoundError } from "../errors.js";
import { decodeCursor, page } from "../http/pagination.js";
import * as repo from "./alerts.repository.js";
import type { Alert, AlertRule, AlertRuleCreate, AlertRuleUpdate } from "./alerts.schemas.js";

/**
 * Alerts cover the whole workspace (every client's accounts): a member limited to some clients
 * does not see them, as with the workspace's publish figures.
 */
function wholeWorkspace(access: WorkspaceAccess): void {
  if (access.clientIds !== null) {
    throw new ForbiddenError(
      "Alerts cover every client of the workspace; this member is limited to some clients.",
    );
  }
}

export async function listAlerts(
  tx: Tx,
  access: WorkspaceAccess,
  query: {
    limit: number;
    cursor?: string | undefined;
    status?: string | undefined;
    severity?: string | undefined;
  },
) {
  wholeWorkspace(access);
  const after = decodeCursor("alerts", query.cursor, 2);
  const rows = await repo.listAlerts(tx, query, after, query.limit + 1);
  return page(
    rows,
    query.limit,
    "alerts",
    (a) => a.sortKey,
    ({ sortKey: _, ...alert }) => alert,
  );
}

export async function acknowledgeAlert(tx: Tx, access: WorkspaceAccess, alertId: string): Promise<Alert> {
  wholeWorkspace(access);
  const alert = await repo.findAlert(tx, alertId);
  if (!alert) throw new NotFoundError();
  if (alert.status === "resolved") {
    throw new ConflictError(
      "HERALD_ALERT_RESOLVED",
      "This alert is resolved; there is nothing to acknowledge.",
    );
  }
  // Acknowledging twice keeps the first person and time.
  if (alert.status === "acknowledged") return alert;
  const userId = access.principal.kind === "user" ? access.principal.userId : null;
  const updated = await repo.acknowledgeAlert(tx, alertId, userId);
  if (!updated) throw new NotFoundError();
  await auditIn(tx, access, {
    action: "alert_acknowledged",
    target: { type: "alert", id: alertId },
    details: { rule: alert.ruleName, scopeKey: alert.scopeKey, severity: alert.severity },
  });
  return updated;
}

export async function listRules(tx: Tx, access: WorkspaceAccess, query: { limit: number; cursor?: string }) {
  wholeWorkspace(access);
  const after = decodeCursor("alert-rules", query.cursor, 2);
  const rows = await repo.listRules(tx, after, query.limit + 1);
  return page(
    rows,
    query.limit,
    "alert-rules",
    (r) => r.sortKey,
    ({ sortKey: _, ...rule }) => rule,
  );
}

export async function getRule(tx: Tx, access: WorkspaceAccess, ruleId: string): Promise<AlertRule> {
  wholeWorkspace(access);
  const rule = await repo.findRule(tx, ruleId);
  if (!rule) throw new NotFoundError();
  return rule;
}

export async function createRule(
  tx: Tx,
  access: WorkspaceAccess,
  input: AlertRuleCreate,
): Promise<AlertRule> {
  wholeWorkspace(access);
  const rule = await repo.insertRule(tx, access.workspaceId, input);
  await auditIn(tx, access, {
    action: "alert_rule_created",
    target: { type: "alert_rule", id: rule.id },
    details: { ...input },
  });
  return rule;
}

export async function updateRule(
  tx: Tx,
  access: WorkspaceAccess,
  ruleId: string,
  changes: AlertRuleUpdate,
): Promise<AlertRule> {
  await getRule(tx, access, ruleId);
  const updated = await repo.updateRule(tx, ruleId, changes);
  if (!updated) throw new NotFoundError();
  await auditIn(tx, access, {
    action: "alert_rule_updated",
    target: { type: "alert_rule", id: ruleId },
    details: { ...changes },
  });
  return updated;
}

/** Deleting a rule resolves its open alerts; its alerts stay as history. */
export async function deleteRule(tx: Tx, access: WorkspaceAccess, ruleId: string): Promise<void> {
  const rule = await getRule(tx, access, ruleId);
  const resolved = await repo.resolveRuleAlerts(tx, ruleId);
  if (!(await repo.deleteRule(tx, ruleId))) throw new NotFoundError();
  await auditIn(tx, access, {
    action: "alert_rule_deleted",
    target: { type: "alert_rule", id: ruleId },
    details: { name: rule.name, metric: rule.metric, alertsResolved: resolved },
  });
}
