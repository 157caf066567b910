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
  const { actor } = context;
  await tx.query({
    name: "herald_record_audit",
    text: `insert into audit_events (workspace_id, actor_type, actor_id, actor_name, actor_email, action, target_type,
             target_id, client_id, account_id, outcome, severity, ip, user_agent, subject_email, request_id, details)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
    values: [
      workspaceId ?? NO_WORKSPACE,
      actor.type,
      actor.id,
      truncate(actor.name, 500),
      truncate(actor.email, 320),
      event.action,
      event.target?.type ?? null,
      event.target?.id ?? null,
      event.clientId ?? null,
      event.accountId ?? null,
      event.outcome ?? "success",
      event.severity ?? AUDIT_ACTIONS[event.action].severity,
      context.ip,
      truncate(context.userAgent, 1000),
      truncate(event.subjectEmail ?? null, 320),
      truncate(context.requestId, 128),
      JSON.stringify(stripSecrets(event.details ?? {})),
    ],
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
