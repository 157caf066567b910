import { randomBytes, randomUUID } from "node:crypto";
import type pg from "pg";
import type { Principal, UserPrincipal } from "../access/principal.js";
import type { WorkspaceAccess } from "../access/workspace-access.js";
import { createDefaultRules } from "../alerts/alerts.repository.js";
import { type AuditContext, auditIn, recordAudit } from "../audit/audit.js";
import { type Tx, withWorkspace } from "../db/tenant.js";
import { ConflictError, isUniqueViolation, NotFoundError } from "../errors.js";
import { decodeCursor, page } from "../http/pagination.js";
import { insertMember } from "../members/members.repository.js";
import * as repo from "./workspaces.repository.js";
import type { Workspace } from "./workspaces.schemas.js";

const SLUG_CONSTRAINT = "workspaces_slug_key";

export async function createWorkspace(
  pool: pg.Pool,
  user: UserPrincipal,
  input: { name: string; slug?: string | undefined },
  audit: AuditContext,
): Promise<Workspace> {
  const base = input.slug ?? slugify(input.name);
  for (let attempt = 0; attempt < 5; attempt++) {
    const slug =
      input.slug !== undefined || attempt === 0
        ? base
        : `${base.slice(0, 56)}-${randomBytes(3).toString("hex")}`;
    const id = randomUUID();
    try {
      return await withWorkspace(pool, id, async (tx) => {
        const workspace = await repo.insertWorkspace(tx, id, input.name, slug);
        await insertMember(tx, {
          workspaceId: id,
          email: user.email,
          role: "owner",
          userId: user.userId,
          invitedBy: null,
        });
        await createDefaultRules(tx, id);
        await recordAudit(tx, id, audit, {
          action: "workspace_created",
          target: { type: "workspace", id },
          details: { name: workspace.name, slug: workspace.slug },
        });
        return workspace;
      });
    } catch (error) {
      if (!isUniqueViolation(error, SLUG_CONSTRAINT)) throw error;
      if (input.slug) throw slugTaken();
    }
  }
  throw slugTaken();
}

export async function listWorkspaces(
  pool: pg.Pool,
  principal: Principal,
  query: { limit: number; cursor?: string },
) {
  const after = decodeCursor("workspaces", query.cursor, 2);
  if (principal.kind === "api_key") {
    // A key belongs to one workspace.
    const workspace = after
      ? undefined
      : await withWorkspace(pool, principal.workspaceId, (tx) => repo.findWorkspace(tx, null));
    return { items: workspace ? [workspace] : [], nextCursor: null };
  }
  const rows = await repo.listUserWorkspaces(pool, principal.userId, after, query.limit + 1);
  return page(
    rows,
    query.limit,
    "workspaces",
    (w) => w.sortKey,
    ({ sortKey: _, ...w }) => w,
  );
}

export async function getWorkspace(tx: Tx, access: WorkspaceAccess): Promise<Workspace> {
  const workspace = await repo.findWorkspace(tx, access.role);
  if (!workspace) throw new NotFoundError();
  return workspace;
}

export async function updateWorkspace(
  tx: Tx,
  access: WorkspaceAccess,
  changes: { name?: string | undefined; slug?: string | undefined },
): Promise<Workspace> {
  try {
    const before = await getWorkspace(tx, access);
    const workspace = await repo.updateWorkspace(tx, changes, access.role);
    if (!workspace) throw new NotFoundError();
    await auditIn(tx, access, {
      action: "workspace_updated",
      target: { type: "workspace", id: workspace.id },
      details: {
        before: { name: before.name, slug: before.slug },
        after: { name: workspace.name, slug: workspace.slug },
      },
    });
    return workspace;
  } catch (error) {
    if (isUniqueViolation(error, SLUG_CONSTRAINT)) throw slugTaken();
    throw error;
  }
}

/** "Café Crème & Co" → "cafe-creme-co". */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 50)
    .replace(/-+$/g, "");
  return slug || "workspace";
}

function slugTaken() {
  return new ConflictError("HERALD_SLUG_TAKEN", "This slug is already used by another workspace.", [
    { path: "body.slug", message: "is already taken", rule: "unique" },
  ]);
}
