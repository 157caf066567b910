import { createHash } from "node:crypto";
import type pg from "pg";
import { z } from "zod";
import { SCOPES, type Scope } from "../access/permissions.js";
import { type Tx, withWorkspace } from "../db/tenant.js";
import type { ApiKey } from "./api-keys.schemas.js";

/** Secrets look like `hrld_<43 base64url characters>` (32 random bytes). */
export const SECRET_PREFIX = "hrld_";

export const hashSecret = (secret: string) => createHash("sha256").update(secret).digest();

type ApiKeyRow = {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
};

const StoredScopes = z.array(z.enum(SCOPES));
const iso = (date: Date | null) => date?.toISOString() ?? null;

const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  scopes: StoredScopes.parse(row.scopes),
  createdAt: row.created_at.toISOString(),
  expiresAt: iso(row.expires_at),
  lastUsedAt: iso(row.last_used_at),
  revokedAt: iso(row.revoked_at),
});

export async function insertApiKey(
  tx: Tx,
  key: {
    workspaceId: string;
    name: string;
    secret: string;
    scopes: Scope[];
    createdBy: string;
    expiresAt: string | null;
  },
): Promise<ApiKey> {
  const { rows } = await tx.query<ApiKeyRow>(
    `insert into api_keys (workspace_id, name, secret_hash, prefix, scopes, created_by, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7) returning *`,
    [
      key.workspaceId,
      key.name,
      hashSecret(key.secret),
      key.secret.slice(0, SECRET_PREFIX.length + 6),
      key.scopes,
      key.createdBy,
      key.expiresAt,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("api key insert returned no row");
  return toApiKey(row);
}

export async function listApiKeys(tx: Tx, after: string[] | undefined, limit: number) {
  const { rows } = await tx.query<ApiKeyRow & { created_key: string }>(
    `select *, created_at::text as created_key from api_keys
     where $1::timestamptz is null or (created_at, id) < ($1::timestamptz, $2::uuid)
     order by created_at desc, id desc limit $3`,
    [after?.[0] ?? null, after?.[1] ?? null, limit],
  );
  return rows.map((row) => ({ ...toApiKey(row), sortKey: [row.created_key, row.id] }));
}

/** Marks the key revoked; revoking a revoked key changes nothing. */
export async function revokeApiKey(
  tx: Tx,
  keyId: string,
): Promise<"revoked" | "already_revoked" | "not_found"> {
  const { rows } = await tx.query<{ was_revoked: boolean }>(
    `update api_keys k set revoked_at = coalesce(k.revoked_at, now())
     from api_keys old where old.id = k.id and k.id = $1
     returning old.revoked_at is not null as was_revoked`,
    [keyId],
  );
  const row = rows[0];
  if (!row) return "not_found";
  return row.was_revoked ? "already_revoked" : "revoked";
}

/**
 * The key a secret belongs to, if it is valid now. Looked up across workspaces through the
 * `herald_find_api_key` SECURITY DEFINER function; `last_used_at` is written at most once a minute.
 */
export async function authenticateApiKey(pool: pg.Pool, secret: string) {
  if (!secret.startsWith(SECRET_PREFIX)) return undefined;
  const { rows } = await pool.query<{
    id: string;
    workspace_id: string;
    name: string;
    scopes: string[];
    expires_at: Date | null;
    revoked_at: Date | null;
    last_used_at: Date | null;
  }>("select * from herald_find_api_key($1)", [hashSecret(secret)]);
  const key = rows[0];
  const now = Date.now();
  if (!key || key.revoked_at || (key.expires_at && key.expires_at.getTime() <= now)) return undefined;
  if (!key.last_used_at || now - key.last_used_at.getTime() > 60_000) {
    await withWorkspace(pool, key.workspace_id, (tx) =>
      tx.query("update api_keys set last_used_at = now() where id = $1", [key.id]),
    );
  }
  return {
    keyId: key.id,
    workspaceId: key.workspace_id,
    name: key.name,
    scopes: StoredScopes.parse(key.scopes),
  };
}
