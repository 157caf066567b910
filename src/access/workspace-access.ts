/**
 * What the caller may do in one workspace, resolved inside the request's transaction, and the
 * security events around it: a member refused by their role leaves an `access_denied` event; a
 * request naming an id of another workspace leaves a `cross_tenant_attempt` in that workspace.
 * Either way the caller gets the same answer as for an id that does not exist.
 */
import type { FastifyRequest } from "fastify";
import type pg from "pg";
import { z } from "zod";
import { type AuditContext, auditContextOf, recordAudit } from "../audit/audit.js";
import { raiseOnRepeatedCrossTenantAttempts } from "../audit/suspicious.js";
import { isUuid, type Tx, withWorkspace, withWorkspaceLead } from "../db/tenant.js";
import { ForbiddenError, NotFoundError } from "../errors.js";
import { type Permission, ROLES, type Role, roleAllows, scopesAllow } from "./permissions.js";
import { type Principal, requirePrincipal } from "./principal.js";

export type WorkspaceAccess = {
  workspaceId: string;
  principal: Principal;
  /** The member's role; null for API keys, which have scopes instead. */
  role: Role | null;
  memberId: string | null;
  /** The clients the caller is limited to; null means every client of the workspace. */
  clientIds: string[] | null;
  /** Who is acting and from where, for the audit events of this request. */
  audit: AuditContext;
};

/** The request as the access check sees it. */
export type Caller = {
  principal: Principal;
  audit: AuditContext;
  method: string;
  route: string;
  /** The other ids the request names (path parameters), checked when a lookup fails. */
  ids: string[];
};

const MemberRow = z.object({
  id: z.uuid(),
  role: z.enum(ROLES),
  restricted: z.boolean(),
  client_ids: z.array(z.uuid()),
});

/** The caller's membership, as a constant statement (the user id is a validated UUID, inlined). */
function membershipQuery(userId: string): string {
  if (!isUuid(userId)) throw new TypeError("membershipQuery needs a user UUID");
  return `select m.id, m.role, m.restricted,
            coalesce(array_agg(mc.client_id) filter (where mc.client_id is not null), '{}') as client_ids
     from members m
     left join member_clients mc on mc.workspace_id = m.workspace_id and mc.member_id = m.id
     where m.user_id = '${userId}' and m.status = 'active'
     group by m.id`;
}

/** What the caller may do in the workspace, from the membership rows (none: not a member, 404). */
function accessFrom(caller: Caller, workspaceId: string, memberRows: unknown[]): WorkspaceAccess {
  const { principal, audit } = caller;
  if (principal.kind === "api_key") {
    if (principal.workspaceId !== workspaceId) throw new NotFoundError();
    return { workspaceId, principal, role: null, memberId: null, clientIds: null, audit };
  }
  const member = memberRows[0] === undefined ? undefined : MemberRow.parse(memberRows[0]);
  if (!member) throw new NotFoundError();
  return {
    workspaceId,
    principal,
    role: member.role,
    memberId: member.id,
    // A restricted member sees only their clients, even when none are left.
    clientIds: member.restricted ? member.client_ids : null,
    audit,
  };
}

export function authorize(access: WorkspaceAccess, permission: Permission): void {
  const { principal } = access;
  if (principal.kind === "api_key") {
    if (!scopesAllow(principal.scopes, permission)) {
      throw new ForbiddenError(
        `This API key's scopes do not allow ${permission}.`,
        "HERALD_INSUFFICIENT_SCOPE",
      );
    }
    return;
  }
  if (!access.role || !roleAllows(access.role, permission)) {
    throw new ForbiddenError(`The ${access.role} role does not allow ${permission}.`);
  }
}

export function canSeeClient(access: WorkspaceAccess, clientId: string): boolean {
  return access.clientIds === null || access.clientIds.includes(clientId);
}

/** Runs `fn` in one transaction of the workspace, after checking membership and permission. */
export async function inWorkspace<T>(
  pool: pg.Pool,
  caller: Caller,
  workspaceId: string,
  permission: Permission,
  fn: (tx: Tx, access: WorkspaceAccess) => Promise<T>,
): Promise<T> {
  const { principal } = caller;
  let member = false;
  try {
    // An API key's workspace is known without a query; a person's membership is read in the same
    // round trip as BEGIN.
    if (principal.kind === "api_key" && principal.workspaceId !== workspaceId) throw new NotFoundError();
    const lead = principal.kind === "user" ? membershipQuery(principal.userId) : undefined;
    return await withWorkspaceLead(pool, workspaceId, lead, async (tx, memberRows) => {
      const access = accessFrom(caller, workspaceId, memberRows);
      member = true;
      authorize(access, permission);
      return fn(tx, access);
    });
  } catch (error) {
    // The request's transaction is rolled back; its security event is written on its own.
    if (error instanceof ForbiddenError && member) {
      await withWorkspace(pool, workspaceId, (tx) =>
        recordAudit(tx, workspaceId, caller.audit, {
          action: "access_denied",
          outcome: "denied",
          details: { permission, code: error.code, method: caller.method, route: caller.route },
        }),
      );
    } else if (error instanceof NotFoundError) {
      await recordCrossTenantAttempt(pool, caller, workspaceId, member);
    }
    throw error;
  }
}

/**
 * A lookup failed. If the ids belong to another workspace, that workspace's trail records the
 * attempt: the workspace itself when the caller is not its member, otherwise the owners of the
 * other ids the request named.
 */
async function recordCrossTenantAttempt(pool: pg.Pool, caller: Caller, workspaceId: string, member: boolean) {
  const ids = member ? caller.ids : [workspaceId];
  if (ids.length === 0) return;
  const { rows } = await pool.query<{ id: string; workspace_id: string }>(
    "select * from herald_locate($1::uuid[])",
    [ids],
  );
  const victims = new Set(
    rows.map((row) => row.workspace_id).filter((owner) => !member || owner !== workspaceId),
  );
  for (const victim of victims) {
    await withWorkspace(pool, victim, async (tx) => {
      await recordAudit(tx, victim, caller.audit, {
        action: "cross_tenant_attempt",
        outcome: "denied",
        details: {
          method: caller.method,
          route: caller.route,
          requestedWorkspaceId: workspaceId,
          ids: rows.filter((row) => row.workspace_id === victim).map((row) => row.id),
        },
      });
      await raiseOnRepeatedCrossTenantAttempts(tx, victim, caller.audit);
    });
  }
}

/** `inWorkspace` bound to a pool, taking the caller and the workspace id from a request. */
export function workspaceScope(pool: pg.Pool) {
  return <T>(
    request: FastifyRequest & { params: { workspaceId: string } & Record<string, unknown> },
    permission: Permission,
    fn: (tx: Tx, access: WorkspaceAccess) => Promise<T>,
  ): Promise<T> => {
    const ids = Object.entries(request.params)
      .filter(([name, value]) => name !== "workspaceId" && typeof value === "string" && isUuid(value))
      .map(([, value]) => String(value));
    const caller: Caller = {
      principal: requirePrincipal(request.principal),
      audit: auditContextOf(request),
      method: request.method,
      route: request.routeOptions.url ?? "",
      ids,
    };
    return inWorkspace(pool, caller, request.params.workspaceId, permission, fn);
  };
}
