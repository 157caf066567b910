import type { Tx } from "../db/tenant.js";
import type { Platform } from "../providers/provider.js";
import type { Account } from "./accounts.schemas.js";

export type AccountRow = {
  id: string;
  platform: Platform;
  platform_account_id: string;
  name: string;
  handle: string | null;
  avatar_url: string | null;
  status: Account["status"];
  status_reason: string | null;
  credential_id: string | null;
  scopes: string[];
  missing_scopes: string[];
  token_expires_at: Date | null;
  grant_expires_at: Date | null;
  refreshed_at: Date | null;
  client_ids: string[];
  connected_at: Date;
  disconnected_at: Date | null;
  metadata: Record<string, string>;
  sort_key: string;
};

const iso = (date: Date | null) => date?.toISOString() ?? null;

export const toAccount = (row: AccountRow): Account => ({
  id: row.id,
  platform: row.platform,
  platformAccountId: row.platform_account_id,
  name: row.name,
  handle: row.handle,
  avatarUrl: row.avatar_url,
  status: row.status,
  statusReason: row.status_reason,
  scopes: row.scopes,
  missingScopes: row.missing_scopes,
  tokenExpiresAt: iso(row.token_expires_at),
  grantExpiresAt: iso(row.grant_expires_at),
  lastRefreshedAt: iso(row.refreshed_at),
  clientIds: row.client_ids,
  connectedAt: row.connected_at.toISOString(),
  disconnectedAt: iso(row.disconnected_at),
});

const SELECT = `
  select a.connected_at::text as sort_key, a.id, a.platform, a.platform_account_id, a.name, a.handle, a.avatar_url, a.status, a.status_reason,
         a.credential_id, a.scopes, a.missing_scopes, c.token_expires_at, c.grant_expires_at, c.refreshed_at,
         a.connected_at, a.disconnected_at, a.metadata,
         coalesce((select array_agg(l.client_id order by l.client_id) from account_clients l where l.account_id = a.id), '{}')
           as client_ids
  from social_accounts a
  left join account_credentials c on c.id = a.credential_id`;

/** Accounts, newest connection first; `visibleClients` limits them to accounts linked to those clients. */
export async function listAccounts(
  tx: Tx,
  filters: { clientId?: string | undefined; platform?: string | undefined; status?: string | undefined },
  visibleClients: string[] | null,
  after: string[] | undefined,
  limit: number,
): Promise<AccountRow[]> {
  const { rows } = await tx.query<AccountRow>(
    `${SELECT}
     where ($1::uuid is null or exists (select 1 from account_clients l where l.account_id = a.id and l.client_id = $1))
       and ($2::text is null or a.platform = $2)
       and ($3::text is null or a.status = $3)
       and ($4::uuid[] is null or exists (select 1 from account_clients l where l.account_id = a.id and l.client_id = any($4)))
       and ($5::timestamptz is null or (a.connected_at, a.id) < ($5::timestamptz, $6::uuid))
     order by a.connected_at desc, a.id desc limit $7`,
    [
      filters.clientId ?? null,
      filters.platform ?? null,
      filters.status ?? null,
      visibleClients,
      after?.[0] ?? null,
      after?.[1] ?? null,
      limit,
    ],
  );
  return rows;
}

export async function findAccount(tx: Tx, accountId: string, lock = false): Promise<AccountRow | undefined> {
  const { rows } = await tx.query<AccountRow>(`${SELECT} where a.id = $1${lock ? " for update of a" : ""}`, [
    accountId,
  ]);
  return rows[0];
}

export async function findByPlatformId(tx: Tx, platform: string, platformAccountId: string) {
  const { rows } = await tx.query<{ id: string; status: AccountRow["status"]; credential_id: string | null }>(
    "select id, status, credential_id from social_accounts where platform = $1 and platform_account_id = $2 for update",
    [platform, platformAccountId],
  );
  return rows[0];
}

export async function upsertAccount(
  tx: Tx,
  account: {
    workspaceId: string;
    platform: string;
    platformAccountId: string;
    name: string;
    handle: string | null;
    avatarUrl: string | null;
    credentialId: string;
    scopes: string[];
    missingScopes: string[];
    metadata: Record<string, string>;
    connectedBy: string | null;
  },
): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `insert into social_accounts (workspace_id, platform, platform_account_id, name, handle, avatar_url, status,
       credential_id, scopes, missing_scopes, metadata, connected_by)
     values ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $10, $11)
     on conflict (workspace_id, platform, platform_account_id) do update set
       name = excluded.name, handle = excluded.handle, avatar_url = excluded.avatar_url, status = 'active',
       status_reason = null, credential_id = excluded.credential_id, scopes = excluded.scopes,
       missing_scopes = excluded.missing_scopes, metadata = excluded.metadata, connected_by = excluded.connected_by,
       connected_at = now(), disconnected_at = null, updated_at = now()
     returning id`,
    [
      account.workspaceId,
      account.platform,
      account.platformAccountId,
      account.name,
      account.handle,
      account.avatarUrl,
      account.credentialId,
      account.scopes,
      account.missingScopes,
      JSON.stringify(account.metadata),
      account.connectedBy,
    ],
  );
  const id = rows[0]?.id;
  if (!id) throw new Error("account upsert returned no id");
  return id;
}

export async function markDisconnected(tx: Tx, accountId: string): Promise<void> {
  await tx.query("delete from account_clients where account_id = $1", [accountId]);
  await tx.query(
    `update social_accounts set status = 'disconnected', status_reason = null, credential_id = null,
       disconnected_at = now(), updated_at = now() where id = $1`,
    [accountId],
  );
}

/** Links an account to a client; false if the link already existed. */
export async function link(
  tx: Tx,
  workspaceId: string,
  accountId: string,
  clientId: string,
  by: string | null,
) {
  const { rowCount } = await tx.query(
    `insert into account_clients (workspace_id, account_id, client_id, linked_by) values ($1, $2, $3, $4)
     on conflict do nothing`,
    [workspaceId, accountId, clientId, by],
  );
  return (rowCount ?? 0) > 0;
}

export async function unlink(tx: Tx, accountId: string, clientId: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    "delete from account_clients where account_id = $1 and client_id = $2",
    [accountId, clientId],
  );
  return (rowCount ?? 0) > 0;
}
