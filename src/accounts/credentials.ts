/**
 * Credentials: the tokens accounts use, encrypted by the vault, shared by the accounts of one
 * grant (migration 0003). This file is the only place that decrypts them.
 *
 * Refreshing is single-flight per credential: the row is locked while the platform is called, so
 * concurrent refreshers wait and then find the new tokens instead of spending the refresh token a
 * second time (platforms that rotate refresh tokens revoke the whole grant on reuse).
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { type AuditContext, recordAudit } from "../audit/audit.js";
import { type Tx, withWorkspace } from "../db/tenant.js";
import type { Logger } from "../observability/logger.js";
import { ProviderError, type Tokens, TransportError } from "../providers/provider.js";
import type { Registry } from "../providers/registry.js";
import { type Vault, VaultError } from "../vault/vault.js";

export type CredentialRow = {
  id: string;
  workspace_id: string;
  platform: string;
  subject: string;
  access_token: Buffer;
  refresh_token: Buffer | null;
  key_id: string;
  scopes: string[];
  token_expires_at: Date | null;
  grant_expires_at: Date | null;
  refreshed_at: Date | null;
  updated_at: Date;
};

const where = (workspaceId: string, credentialId: string, field: "access_token" | "refresh_token") => ({
  workspaceId,
  rowId: credentialId,
  field,
});

/** Stores a grant's tokens: a new credential, or new tokens for the same subject (a reconnection). */
export async function saveCredential(
  tx: Tx,
  vault: Vault,
  workspaceId: string,
  credential: { platform: string; subject: string; tokens: Tokens },
): Promise<string> {
  const { platform, subject, tokens } = credential;
  const { rows } = await tx.query<{ id: string }>(
    "select id from account_credentials where platform = $1 and subject = $2 for update",
    [platform, subject],
  );
  const id = rows[0]?.id ?? randomUUID();
  await tx.query(
    `insert into account_credentials (id, workspace_id, platform, subject, access_token, refresh_token, key_id, scopes,
       token_expires_at, grant_expires_at, refreshed_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
     on conflict (id) do update set access_token = excluded.access_token, refresh_token = excluded.refresh_token,
       key_id = excluded.key_id, scopes = excluded.scopes, token_expires_at = excluded.token_expires_at,
       grant_expires_at = excluded.grant_expires_at, refreshed_at = now(), updated_at = now()`,
    [
      id,
      workspaceId,
      platform,
      subject,
      vault.encrypt(tokens.accessToken, where(workspaceId, id, "access_token")),
      tokens.refreshToken
        ? vault.encrypt(tokens.refreshToken, where(workspaceId, id, "refresh_token"))
        : null,
      vault.currentKeyId,
      tokens.scopes,
      tokens.expiresAt,
      tokens.grantExpiresAt,
    ],
  );
  return id;
}

export function tokensOf(vault: Vault, row: CredentialRow): Tokens {
  return {
    accessToken: vault.decrypt(row.access_token, where(row.workspace_id, row.id, "access_token")),
    refreshToken: row.refresh_token
      ? vault.decrypt(row.refresh_token, where(row.workspace_id, row.id, "refresh_token"))
      : null,
    expiresAt: row.token_expires_at,
    grantExpiresAt: row.grant_expires_at,
    scopes: row.scopes,
  };
}

export async function findCredential(
  tx: Tx,
  credentialId: string,
  lock = false,
): Promise<CredentialRow | undefined> {
  const { rows } = await tx.query<CredentialRow>(
    `select * from account_credentials where id = $1${lock ? " for update" : ""}`,
    [credentialId],
  );
  return rows[0];
}

/** Deletes a credential no account uses any more; revokes it at the platform when that is safe. */
export async function retireCredential(
  tx: Tx,
  deps: { vault: Vault; registry: Registry; log: Logger },
  credentialId: string,
): Promise<{ deleted: boolean; revoked: boolean }> {
  const { rows } = await tx.query<{ users: number }>(
    "select count(*)::int as users from social_accounts where credential_id = $1",
    [credentialId],
  );
  if ((rows[0]?.users ?? 0) > 0) return { deleted: false, revoked: false };
  const row = await findCredential(tx, credentialId, true);
  if (!row) return { deleted: false, revoked: false };
  const adapter = deps.registry.adapter(row.platform);
  let revoked = false;
  if (adapter?.revocable) {
    try {
      await adapter.revoke(tokensOf(deps.vault, row));
      revoked = true;
    } catch (error) {
      // The tokens are deleted here whatever the platform said; a failed revocation only means
      // they stay valid at the platform until they expire.
      deps.log.warn({ err: error, platform: row.platform }, "revoking a credential at its platform failed");
    }
  }
  await tx.query("delete from account_credentials where id = $1", [credentialId]);
  return { deleted: true, revoked };
}

export type RefreshOutcome =
  | { outcome: "refreshed"; tokens: Tokens }
  | { outcome: "fresh"; tokens: Tokens }
  | { outcome: "failed"; reason: string }
  | { outcome: "not_refreshable" };

/**
 * Refreshes a credential, once however many callers ask at the same time.
 * `seenUpdatedAt`: when the caller's copy of the tokens was stored; if the row changed since, another
 * caller refreshed it already and its tokens are returned instead ("fresh").
 * `force`: refresh even if the token is not close to expiring (manual refresh, an auth error).
 */
export async function refreshCredential(
  pool: pg.Pool,
  deps: { vault: Vault; registry: Registry; log: Logger },
  workspaceId: string,
  credentialId: string,
  options: { seenUpdatedAt?: Date; force: boolean; audit: AuditContext },
): Promise<RefreshOutcome> {
  return withWorkspace(pool, workspaceId, async (tx) => {
    const row = await findCredential(tx, credentialId, true);
    if (!row) return { outcome: "failed", reason: "The account is not connected any more." };
    const adapter = deps.registry.adapter(row.platform);
    // Platforms without refresh tokens (Meta) are only asked when someone forces it: their
    // "refresh" reports how the token stands.
    if (!adapter || (adapter.refreshWindowSeconds === null && !options.force))
      return { outcome: "not_refreshable" };
    if (options.seenUpdatedAt && row.updated_at.getTime() > options.seenUpdatedAt.getTime()) {
      return { outcome: "fresh", tokens: tokensOf(deps.vault, row) };
    }
    const window = (adapter.refreshWindowSeconds ?? 0) * 1000;
    const due = row.token_expires_at === null || row.token_expires_at.getTime() - Date.now() < window;
    if (!options.force && !due) return { outcome: "fresh", tokens: tokensOf(deps.vault, row) };

    const accounts = await tx.query<{ id: string; status: string }>(
      "select id, status from social_accounts where credential_id = $1",
      [credentialId],
    );
    let tokens: Tokens;
    try {
      tokens = await adapter.refresh(tokensOf(deps.vault, row));
    } catch (error) {
      // A transport failure or a 5xx: try again later, nothing is decided.
      if (error instanceof TransportError || (error instanceof ProviderError && error.retryable)) throw error;
      if (!(error instanceof ProviderError || error instanceof VaultError)) throw error;
      // The platform refused, or the stored tokens cannot be decrypted where they are (a missing key,
      // a ciphertext that belongs to another row): either way only the person can fix it.
      const reason =
        error instanceof VaultError
          ? "The stored credentials cannot be decrypted; reconnect the account."
          : error.message;
      await tx.query(
        `update social_accounts set status = 'needs_reconnection', status_reason = $2, updated_at = now()
         where credential_id = $1 and status <> 'disconnected'`,
        [credentialId, reason],
      );
      for (const account of accounts.rows) {
        await recordAudit(tx, workspaceId, options.audit, {
          action: "token_refresh_failed",
          outcome: "failure",
          target: { type: "account", id: account.id },
          accountId: account.id,
          details: {
            platform: row.platform,
            reason,
            platformCode: error instanceof ProviderError ? error.platformCode : null,
          },
        });
      }
      return { outcome: "failed", reason };
    }
    await saveCredential(tx, deps.vault, workspaceId, {
      platform: row.platform,
      subject: row.subject,
      tokens,
    });
    await tx.query(
      `update social_accounts set status = 'active', status_reason = null, updated_at = now()
       where credential_id = $1 and status in ('expiring', 'needs_reconnection', 'active')`,
      [credentialId],
    );
    for (const account of accounts.rows) {
      await recordAudit(tx, workspaceId, options.audit, {
        action: "token_refreshed",
        target: { type: "account", id: account.id },
        accountId: account.id,
        details: {
          platform: row.platform,
          expiresAt: tokens.expiresAt?.toISOString() ?? null,
          forced: options.force,
        },
      });
    }
    return { outcome: "refreshed", tokens };
  });
}
