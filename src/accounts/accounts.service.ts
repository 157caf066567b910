import type pg from "pg";
import { canSeeClient, type WorkspaceAccess } from "../access/workspace-access.js";
import { auditIn } from "../audit/audit.js";
import { findClient } from "../clients/clients.repository.js";
import type { Tx } from "../db/tenant.js";
import { ConflictError, NotFoundError, PlatformUnavailableError } from "../errors.js";
import { decodeCursor, page } from "../http/pagination.js";
import type { Logger } from "../observability/logger.js";
import { ProviderError, platformName, TransportError } from "../providers/provider.js";
import type { Registry } from "../providers/registry.js";
import type { Vault } from "../vault/vault.js";
import * as repo from "./accounts.repository.js";
import type { Account } from "./accounts.schemas.js";
import { refreshCredential, retireCredential } from "./credentials.js";

export type AccountDeps = { pool: pg.Pool; vault: Vault; registry: Registry; log: Logger };

export async function listAccounts(
  tx: Tx,
  access: WorkspaceAccess,
  query: {
    limit: number;
    cursor?: string | undefined;
    clientId?: string | undefined;
    platform?: string | undefined;
    status?: string | undefined;
  },
) {
  const { limit, cursor, ...filters } = query;
  const after = decodeCursor("accounts", cursor, 2);
  const rows = await repo.listAccounts(tx, filters, access.clientIds, after, limit + 1);
  return page(rows, limit, "accounts", (row) => [row.sort_key, row.id], repo.toAccount);
}

/** An account the caller may see: limited members see accounts linked to their clients. */
async function visibleAccount(tx: Tx, access: WorkspaceAccess, accountId: string, lock = false) {
  const account = await repo.findAccount(tx, accountId, lock);
  const visible =
    account &&
    (access.clientIds === null || account.client_ids.some((clientId) => canSeeClient(access, clientId)));
  if (!account || !visible) throw new NotFoundError();
  return account;
}

export async function getAccount(tx: Tx, access: WorkspaceAccess, accountId: string): Promise<Account> {
  return repo.toAccount(await visibleAccount(tx, access, accountId));
}

/**
 * Disconnects: unlinked from every client, tokens deleted (and revoked at the platform when no
 * other account uses them and the platform can revoke without hurting other connections).
 */
export async function disconnectAccount(
  tx: Tx,
  access: WorkspaceAccess,
  deps: AccountDeps,
  accountId: string,
): Promise<void> {
  const account = await visibleAccount(tx, access, accountId, true);
  if (account.status === "disconnected") return;
  await repo.markDisconnected(tx, accountId);
  const retired = account.credential_id ? await retireCredential(tx, deps, account.credential_id) : undefined;
  await auditIn(tx, access, {
    action: "account_disconnected",
    target: { type: "account", id: accountId },
    accountId,
    details: {
      platform: account.platform,
      name: account.name,
      tokensDeleted: retired?.deleted ?? false,
      revokedAtPlatform: retired?.revoked ?? false,
      unlinkedClients: account.client_ids,
    },
  });
}

export async function linkClient(tx: Tx, access: WorkspaceAccess, accountId: string, clientId: string) {
  const account = await visibleAccount(tx, access, accountId);
  if (!canSeeClient(access, clientId) || !(await findClient(tx, clientId))) throw new NotFoundError();
  if (account.status === "disconnected") {
    throw new ConflictError(
      "HERALD_ACCOUNT_DISCONNECTED",
      "This account is disconnected: reconnect it before linking it.",
    );
  }
  await linkAndRecord(tx, access, account, clientId);
}

/** Links an account to a client with an `account_linked` event; linking it again records nothing. */
export async function linkAndRecord(
  tx: Tx,
  access: WorkspaceAccess,
  account: { id: string; platform: string; name: string },
  clientId: string,
) {
  const linkedBy = access.principal.kind === "user" ? access.principal.userId : null;
  if (await repo.link(tx, access.workspaceId, account.id, clientId, linkedBy)) {
    await auditIn(tx, access, {
      action: "account_linked",
      target: { type: "account", id: account.id },
      accountId: account.id,
      clientId,
      details: { platform: account.platform, name: account.name },
    });
  }
}

export async function unlinkClient(tx: Tx, access: WorkspaceAccess, accountId: string, clientId: string) {
  const account = await visibleAccount(tx, access, accountId);
  if (!canSeeClient(access, clientId)) throw new NotFoundError();
  if (await repo.unlink(tx, accountId, clientId)) {
    await auditIn(tx, access, {
      action: "account_unlinked",
      target: { type: "account", id: accountId },
      accountId,
      clientId,
      details: { platform: account.platform, name: account.name },
    });
  }
}

/** The credential to refresh for an account; 409 when there is none. */
export async function credentialToRefresh(tx: Tx, access: WorkspaceAccess, accountId: string) {
  const account = await visibleAccount(tx, access, accountId);
  if (account.status === "disconnected" || !account.credential_id) {
    throw new ConflictError(
      "HERALD_ACCOUNT_DISCONNECTED",
      "This account is disconnected: reconnect it instead.",
    );
  }
  return { credentialId: account.credential_id, platform: account.platform };
}

/** Refreshes a credential now, outside the request's transaction (it calls the platform). */
export async function refreshNow(
  deps: AccountDeps,
  access: WorkspaceAccess,
  target: { credentialId: string; platform: string },
): Promise<void> {
  const shownName = platformName(target.platform);
  let result: Awaited<ReturnType<typeof refreshCredential>>;
  try {
    result = await refreshCredential(deps.pool, deps, access.workspaceId, target.credentialId, {
      force: true,
      audit: access.audit,
    });
  } catch (error) {
    // Unreachable, or a 5xx or rate limit: the tokens stay as they were.
    if (error instanceof TransportError) throw new PlatformUnavailableError(shownName, error.message);
    if (error instanceof ProviderError && error.retryable) {
      throw new PlatformUnavailableError(shownName, error.message, error.retryAfterSeconds ?? undefined);
    }
    throw error;
  }
  if (result.outcome === "not_refreshable") {
    throw new ConflictError(
      "HERALD_NOT_REFRESHABLE",
      `${shownName} tokens cannot be refreshed by Herald; the person who connected the account reconnects it before access ends.`,
    );
  }
}
