import { randomBytes } from "node:crypto";
import { requireUserPrincipal } from "../access/principal.js";
import type { WorkspaceAccess } from "../access/workspace-access.js";
import { auditIn } from "../audit/audit.js";
import type { Tx } from "../db/tenant.js";
import { NotFoundError } from "../errors.js";
import { decodeCursor, page } from "../http/pagination.js";
import * as repo from "./api-keys.repository.js";
import type { ApiKeyCreate } from "./api-keys.schemas.js";

export async function createApiKey(tx: Tx, access: WorkspaceAccess, input: ApiKeyCreate) {
  const user = requireUserPrincipal(access.principal);
  const secret = `${repo.SECRET_PREFIX}${randomBytes(32).toString("base64url")}`;
  const key = await repo.insertApiKey(tx, {
    workspaceId: access.workspaceId,
    name: input.name,
    secret,
    scopes: input.scopes,
    createdBy: user.userId,
    expiresAt: input.expiresAt ?? null,
  });
  await auditIn(tx, access, {
    action: "api_key_created",
    target: { type: "api_key", id: key.id },
    details: { name: key.name, prefix: key.prefix, scopes: key.scopes, expiresAt: key.expiresAt },
  });
  return { ...key, secret };
}

export async function listApiKeys(tx: Tx, query: { limit: number; cursor?: string }) {
  const after = decodeCursor("api-keys", query.cursor, 2);
  const rows = await repo.listApiKeys(tx, after, query.limit + 1);
  return page(
    rows,
    query.limit,
    "api-keys",
    (k) => k.sortKey,
    ({ sortKey: _, ...key }) => key,
  );
}

export async function revokeApiKey(tx: Tx, access: WorkspaceAccess, keyId: string): Promise<void> {
  const outcome = await repo.revokeApiKey(tx, keyId);
  if (outcome === "not_found") throw new NotFoundError();
  if (outcome === "revoked") {
    await auditIn(tx, access, { action: "api_key_revoked", target: { type: "api_key", id: keyId } });
  }
}
