/**
 * What the caller may do in one workspace, resolved inside the request's transaction.
 * A caller who is not a member gets the same 404 as for a workspace that does not exist.
 */
import type pg from "pg";
import { type Tx, withWorkspace } from "../db/tenant.js";
import { ForbiddenError, NotFoundError } from "../errors.js";
import { type Permission, type Role, roleAllows, scopesAllow } from "./permissions.js";
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

export async function resolveAccess(
  tx: Tx,
  principal: Principal,
  workspaceId: string,
): Promise<WorkspaceAccess> {
  if (principal.kind === "api_key") {
    if (principal.workspaceId !== workspaceId) throw new NotFoundError();
    return { workspaceId, principal, role: null, memberId: null, clientIds: null };
  }
  const { rows } = await tx.query<{ id: string; role: Role; client_ids: string[] }>(
    `select m.id, m.role,
            coalesce(array_agg(mc.client_id) filter (where mc.client_id is not null), '{}') as client_ids
     from members m
     left join member_clients mc on mc.workspace_id = m.workspace_id and mc.member_id = m.id
     where m.user_id = $1 and m.status = 'active'
     group by m.id`,
    [principal.userId],
  );
  const member = rows[0];
  if (!member) throw new NotFoundError();
  // A client-role member sees only their clients, even when none are left; others with no
  // restriction rows see every client.
  const limited = member.role === "client" || member.client_ids.length > 0;
  return {
    workspaceId,
    principal,
    role: member.role,
    memberId: member.id,
    clientIds: limited ? member.client_ids : null,
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
  return withWorkspace(pool, workspaceId, async (tx) => {
    const access = await resolveAccess(tx, principal, workspaceId);
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
