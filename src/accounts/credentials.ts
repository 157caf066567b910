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
import { type AuditContext, recordAudit, recordAudits } from "../audit/audit.js";
import { isConnectionError, retryWhileDatabaseAway, type Tx, withWorkspace } from "../db/tenant.js";
import { enqueueNotification } from "../notifications/notifications.service.js";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
import { ProviderError, type Tokens, TransportError } from "../providers/provider.js";
import type { Registry } from "../providers/registry.js";
import { type Vault, VaultError } from "../vault/vault.js";
import { enqueueWebhookEvent } from "../webhooks/webhooks.service.js";

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
  deps: CredentialDeps,
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

type CredentialDeps = { vault: Vault; registry: Registry; log: Logger };

type RefreshOptions = { seenUpdatedAt?: Date; force: boolean; audit: AuditContext };

/**
 * Refreshes under way, per pool (one per process) and credential: callers arriving meanwhile share
 * the outcome instead of each holding a connection while they wait for the row lock.
 */
const underWay = new WeakMap<pg.Pool, Map<string, Promise<RefreshOutcome>>>();

/**
 * Refreshes a credential, once however many callers ask at the same time: callers in this process
 * share one attempt (and one database connection); across processes the row lock serialises them.
 * `seenUpdatedAt`: when the caller's copy of the tokens was stored; if the row changed since, another
 * caller refreshed it already and its tokens are returned instead ("fresh").
 * `force`: refresh even if the token is not close to expiring (manual refresh, an auth error).
 */
export function refreshCredential(
  pool: pg.Pool,
  deps: CredentialDeps,
  workspaceId: string,
  credentialId: string,
  options: RefreshOptions,
): Promise<RefreshOutcome> {
  const running = underWay.get(pool) ?? new Map<string, Promise<RefreshOutcome>>();
  underWay.set(pool, running);
  const key = `${credentialId}:${options.force}`;
  const shared = running.get(key);
  if (shared) {
    return shared.then((result) =>
      result.outcome === "refreshed" ? { outcome: "fresh", tokens: result.tokens } : result,
    );
  }
  const attempt = refreshLocked(pool, deps, workspaceId, credentialId, options).finally(() =>
    running.delete(key),
  );
  running.set(key, attempt);
  return attempt;
}

async function refreshLocked(
  pool: pg.Pool,
  deps: CredentialDeps,
  workspaceId: string,
  credentialId: string,
  options: RefreshOptions,
): Promise<RefreshOutcome> {
  let received: Received | undefined;
  return withWorkspace(pool, workspaceId, async (tx): Promise<RefreshOutcome> => {
    const row = await findCredential(tx, credentialId, true);
    if (!row) return { outcome: "failed", reason: "The account is not connected any more." };
    const adapter = deps.registry.adapter(row.platform);
    // Platforms without refresh tokens (Meta) are only asked when someone forces it: their
    // "refresh" reports how the token stands.
    if (!adapter || (adapter.refreshWindowSeconds === null && !options.force))
      return { outcome: "not_refreshable" };
    if (options.seenUpdatedAt && row.updated_at.getTime() > options.seenUpdatedAt.getTime()) {
      metrics.tokenRefresh(row.platform, "fresh");
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
      const flagged = await tx.query<{ id: string; platform: string; name: string }>(
        `update social_accounts set status = 'needs_reconnection', status_reason = $2, updated_at = now()
         where credential_id = $1 and status <> 'disconnected'
         returning id, platform, name`,
        [credentialId, reason],
      );
      // Webhooks hear of the change once: not for accounts that already needed reconnection.
      const already = new Set(
        accounts.rows.filter((a) => a.status === "needs_reconnection").map((a) => a.id),
      );
      for (const account of flagged.rows.filter((a) => !already.has(a.id))) {
        await enqueueWebhookEvent(tx, workspaceId, {
          type: "account.needs_reconnection",
          data: { accountId: account.id, platform: account.platform, name: account.name, reason },
        });
        await enqueueNotification(tx, workspaceId, {
          type: "account.needs_reconnection",
          severity: "error",
          title: `${account.name} (${account.platform}) needs reconnecting`,
          text: reason,
          data: { accountId: account.id, platform: account.platform, name: account.name, reason },
        });
      }
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
      metrics.tokenRefresh(row.platform, "failed");
      return { outcome: "failed", reason };
    }
    received = {
      tokens,
      platform: row.platform,
      subject: row.subject,
      accountIds: accounts.rows.map((a) => a.id),
    };
    await storeRefreshed(tx, deps, workspaceId, credentialId, received, options);
    metrics.tokenRefresh(row.platform, "refreshed");
    return { outcome: "refreshed", tokens };
  }).catch((error: unknown) => {
    // The platform has rotated the tokens; if they are not stored, the next refresh spends the old
    // refresh token again, and a platform that revokes the grant on reuse disconnects every
    // account of it. So when the database went away after the platform answered, the new tokens
    // are stored again as soon as it is back (for up to a minute).
    if (!received || !isConnectionError(error)) throw error;
    return storeWhenBack(pool, deps, workspaceId, credentialId, received, options);
  });
}

type Received = { tokens: Tokens; platform: string; subject: string; accountIds: string[] };

/** The refreshed tokens, the accounts' statuses and the audit events, in the caller's transaction. */
async function storeRefreshed(
  tx: Tx,
  deps: CredentialDeps,
  workspaceId: string,
  credentialId: string,
  received: Received,
  options: RefreshOptions,
) {
  const { tokens, platform, subject } = received;
  await saveCredential(tx, deps.vault, workspaceId, { platform, subject, tokens });
  await tx.query(
    `update social_accounts set status = 'active', status_reason = null, updated_at = now()
     where credential_id = $1 and status in ('expiring', 'needs_reconnection', 'active')`,
    [credentialId],
  );
  await recordAudits(
    tx,
    workspaceId,
    received.accountIds.map((accountId) => ({
      context: options.audit,
      event: {
        action: "token_refreshed",
        target: { type: "account", id: accountId },
        accountId,
        details: { platform, expiresAt: tokens.expiresAt?.toISOString() ?? null, forced: options.force },
      },
    })),
  );
}

async function storeWhenBack(
  pool: pg.Pool,
  deps: CredentialDeps,
  workspaceId: string,
  credentialId: string,
  received: Received,
  options: RefreshOptions,
): Promise<RefreshOutcome> {
  try {
    await retryWhileDatabaseAway(
      () =>
        withWorkspace(pool, workspaceId, (tx) =>
          storeRefreshed(tx, deps, workspaceId, credentialId, received, options),
        ),
      {
        withinMs: 60_000,
        onRetry: (error, retryInMs) =>
          deps.log.warn(
            { err: error, credentialId, retryInMs },
            "refreshed tokens not stored yet: the database is away",
          ),
      },
    );
  } catch (error) {
    deps.log.error(
      { err: error, credentialId },
      "refreshed tokens could not be stored; the account may need reconnecting",
    );
    throw error;
  }
  metrics.tokenRefresh(received.platform, "refreshed");
  return { outcome: "refreshed", tokens: received.tokens };
}

/** An account's status with its credential's row (null fields once disconnected). */
export type AccountCredentialRow = CredentialRow & { status: string; status_reason: string | null };

/** Reads AccountCredentialRow; callers add the `where`. */
export const ACCOUNT_CREDENTIAL_SQL = `select c.*, a.status, a.status_reason from social_accounts a
  left join account_credentials c on c.id = a.credential_id`;

/** Why Herald will not act on an account: only the person can fix it (reconnect). */
export class AccountUnavailableError extends Error {
  constructor(
    readonly accountId: string,
    readonly status: "disconnected" | "needs_reconnection",
    message: string,
  ) {
    super(message);
    this.name = "AccountUnavailableError";
  }
}

/**
 * Runs `use` with an account's tokens: the one way jobs act on a platform with an account.
 * A disconnected account, or one that needs reconnection, is refused before anything is sent.
 * When the platform says the token is expired or invalid, the credential is refreshed once
 * (single-flight, see refreshCredential) and `use` runs once more with the new tokens.
 */
export async function withAccountTokens<T>(
  pool: pg.Pool,
  deps: CredentialDeps,
  workspaceId: string,
  accountId: string,
  use: (tokens: Tokens) => Promise<T>,
  audit: AuditContext,
  /** The account's credential as a caller's transaction already read it (ACCOUNT_CREDENTIAL_SQL). */
  preloaded?: AccountCredentialRow,
): Promise<T> {
  const row =
    preloaded ??
    (await withWorkspace(pool, workspaceId, async (tx) => {
      const { rows } = await tx.query<AccountCredentialRow>(`${ACCOUNT_CREDENTIAL_SQL} where a.id = $1`, [
        accountId,
      ]);
      return rows[0];
    }));
  if (!row) throw new AccountUnavailableError(accountId, "disconnected", "The account does not exist.");
  if (row.status === "disconnected" || row.id === null) {
    throw new AccountUnavailableError(accountId, "disconnected", "The account is disconnected.");
  }
  if (row.status === "needs_reconnection") {
    throw new AccountUnavailableError(
      accountId,
      "needs_reconnection",
      row.status_reason ?? "The account needs to be reconnected.",
    );
  }
  let tokens: Tokens;
  try {
    tokens = tokensOf(deps.vault, row);
  } catch (error) {
    if (!(error instanceof VaultError)) throw error;
    // Let the refresh path record it: it marks the accounts and audits the failure.
    tokens = await renewed(pool, deps, workspaceId, accountId, row, audit);
    return use(tokens);
  }
  try {
    return await use(tokens);
  } catch (error) {
    if (!(error instanceof ProviderError && error.kind === "auth")) throw error;
    return use(await renewed(pool, deps, workspaceId, accountId, row, audit));
  }
}

async function renewed(
  pool: pg.Pool,
  deps: CredentialDeps,
  workspaceId: string,
  accountId: string,
  row: CredentialRow,
  audit: AuditContext,
): Promise<Tokens> {
  const result = await refreshCredential(pool, deps, workspaceId, row.id, {
    force: true,
    seenUpdatedAt: row.updated_at,
    audit,
  });
  if (result.outcome === "refreshed" || result.outcome === "fresh") return result.tokens;
  throw new AccountUnavailableError(
    accountId,
    "needs_reconnection",
    result.outcome === "failed" ? result.reason : "The platform refused the account's token.",
  );
}
