-- Connected social accounts: "connect once, link anywhere". An account belongs to a workspace and is
-- linked to any number of its clients.
--
-- Tokens live apart, in account_credentials, encrypted by the vault (src/vault/vault.ts), each
-- bound to its row and field by the AES-GCM authenticated data. Several accounts may share one
-- credential: the accounts of one Sandbox consent share its rotating refresh token; an Instagram
-- account publishes with its Facebook page's token. Refreshing is single-flight per credential
-- (its row is locked while the platform is called), so a rotated refresh token is never lost.

create table account_credentials (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  platform text not null,
  -- what makes two grants "the same" for this platform (a Sandbox user, a Facebook page): a
  -- reconnection updates the credential instead of adding one
  subject text not null check (length(subject) between 1 and 200),
  access_token bytea not null,
  refresh_token bytea,
  -- the vault key both fields are encrypted with (rotation finds stale rows by it)
  key_id text not null,
  scopes text[] not null default '{}',
  -- when the access token stops working (null: it does not expire)
  token_expires_at timestamptz,
  -- when the grant itself ends and only the person can renew it (refresh token, data access)
  grant_expires_at timestamptz,
  refreshed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, id),
  unique (workspace_id, platform, subject)
);
create index account_credentials_key_idx on account_credentials (key_id);
create index account_credentials_expiry_idx on account_credentials (token_expires_at);

create table social_accounts (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  platform text not null check (platform ~ '^[a-z][a-z0-9_]{1,31}$'),
  -- the platform's own id of the page / profile / account
  platform_account_id text not null check (length(platform_account_id) between 1 and 200),
  name text not null check (length(name) between 1 and 500),
  handle text check (length(handle) <= 200),
  avatar_url text check (length(avatar_url) <= 2000),
  status text not null check (status in ('active', 'expiring', 'needs_reconnection', 'disconnected')),
  -- null once disconnected: the tokens are deleted with the last account that used them
  credential_id uuid,
  scopes text[] not null default '{}',
  missing_scopes text[] not null default '{}',
  status_reason text check (length(status_reason) <= 2000),
  -- platform specifics: the Facebook page behind an Instagram account, etc.
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  connected_by uuid references users (id) on delete set null,
  connected_at timestamptz not null default now(),
  disconnected_at timestamptz,
  updated_at timestamptz not null default now(),
  unique (workspace_id, id),
  unique (workspace_id, platform, platform_account_id),
  foreign key (workspace_id, credential_id) references account_credentials (workspace_id, id),
  check ((status = 'disconnected') = (credential_id is null))
);
create index social_accounts_credential_idx on social_accounts (workspace_id, credential_id);

create table account_clients (
  workspace_id uuid not null,
  account_id uuid not null,
  client_id uuid not null,
  linked_by uuid references users (id) on delete set null,
  linked_at timestamptz not null default now(),
  primary key (workspace_id, account_id, client_id),
  foreign key (workspace_id, account_id) references social_accounts (workspace_id, id) on delete cascade,
  foreign key (workspace_id, client_id) references clients (workspace_id, id) on delete cascade
);
create index account_clients_client_idx on account_clients (workspace_id, client_id);

-- OAuth state: server-side, bound to the person and the workspace, single-use, short-lived. Only
-- its hash is stored; the PKCE verifier is encrypted.
create table oauth_states (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  platform text not null,
  state_hash bytea not null unique,
  code_verifier bytea,
  key_id text not null,
  client_ids uuid[] not null default '{}',
  redirect_uri text not null,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null default now(),
  unique (workspace_id, id)
);

-- Accounts a completed OAuth flow found, waiting for the person to choose which to add. The tokens
-- of each are in `credentials`, encrypted; `accounts` holds only what can be shown.
create table pending_connections (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  platform text not null,
  client_ids uuid[] not null default '{}',
  accounts jsonb not null check (jsonb_typeof(accounts) = 'array'),
  credentials bytea not null,
  key_id text not null,
  expires_at timestamptz not null,
  confirmed_at timestamptz,
  created_at timestamptz not null default now(),
  unique (workspace_id, id)
);
create index pending_connections_user_idx on pending_connections (workspace_id, user_id, created_at desc);

call herald_isolate('social_accounts');
call herald_isolate('account_clients');
call herald_isolate('account_credentials');
call herald_isolate('oauth_states');
call herald_isolate('pending_connections');

grant select, insert, update, delete on social_accounts, account_clients, account_credentials,
  oauth_states, pending_connections to herald_app;

-- Cross-tenant detection (herald_locate) reads every tenant table that has an id.
grant select on social_accounts, oauth_states, pending_connections to herald_directory;
create policy directory_read on social_accounts for select to herald_directory using (true);
create policy directory_read on oauth_states for select to herald_directory using (true);
create policy directory_read on pending_connections for select to herald_directory using (true);

-- The OAuth callback arrives with a state and nothing else: this function finds it whatever its
-- workspace and marks it used in the same statement, so a state works once, whoever races it.
grant update (used_at) on oauth_states to herald_directory;
create policy directory_take on oauth_states for update to herald_directory using (true) with check (true);

create function herald_take_oauth_state(p_state_hash bytea)
  returns table (outcome text, id uuid, workspace_id uuid, user_id uuid, platform text, code_verifier bytea,
                 client_ids uuid[], redirect_uri text)
  language plpgsql volatile security definer set search_path = pg_catalog, public as $$
declare
  taken record;
begin
  update oauth_states s set used_at = now()
    where s.state_hash = p_state_hash and s.used_at is null and s.expires_at > now()
    returning s.* into taken;
  if found then
    return query select 'ok'::text, taken.id, taken.workspace_id, taken.user_id, taken.platform, taken.code_verifier,
                        taken.client_ids, taken.redirect_uri;
    return;
  end if;
  return query
    select case when s.used_at is not null then 'used' else 'expired' end, s.id, s.workspace_id, s.user_id,
           s.platform, null::bytea, s.client_ids, s.redirect_uri
    from oauth_states s where s.state_hash = p_state_hash;
end $$;

-- The token sweep looks at every workspace: credentials in use whose access token ends before
-- p_before, or whose grant ends within 14 days.
create function herald_credentials_due(p_before timestamptz, p_limit int)
  returns table (workspace_id uuid, credential_id uuid, platform text)
  language sql stable security definer set search_path = pg_catalog, public as $$
    select c.workspace_id, c.id, c.platform from account_credentials c
    where (c.token_expires_at < p_before or c.grant_expires_at < now() + interval '14 days')
      and exists (select 1 from social_accounts a where a.workspace_id = c.workspace_id
                  and a.credential_id = c.id and a.status in ('active', 'expiring'))
    order by least(c.token_expires_at, c.grant_expires_at) nulls last
    limit p_limit
  $$;

-- Key rotation looks at every workspace: rows holding secrets under another key than p_key_id.
grant select on account_credentials to herald_directory;
create policy directory_read on account_credentials for select to herald_directory using (true);

create function herald_stale_secrets(p_kind text, p_key_id text, p_after uuid, p_limit int)
  returns table (workspace_id uuid, row_id uuid)
  language plpgsql stable security definer set search_path = pg_catalog, public as $$
begin
  -- Keyset pages by id, so that a row the caller skips (it cannot be decrypted) is not returned again.
  return query execute format(
    'select workspace_id, id from %I where key_id <> $1 and ($2::uuid is null or id > $2) order by id limit $3',
    case p_kind
      when 'account_credentials' then 'account_credentials'
      when 'pending_connections' then 'pending_connections'
      when 'oauth_states' then 'oauth_states'
    end)
  using p_key_id, p_after, p_limit;
end $$;

-- Housekeeping across workspaces: OAuth states a day after they expired, pending selections once
-- they expired (their encrypted tokens go with them).
grant delete on oauth_states, pending_connections to herald_directory;
create policy directory_purge on oauth_states for delete to herald_directory using (true);
create policy directory_purge on pending_connections for delete to herald_directory using (true);

create function herald_purge_connections() returns table (states bigint, pending bigint)
  language plpgsql volatile security definer set search_path = pg_catalog, public as $$
declare
  s bigint;
  p bigint;
begin
  delete from oauth_states where expires_at < now() - interval '1 day';
  get diagnostics s = row_count;
  delete from pending_connections where expires_at < now();
  get diagnostics p = row_count;
  return query select s, p;
end $$;

grant create on schema public to herald_directory;
alter function herald_purge_connections() owner to herald_directory;
alter function herald_take_oauth_state(bytea) owner to herald_directory;
alter function herald_credentials_due(timestamptz, int) owner to herald_directory;
alter function herald_stale_secrets(text, text, uuid, int) owner to herald_directory;
revoke create on schema public from herald_directory;
revoke all on function herald_take_oauth_state(bytea), herald_credentials_due(timestamptz, int),
  herald_stale_secrets(text, text, uuid, int), herald_purge_connections() from public;
grant execute on function herald_take_oauth_state(bytea), herald_credentials_due(timestamptz, int),
  herald_stale_secrets(text, text, uuid, int), herald_purge_connections() to herald_app;
