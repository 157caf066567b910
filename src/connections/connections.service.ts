/**
 * Connecting accounts: authorize → the platform → callback → a pending selection → confirm.
 *
 * - The OAuth `state` is random, stored only as a hash, bound to the person and the workspace,
 *   single-use and valid 10 minutes; the PKCE verifier is encrypted beside it.
 * - The callback takes the state (herald_take_oauth_state marks it used in the same statement),
 *   checks that the person coming back is the one who left, exchanges the code and holds every
 *   account found, with its tokens encrypted, until the person chooses which to add.
 * - Confirming adds only the chosen accounts, links them to the chosen clients, and updates the
 *   tokens of accounts that were connected already (one account per platform id per workspace).
 */
import { createHash, randomUUID } from "node:crypto";
import type pg from "pg";
import { requireUserPrincipal } from "../access/principal.js";
import { canSeeClient, type WorkspaceAccess } from "../access/workspace-access.js";
import * as accounts from "../accounts/accounts.repository.js";
import type { Account } from "../accounts/accounts.schemas.js";
import { linkAndRecord } from "../accounts/accounts.service.js";
import { retireCredential, saveCredential } from "../accounts/credentials.js";
import { type AuditContext, auditIn, recordAudit } from "../audit/audit.js";
import { missingClientIds } from "../clients/clients.repository.js";
import type { Config } from "../config.js";
import { type Tx, withTransaction, withWorkspace } from "../db/tenant.js";
import { NotFoundError, ValidationError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { codeChallenge, newCodeVerifier, newState } from "../providers/oauth.js";
import {
  type DiscoveredAccount,
  ProviderError,
  platformName,
  type Tokens,
  TransportError,
} from "../providers/provider.js";
import type { Registry } from "../providers/registry.js";
import type { Vault } from "../vault/vault.js";
import type { PendingAccount, PendingConnection } from "./connections.schemas.js";

export type ConnectionDeps = { pool: pg.Pool; vault: Vault; registry: Registry; config: Config; log: Logger };

const STATE_TTL_MS = 10 * 60_000;
const PENDING_TTL_MS = 60 * 60_000;

const hashState = (state: string) => createHash("sha256").update(state).digest();

export function callbackUrl(config: Config, connectorId: string): string {
  return new URL(`/api/v1/oauth/callback/${connectorId}`, config.publicUrl).href;
}

export async function authorize(
  tx: Tx,
  access: WorkspaceAccess,
  deps: ConnectionDeps,
  platform: string,
  clientIds: string[],
): Promise<{ authorizationUrl: string; expiresAt: string }> {
  const connector = deps.registry.connectorFor(platform);
  if (!connector) throw new NotFoundError();
  // Connecting is done by a person in a browser; an API key has nobody to send to the platform.
  const user = requireUserPrincipal(access.principal);
  await assertClients(tx, access, clientIds, (index) => `body.clientIds.${index}`, "not_found");

  const id = randomUUID();
  const state = newState();
  const verifier = connector.pkce ? newCodeVerifier() : null;
  const redirectUri = callbackUrl(deps.config, connector.id);
  const expiresAt = new Date(Date.now() + STATE_TTL_MS);
  await tx.query(
    `insert into oauth_states (id, workspace_id, user_id, platform, state_hash, code_verifier, key_id, client_ids,
       redirect_uri, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      id,
      access.workspaceId,
      user.userId,
      platform,
      hashState(state),
      verifier
        ? deps.vault.encrypt(verifier, { workspaceId: access.workspaceId, rowId: id, field: "code_verifier" })
        : null,
      deps.vault.currentKeyId,
      clientIds,
      redirectUri,
      expiresAt,
    ],
  );
  await auditIn(tx, access, {
    action: "oauth_initiated",
    details: { platform, connector: connector.id, clientIds },
  });
  return {
    authorizationUrl: connector.authorizationUrl({
      state,
      codeChallenge: verifier ? codeChallenge(verifier) : null,
      redirectUri,
    }),
    expiresAt: expiresAt.toISOString(),
  };
}

export type CallbackResult =
  | { ok: true; pendingId: string; platform: string; accounts: number }
  | { ok: false; code: CallbackFailure; message: string; platform: string };

export type CallbackFailure =
  | "denied"
  | "invalid_request"
  | "state_unknown"
  | "state_used"
  | "state_expired"
  | "wrong_person"
  | "platform_error"
  | "no_accounts";

type TakenState = {
  outcome: "ok" | "used" | "expired";
  id: string;
  workspace_id: string;
  user_id: string;
  platform: string;
  code_verifier: Buffer | null;
  client_ids: string[];
  redirect_uri: string;
};

/** The OAuth redirect: every failure is a result for the page, never an exception with details. */
export async function completeCallback(
  deps: ConnectionDeps,
  input: {
    connectorId: string;
    query: Record<string, string | undefined>;
    userId: string | undefined;
    audit: AuditContext;
  },
): Promise<CallbackResult> {
  const { connectorId, query } = input;
  const connector = deps.registry.connector(connectorId);
  const shownName = platformName(connectorId);
  const fail = async (
    code: CallbackFailure,
    message: string,
    workspaceId: string | null,
    details: Record<string, unknown> = {},
  ): Promise<CallbackResult> => {
    const severity =
      code === "state_used" || code === "wrong_person" || code === "state_unknown" ? "high" : "medium";
    const record = (tx: Tx) => recordOAuthFailure(tx, workspaceId, input.audit, code, severity, details);
    await (workspaceId ? withWorkspace(deps.pool, workspaceId, record) : withTransaction(deps.pool, record));
    return { ok: false, code, message, platform: shownName };
  };

  if (!connector || !query.state) {
    return fail(
      "invalid_request",
      "This sign-in link is incomplete. Start connecting again from Herald.",
      null,
      {
        connector: connectorId,
      },
    );
  }
  const { rows } = await deps.pool.query<TakenState>("select * from herald_take_oauth_state($1)", [
    hashState(query.state),
  ]);
  const state = rows[0];
  if (!state) {
    return fail(
      "state_unknown",
      "This sign-in link is not one Herald issued. Start connecting again from Herald.",
      null,
      {
        connector: connectorId,
      },
    );
  }
  const workspaceId = state.workspace_id;
  if (state.outcome === "used") {
    return fail(
      "state_used",
      "This sign-in link was already used. Start connecting again from Herald.",
      workspaceId,
      {
        platform: state.platform,
      },
    );
  }
  if (state.outcome === "expired") {
    return fail(
      "state_expired",
      "This sign-in link expired (after 10 minutes). Start connecting again from Herald.",
      workspaceId,
      {
        platform: state.platform,
      },
    );
  }
  if (deps.registry.connectorFor(state.platform)?.id !== connector.id) {
    return fail("invalid_request", "This sign-in link belongs to another platform.", workspaceId, {
      platform: state.platform,
    });
  }
  if (input.userId !== state.user_id) {
    return fail(
      "wrong_person",
      "The person signed in to Herald here is not the one who started connecting. Sign in as them and start again.",
      workspaceId,
      { platform: state.platform },
    );
  }
  if (query.error) {
    const denied = query.error === "access_denied";
    return fail(
      denied ? "denied" : "platform_error",
      denied
        ? `You did not allow Herald to use your ${shownName} accounts. Nothing was connected.`
        : `${shownName} did not grant access (${query.error}). Nothing was connected.`,
      workspaceId,
      {
        platform: state.platform,
        error: query.error.slice(0, 100),
        errorDescription: query.error_description?.slice(0, 300),
      },
    );
  }
  if (!query.code) {
    return fail(
      "invalid_request",
      `${shownName} sent no authorization code. Start connecting again.`,
      workspaceId,
      {
        platform: state.platform,
      },
    );
  }

  let found: DiscoveredAccount[];
  try {
    const verifier = state.code_verifier
      ? deps.vault.decrypt(state.code_verifier, { workspaceId, rowId: state.id, field: "code_verifier" })
      : null;
    found = await connector.connect({
      code: query.code,
      codeVerifier: verifier,
      redirectUri: state.redirect_uri,
    });
  } catch (error) {
    if (!(error instanceof ProviderError || error instanceof TransportError)) throw error;
    deps.log.warn({ err: error, platform: state.platform }, "completing an OAuth flow failed");
    return fail(
      "platform_error",
      `${shownName} did not complete the connection: ${error.message}`,
      workspaceId,
      {
        platform: state.platform,
        platformCode: error instanceof ProviderError ? error.platformCode : null,
      },
    );
  }
  if (found.length === 0) {
    return fail(
      "no_accounts",
      `${shownName} did not give access to any account Herald can publish to.`,
      workspaceId,
      {
        platform: state.platform,
      },
    );
  }

  const pendingId = randomUUID();
  await withWorkspace(deps.pool, workspaceId, async (tx) => {
    const shown: PendingAccount[] = [];
    for (const account of found) {
      const existing = await accounts.findByPlatformId(tx, account.platform, account.platformAccountId);
      shown.push({
        platform: account.platform,
        platformAccountId: account.platformAccountId,
        name: account.name,
        handle: account.handle,
        avatarUrl: account.avatarUrl,
        missingScopes: account.missingScopes,
        connectedAccountId: existing && existing.status !== "disconnected" ? existing.id : null,
      });
    }
    await tx.query(
      `insert into pending_connections (id, workspace_id, user_id, platform, client_ids, accounts, credentials, key_id, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        pendingId,
        workspaceId,
        state.user_id,
        state.platform,
        state.client_ids,
        JSON.stringify(shown),
        deps.vault.encrypt(JSON.stringify(found.map(sealable)), {
          workspaceId,
          rowId: pendingId,
          field: "credentials",
        }),
        deps.vault.currentKeyId,
        new Date(Date.now() + PENDING_TTL_MS),
      ],
    );
    await recordAudit(tx, workspaceId, input.audit, {
      action: "oauth_completed",
      target: { type: "pending_connection", id: pendingId },
      details: { platform: state.platform, accountsFound: found.length },
    });
  });
  return { ok: true, pendingId, platform: shownName, accounts: found.length };
}

function recordOAuthFailure(
  tx: Tx,
  workspaceId: string | null,
  context: AuditContext,
  reason: CallbackFailure,
  severity: "medium" | "high",
  details: Record<string, unknown>,
) {
  return recordAudit(tx, workspaceId, context, {
    action: "oauth_failed",
    outcome: "failure",
    severity,
    details: { reason, ...details },
  });
}

type SealedAccount = Omit<DiscoveredAccount, "credential"> & {
  credential: {
    platform: DiscoveredAccount["credential"]["platform"];
    subject: string;
    tokens: Omit<Tokens, "expiresAt" | "grantExpiresAt"> & {
      expiresAt: string | null;
      grantExpiresAt: string | null;
    };
  };
};

const sealable = (account: DiscoveredAccount): SealedAccount => ({
  ...account,
  credential: {
    platform: account.credential.platform,
    subject: account.credential.subject,
    tokens: {
      ...account.credential.tokens,
      expiresAt: account.credential.tokens.expiresAt?.toISOString() ?? null,
      grantExpiresAt: account.credential.tokens.grantExpiresAt?.toISOString() ?? null,
    },
  },
});

type PendingRow = {
  id: string;
  user_id: string;
  platform: string;
  client_ids: string[];
  accounts: PendingAccount[];
  credentials: Buffer;
  created_at: Date;
  expires_at: Date;
};

const toPending = (row: PendingRow): PendingConnection => ({
  id: row.id,
  platform: row.platform,
  clientIds: row.client_ids,
  accounts: row.accounts,
  createdAt: row.created_at.toISOString(),
  expiresAt: row.expires_at.toISOString(),
});

/** The caller's own pending selections, newest first (only they can choose for them). */
export async function listPending(tx: Tx, access: WorkspaceAccess): Promise<PendingConnection[]> {
  const user = requireUserPrincipal(access.principal);
  const { rows } = await tx.query<PendingRow>(
    `select * from pending_connections where user_id = $1 and expires_at > now()
     order by created_at desc limit 50`,
    [user.userId],
  );
  return rows.map(toPending);
}

async function findPending(
  tx: Tx,
  access: WorkspaceAccess,
  pendingId: string,
  lock = false,
): Promise<PendingRow> {
  const user = requireUserPrincipal(access.principal);
  const { rows } = await tx.query<PendingRow>(
    `select * from pending_connections where id = $1 and user_id = $2 and expires_at > now()${lock ? " for update" : ""}`,
    [pendingId, user.userId],
  );
  const row = rows[0];
  if (!row) throw new NotFoundError();
  return row;
}

export async function getPending(
  tx: Tx,
  access: WorkspaceAccess,
  pendingId: string,
): Promise<PendingConnection> {
  return toPending(await findPending(tx, access, pendingId));
}

export async function confirmPending(
  tx: Tx,
  access: WorkspaceAccess,
  deps: ConnectionDeps,
  pendingId: string,
  choice: { platformAccountIds: string[]; clientIds?: string[] | undefined },
): Promise<Account[]> {
  const pending = await findPending(tx, access, pendingId, true);
  const user = requireUserPrincipal(access.principal);
  const offered = new Map(pending.accounts.map((account) => [account.platformAccountId, account]));
  const notOffered = choice.platformAccountIds
    .map((id, index) => ({ id, index }))
    .filter(({ id }) => !offered.has(id));
  if (notOffered.length > 0) {
    throw new ValidationError(
      `These accounts were not offered by this connection: ${notOffered.map(({ id }) => id).join(", ")}.`,
      notOffered.map(({ id, index }) => ({
        path: `body.platformAccountIds.${index}`,
        message: `account ${id} was not offered by this connection`,
        rule: "not_offered",
      })),
    );
  }
  const clientIds = choice.clientIds ?? pending.client_ids;
  await assertClients(tx, access, clientIds, (index) => `body.clientIds.${index}`, "validation");

  const sealed: SealedAccount[] = JSON.parse(
    deps.vault.decrypt(pending.credentials, {
      workspaceId: access.workspaceId,
      rowId: pending.id,
      field: "credentials",
    }),
  );
  const credentials = new Map<string, string>();
  const added: string[] = [];
  for (const platformAccountId of new Set(choice.platformAccountIds)) {
    const account = sealed.find((candidate) => candidate.platformAccountId === platformAccountId);
    if (!account) continue;
    const { platform, subject, tokens } = account.credential;
    let credentialId = credentials.get(`${platform}:${subject}`);
    if (!credentialId) {
      credentialId = await saveCredential(tx, deps.vault, access.workspaceId, {
        platform,
        subject,
        tokens: {
          ...tokens,
          expiresAt: tokens.expiresAt ? new Date(tokens.expiresAt) : null,
          grantExpiresAt: tokens.grantExpiresAt ? new Date(tokens.grantExpiresAt) : null,
        },
      });
      credentials.set(`${platform}:${subject}`, credentialId);
    }
    const before = await accounts.findByPlatformId(tx, account.platform, account.platformAccountId);
    const accountId = await accounts.upsertAccount(tx, {
      workspaceId: access.workspaceId,
      platform: account.platform,
      platformAccountId: account.platformAccountId,
      name: account.name,
      handle: account.handle,
      avatarUrl: account.avatarUrl,
      credentialId,
      scopes: tokens.scopes,
      missingScopes: account.missingScopes,
      metadata: account.metadata,
      connectedBy: user.userId,
    });
    if (before?.credential_id && before.credential_id !== credentialId) {
      await retireCredential(tx, deps, before.credential_id);
    }
    const reconnected = before !== undefined && before.status !== "disconnected";
    await auditIn(tx, access, {
      action: reconnected ? "account_reconnected" : "account_connected",
      target: { type: "account", id: accountId },
      accountId,
      details: {
        platform: account.platform,
        platformAccountId: account.platformAccountId,
        name: account.name,
        scopes: tokens.scopes,
        missingScopes: account.missingScopes,
        tokenExpiresAt: tokens.expiresAt,
      },
    });
    for (const clientId of clientIds) {
      await linkAndRecord(
        tx,
        access,
        { id: accountId, platform: account.platform, name: account.name },
        clientId,
      );
    }
    added.push(accountId);
  }
  // The selection is spent, and its tokens with it.
  await tx.query("delete from pending_connections where id = $1", [pending.id]);
  const result: Account[] = [];
  for (const accountId of added) {
    const row = await accounts.findAccount(tx, accountId);
    if (row) result.push(accounts.toAccount(row));
  }
  return result;
}

async function assertClients(
  tx: Tx,
  access: WorkspaceAccess,
  clientIds: string[],
  path: (index: number) => string,
  failure: "not_found" | "validation",
) {
  const invisible = clientIds.filter((id) => !canSeeClient(access, id));
  const missing = [
    ...invisible,
    ...(await missingClientIds(
      tx,
      clientIds.filter((id) => canSeeClient(access, id)),
    )),
  ];
  if (missing.length === 0) return;
  if (failure === "not_found") throw new NotFoundError();
  throw new ValidationError(
    `Unknown clients: ${missing.join(", ")}.`,
    missing.map((id) => ({
      path: path(clientIds.indexOf(id)),
      message: `client ${id} does not exist in this workspace`,
      rule: "not_found",
    })),
  );
}
