/**
 * Writing the audit trail: `recordAudit` is the one function every feature calls, inside the
 * transaction of the change it records (a rolled-back change leaves no event). The database adds
 * the id, the time and the hashes (migration 0002); a worker seals the chain shortly after commit.
 *
 * Details are stripped of secrets here, by key and by value, whatever the caller passes.
 */
import type { FastifyRequest } from "fastify";
import type { Principal } from "../access/principal.js";
import type { Tx } from "../db/tenant.js";
import { AUDIT_ACTIONS, type AuditAction, NO_WORKSPACE, type Outcome, type Severity } from "./catalogue.js";

export type AuditActor = {
  type: "user" | "api_key" | "system" | "anonymous";
  id: string | null;
  /** Display name at the time of the event. */
  name: string | null;
  email: string | null;
};

/** Who acted and from where: built once per request (or job) and passed to every write. */
export type AuditContext = {
  actor: AuditActor;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
};

export type AuditEvent = {
  action: AuditAction;
  outcome?: Outcome;
  severity?: Severity;
  target?: { type: string; id: string };
  clientId?: string | null;
  accountId?: string | null;
  /** The person the event is about when it is not the actor (an invitee, an attempted email). */
  subjectEmail?: string | null;
  details?: Record<string, unknown>;
};

export const SYSTEM: AuditContext = {
  actor: { type: "system", id: null, name: "Herald", email: null },
  ip: null,
  userAgent: null,
  requestId: null,
};

export function actorOf(principal: Principal | undefined): AuditActor {
  if (!principal) return { type: "anonymous", id: null, name: null, email: null };
  if (principal.kind === "api_key")
    return { type: "api_key", id: principal.keyId, name: principal.name, email: null };
  return { type: "user", id: principal.userId, name: principal.name, email: principal.email };
}

/** `recordAudit` in the caller's workspace, as the caller. */
export function auditIn(tx: Tx, access: { workspaceId: string; audit: AuditContext }, event: AuditEvent) {
  return recordAudit(tx, access.workspaceId, access.audit, event);
}

/** Who acts and from where, for the audit events of a request. */
export function auditContextOf(request: FastifyRequest): AuditContext {
  return {
    actor: actorOf(request.principal),
    ip: request.ip,
    userAgent: request.headers["user-agent"] ?? null,
    requestId: request.id,
  };
}

export async function recordAudit(
  tx: Tx,
  workspaceId: string | null,
  context: AuditContext,
  event: AuditEvent,
): Promise<void> {
  await recordAudits(tx, workspaceId, [{ context, event }]);
}

/** Several events in one statement (the publish worker records a batch of outcomes at once). */
export async function recordAudits(
  tx: Tx,
  workspaceId: string | null,
  entries: { context: AuditContext; event: AuditEvent }[],
): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map(({ context, event }) => ({
    actor_type: context.actor.type,
    actor_id: context.actor.id,
    actor_name: truncate(context.actor.name, 500),
    actor_email: truncate(context.actor.email, 320),
    action: event.action,
    target_type: event.target?.type ?? null,
    target_id: event.target?.id ?? null,
    client_id: event.clientId ?? null,
    account_id: event.accountId ?? null,
    outcome: event.outcome ?? "success",
    severity: event.severity ?? AUDIT_ACTIONS[event.action].severity,
    ip: context.ip,
    user_agent: truncate(context.userAgent, 1000),
    subject_email: truncate(event.subjectEmail ?? null, 320),
    request_id: truncate(context.requestId, 128),
    details: stripSecrets(event.details ?? {}),
  }));
  await tx.query({
    name: "herald_record_audit",
    text: `insert into audit_events (workspace_id, actor_type, actor_id, actor_name, actor_email, action, target_type,
             target_id, client_id, account_id, outcome, severity, ip, user_agent, subject_email, request_id, details)
           select $1::uuid, e.actor_type, e.actor_id, e.actor_name, e.actor_email, e.action, e.target_type, e.target_id,
             e.client_id, e.account_id, e.outcome, e.severity, e.ip, e.user_agent, e.subject_email, e.request_id, e.details
           from jsonb_to_recordset($2::jsonb) as e(actor_type text, actor_id uuid, actor_name text,
             actor_email text, action text, target_type text, target_id text, client_id uuid, account_id uuid,
             outcome text, severity text, ip inet, user_agent text, subject_email text, request_id text, details jsonb)`,
    values: [workspaceId ?? NO_WORKSPACE, JSON.stringify(rows)],
  });
}

/** Keys whose values are secrets: `password`, `clientSecret`, `accessToken` (but not `tokenExpiresAt`). */
const SECRET_KEY =
  /(password|secret|token|api_?key|private_?key|code_?verifier|authorization|cookie)$|^(code|state)$/i;
const SECRET_VALUE = /^(hrld_[A-Za-z0-9_-]+|Bearer\s.+|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/;

/** A copy of `value` with secret-looking keys and values replaced by "[redacted]". */
export function stripSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8) return "[truncated]";
  if (typeof value === "string") return SECRET_VALUE.test(value) ? "[redacted]" : value;
  if (Array.isArray(value)) return value.map((item) => stripSecrets(item, depth + 1));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        SECRET_KEY.test(key) ? "[redacted]" : stripSecrets(item, depth + 1),
      ]),
    );
  }
  return value;
}

function truncate(value: string | null, max: number): string | null {
  return value === null ? null : value.slice(0, max);
}
