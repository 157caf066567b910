import type { Role } from "../access/permissions.js";
import type { WorkspaceAccess } from "../access/workspace-access.js";
import { auditIn } from "../audit/audit.js";
import { missingClientIds } from "../clients/clients.repository.js";
import type { Tx } from "../db/tenant.js";
import {
  ConflictError,
  ForbiddenError,
  isUniqueViolation,
  NotFoundError,
  ValidationError,
} from "../errors.js";
import { decodeCursor, page } from "../http/pagination.js";
import * as repo from "./members.repository.js";
import type { Member, MemberInvite, MemberUpdate } from "./members.schemas.js";

export async function listMembers(tx: Tx, query: { limit: number; cursor?: string }) {
  const after = decodeCursor("members", query.cursor, 2);
  const rows = await repo.listMembers(tx, after, query.limit + 1);
  return page(
    rows,
    query.limit,
    "members",
    (m) => [m.email, m.id],
    (m) => m,
  );
}

/** Invitations are accepted when a person signs up or signs in with the invited email. */
export async function inviteMember(tx: Tx, access: WorkspaceAccess, input: MemberInvite): Promise<Member> {
  assertMayAssign(access, input.role);
  const clientIds = input.clientIds ?? [];
  await assertClientsValid(tx, input.role, clientIds);
  let memberId: string;
  try {
    memberId = await repo.insertMember(
      tx,
      {
        workspaceId: access.workspaceId,
        email: input.email,
        role: input.role,
        userId: null,
        invitedBy: access.principal.kind === "user" ? access.principal.userId : null,
      },
      { restricted: input.role === "client" || clientIds.length > 0, clientIds },
    );
  } catch (error) {
    if (isUniqueViolation(error, "members_workspace_id_email_key")) {
      throw new ConflictError("HERALD_MEMBER_EXISTS", "This email is already a member or invited.", [
        { path: "body.email", message: "is already a member or invited", rule: "unique" },
      ]);
    }
    throw error;
  }
  await auditIn(tx, access, {
    action: "member_invited",
    target: { type: "member", id: memberId },
    subjectEmail: input.email,
    details: { role: input.role, clientIds },
  });
  return mustFind(tx, memberId);
}

export async function updateMember(
  tx: Tx,
  access: WorkspaceAccess,
  memberId: string,
  changes: MemberUpdate,
): Promise<Member> {
  const owners = await repo.lockOwners(tx);
  const member = await mustFind(tx, memberId);
  const role = changes.role ?? member.role;
  if (member.role === "owner") assertMayAssign(access, "owner");
  assertMayAssign(access, role);
  if (role !== "owner" && isLastOwner(owners, memberId)) throw lastOwner();
  const clientIds = changes.clientIds ?? member.clientIds;
  await assertClientsValid(tx, role, clientIds);
  if (role !== member.role) await repo.setMemberRole(tx, memberId, role);
  // New ids set the limit (empty: none); without them a member keeps theirs, so a limited manager
  // made editor stays limited, even to no client at all.
  const restricted =
    role === "client" || (changes.clientIds ? changes.clientIds.length > 0 : member.limitedToClients);
  await repo.setMemberClients(tx, access.workspaceId, memberId, { restricted, clientIds });
  const updated = await mustFind(tx, memberId);
  await auditIn(tx, access, {
    action: "member_role_changed",
    target: { type: "member", id: memberId },
    subjectEmail: member.email,
    details: {
      before: { role: member.role, limitedToClients: member.limitedToClients, clientIds: member.clientIds },
      after: { role: updated.role, limitedToClients: updated.limitedToClients, clientIds: updated.clientIds },
    },
  });
  return updated;
}

export async function removeMember(tx: Tx, access: WorkspaceAccess, memberId: string): Promise<void> {
  const owners = await repo.lockOwners(tx);
  const member = await mustFind(tx, memberId);
  if (member.role === "owner") {
    assertMayAssign(access, "owner");
    if (isLastOwner(owners, memberId)) throw lastOwner();
  }
  await repo.deleteMember(tx, memberId);
  await auditIn(tx, access, {
    action: "member_removed",
    target: { type: "member", id: memberId },
    subjectEmail: member.email,
    details: { role: member.role, status: member.status },
  });
}

async function mustFind(tx: Tx, memberId: string): Promise<Member> {
  const member = await repo.findMember(tx, memberId);
  if (!member) throw new NotFoundError();
  return member;
}

/** Only owners make, change or remove owners. */
function assertMayAssign(access: WorkspaceAccess, role: Role) {
  if (role === "owner" && access.role !== "owner") {
    throw new ForbiddenError("Only an owner can make, change or remove an owner.");
  }
}

async function assertClientsValid(tx: Tx, role: Role, clientIds: string[]) {
  if (role === "client" && clientIds.length === 0) {
    throw new ValidationError("A member with the client role must be limited to at least one client.", [
      {
        path: "body.clientIds",
        message: "must name at least one client for the client role",
        rule: "required",
      },
    ]);
  }
  const missing = await missingClientIds(tx, clientIds);
  if (missing.length > 0) {
    throw new ValidationError(
      `Unknown clients: ${missing.join(", ")}.`,
      missing.map((id) => ({
        path: `body.clientIds.${clientIds.indexOf(id)}`,
        message: `client ${id} does not exist in this workspace`,
        rule: "not_found",
      })),
    );
  }
}

function isLastOwner(activeOwnerIds: string[], memberId: string) {
  return activeOwnerIds.length === 1 && activeOwnerIds[0] === memberId;
}

function lastOwner() {
  return new ConflictError("HERALD_LAST_OWNER", "A workspace must keep at least one owner.");
}
