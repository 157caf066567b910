import type pg from "pg";
import type { Role } from "../access/permissions.js";
import type { Tx } from "../db/tenant.js";
import type { Workspace } from "./workspaces.schemas.js";

type WorkspaceRow = { id: string; name: string; slug: string; created_at: Date; created_key: string };

const toWorkspace = (row: WorkspaceRow, role: Role | null): Workspace => ({
  id: row.id,
  name: row.name,
  slug: row.slug,
  role,
  createdAt: row.created_at.toISOString(),
});

export async function insertWorkspace(tx: Tx, id: string, name: string, slug: string): Promise<Workspace> {
  const { rows } = await tx.query<WorkspaceRow>(
    "insert into workspaces (id, name, slug) values ($1, $2, $3) returning *, created_at::text as created_key",
    [id, name, slug],
  );
  return toWorkspace(one(rows), "owner");
}

export async function findWorkspace(tx: Tx, role: Role | null): Promise<Workspace | undefined> {
  // RLS leaves exactly the current workspace visible.
  const { rows } = await tx.query<WorkspaceRow>("select *, created_at::text as created_key from workspaces");
  return rows[0] && toWorkspace(rows[0], role);
}

export async function updateWorkspace(
  tx: Tx,
  changes: { name?: string | undefined; slug?: string | undefined },
  role: Role | null,
): Promise<Workspace | undefined> {
  const { rows } = await tx.query<WorkspaceRow>(
    `update workspaces set name = coalesce($1, name), slug = coalesce($2, slug), updated_at = now()
     returning *, created_at::text as created_key`,
    [changes.name ?? null, changes.slug ?? null],
  );
  return rows[0] && toWorkspace(rows[0], role);
}

/** The workspaces a person is an active member of, across tenants (a SECURITY DEFINER function). */
export async function listUserWorkspaces(
  db: pg.Pool | Tx,
  userId: string,
  after: string[] | undefined,
  limit: number,
): Promise<Array<Workspace & { sortKey: string[] }>> {
  const { rows } = await db.query<WorkspaceRow & { role: Role }>(
    `select workspace_id as id, name, slug, role, created_at, created_at::text as created_key
     from herald_user_workspaces($1)
     where $2::timestamptz is null or (created_at, workspace_id) > ($2::timestamptz, $3::uuid)
     order by created_at, workspace_id
     limit $4`,
    [userId, after?.[0] ?? null, after?.[1] ?? null, limit],
  );
  return rows.map((row) => ({ ...toWorkspace(row, row.role), sortKey: [row.created_key, row.id] }));
}

function one<T>(rows: T[]): T {
  const row = rows[0];
  if (row === undefined) throw new Error("expected one row");
  return row;
}
