/**
 * What the caller may do in one workspace, resolved inside the request's transaction.
 * A caller who is not a member gets the same 404 as for a workspace that does not exist.
 */
import type pg from "pg";
import { z } from "zod";
import { isUuid, type Tx, withWorkspaceLead } from "../db/tenant.js";
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

/** What the principal may do in the workspace, from the membership rows (none: not a member, 404). */
function accessFrom(principal: Principal, workspaceId: string, memberRows: unknown[]): WorkspaceAccess {
  if (principal.kind === "api_key") {
    if (principal.workspaceId !== workspaceId) throw new NotFoundError();
    return { workspaceId, principal, role: null, memberId: null, clientIds: null };
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
  principal: Principal,
  workspaceId: string,
  permission: Permission,
  fn: (tx: Tx, access: WorkspaceAccess) => Promise<T>,
): Promise<T> {
  // An API key's workspace is known without a query; a person's membership is read in the same
  // round trip as BEGIN.
  if (principal.kind === "api_key" && principal.workspaceId !== workspaceId) throw new NotFoundError();
  const lead = principal.kind === "user" ? membershipQuery(principal.userId) : undefined;
  return withWorkspaceLead(pool, workspaceId, lead, async (tx, memberRows) => {
    const access = accessFrom(principal, workspaceId, memberRows);
    authorize(access, permission);
    return fn(tx, access);
  });
}

/** `inWorkspace` bound to a pool, taking the principal and workspace id from a request. */
export function workspaceScope(pool: pg.Pool) {
  return <T>(
    request: { principal: Principal | undefined; params: { workspaceId: string } },
    permission: Permission,
    fn: (tx: Tx, access: WorkspaceAccess) => Promise<T>,
  ): Promise<T> =>
    inWorkspace(pool, requirePrincipal(request.principal), request.params.workspaceId, permission, fn);
}
