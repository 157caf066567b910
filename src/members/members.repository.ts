import type { Role } from "../access/permissions.js";
import type { Tx } from "../db/tenant.js";
import type { Member } from "./members.schemas.js";

type MemberRow = {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  status: "invited" | "active";
  restricted: boolean;
  client_ids: string[];
  created_at: Date;
};

const SELECT_MEMBER = `
  select m.id, m.email, u.name, m.role, m.status, m.restricted, m.created_at,
         coalesce(array_agg(mc.client_id order by mc.client_id) filter (where mc.client_id is not null), '{}') as client_ids
  from members m
  left join users u on u.id = m.user_id
  left join member_clients mc on mc.workspace_id = m.workspace_id and mc.member_id = m.id`;

const toMember = (row: MemberRow): Member => ({
  id: row.id,
  email: row.email,
  name: row.name,
  role: row.role,
  status: row.status,
  limitedToClients: row.restricted,
  clientIds: row.client_ids,
  createdAt: row.created_at.toISOString(),
});

export async function listMembers(tx: Tx, after: string[] | undefined, limit: number): Promise<Member[]> {
  const { rows } = await tx.query<MemberRow>(
    `${SELECT_MEMBER}
     where $1::text is null or (m.email, m.id) > ($1::text, $2::uuid)
     group by m.id, u.name order by m.email, m.id limit $3`,
    [after?.[0] ?? null, after?.[1] ?? null, limit],
  );
  return rows.map(toMember);
}

export async function findMember(tx: Tx, memberId: string): Promise<Member | undefined> {
  const { rows } = await tx.query<MemberRow>(`${SELECT_MEMBER} where m.id = $1 group by m.id, u.name`, [
    memberId,
  ]);
  return rows[0] && toMember(rows[0]);
}

export async function insertMember(
  tx: Tx,
  member: { workspaceId: string; email: string; role: Role; userId: string | null; invitedBy: string | null },
  scope: { restricted: boolean; clientIds: string[] } = { restricted: false, clientIds: [] },
): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `insert into members (workspace_id, user_id, email, role, status, invited_by, restricted)
     values ($1, $2, $3, $4, $5, $6, $7) returning id`,
    [
      member.workspaceId,
      member.userId,
      member.email,
      member.role,
      member.userId ? "active" : "invited",
      member.invitedBy,
      scope.restricted,
    ],
  );
  const id = rows[0]?.id;
  if (!id) throw new Error("member insert returned no id");
  await insertMemberClients(tx, member.workspaceId, id, scope.clientIds);
  return id;
}

export async function setMemberRole(tx: Tx, memberId: string, role: Role): Promise<void> {
  await tx.query("update members set role = $2, updated_at = now() where id = $1", [memberId, role]);
}

/** Which clients a member sees: only `clientIds` when restricted, otherwise every client. */
export async function setMemberClients(
  tx: Tx,
  workspaceId: string,
  memberId: string,
  scope: { restricted: boolean; clientIds: string[] },
) {
  const { restricted, clientIds } = scope;
  await tx.query("update members set restricted = $2 where id = $1", [memberId, restricted]);
  await tx.query("delete from member_clients where member_id = $1", [memberId]);
  await insertMemberClients(tx, workspaceId, memberId, clientIds);
}

async function insertMemberClients(tx: Tx, workspaceId: string, memberId: string, clientIds: string[]) {
  if (clientIds.length === 0) return;
  await tx.query(
    `insert into member_clients (workspace_id, member_id, client_id)
     select $1, $2, unnest($3::uuid[]) on conflict do nothing`,
    [workspaceId, memberId, clientIds],
  );
}

export async function deleteMember(tx: Tx, memberId: string): Promise<void> {
  await tx.query("delete from members where id = $1", [memberId]);
}

/** Locks the owner rows so that two concurrent demotions cannot leave a workspace without owner. */
export async function lockOwners(tx: Tx): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    "select id from members where role = 'owner' and status = 'active' order by id for update",
  );
  return rows.map((row) => row.id);
}
