-- Connected social accounts: "connect once, link anywhere". An account belongs to a workspace and is
-- linked to any number of its clients. Its tokens live apart, encrypted by the vault
-- (src/vault/vault.ts), each bound to its row and field by the AES-GCM authenticated data.

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
  scopes text[] not null default '{}',
  missing_scopes text[] not null default '{}',
  -- when the access token stops working (null: it does not expire)
  token_expires_at timestamptz,
  -- when the grant itself ends and only the person can renew it (refresh token, data access)
  grant_expires_at timestamptz,
  last_refreshed_at timestamptz,
  status_reason text check (length(status_reason) <= 2000),
  -- platform specifics: the Facebook page behind an Instagram account, etc.
  metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
  connected_by uuid references users (id) on delete set null,
  connected_at timestamptz not null default now(),
  disconnected_at timestamptz,
  updated_at timestamptz not null default now(),
  unique (workspace_id, id),
  unique (workspace_id, platform, platform_account_id)
);
create index social_accounts_token_expiry_idx on social_accounts (token_expires_at) where status in ('active', 'expiring');

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

-- One row per connected account; deleted when the account is disconnected.
create table account_credentials (
  workspace_id uuid not null,
  account_id uuid not null primary key,
  access_token bytea not null,
  refresh_token bytea,
  -- the vault key both fields are encrypted with (rotation finds stale rows by it)
  key_id text not null,
  updated_at timestamptz not null default now(),
  foreign key (workspace_id, account_id) references social_accounts (workspace_id, id) on delete cascade
);
create index account_credentials_key_idx on account_credentials (key_id);

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

alter table social_accounts enable row level security;
alter table social_accounts force row level security;
create policy workspace_isolation on social_accounts to herald_app
  using (workspace_id = (select herald_workspace_id()))
  with check (workspace_id = (select herald_workspace_id()));

alter table account_clients enable row level security;
alter table account_clients force row level security;
create policy workspace_isolation on account_clients to herald_app
  using (workspace_id = (select herald_workspace_id()))
  with check (workspace_id = (select herald_workspace_id()));

alter table account_credentials enable row level security;
alter table account_credentials force row level security;
create policy workspace_isolation on account_credentials to herald_app
  using (workspace_id = (select herald_workspace_id()))
  with check (workspace_id = (select herald_workspace_id()));

alter table oauth_states enable row level security;
alter table oauth_states force row level security;
create policy workspace_isolation on oauth_states to herald_app
  using (workspace_id = (select herald_workspace_id()))
  with check (workspace_id = (select herald_workspace_id()));

alter table pending_connections enable row level security;
alter table pending_connections force row level security;
create policy workspace_isolation on pending_connections to herald_app
  using (workspace_id = (select herald_workspace_id()))
  with check (workspace_id = (select herald_workspace_id()));

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

-- The token sweep looks at every workspace: accounts whose access token ends before p_before, or
-- whose grant ends within 14 days.
grant select (id, workspace_id, platform, status, token_expires_at, grant_expires_at) on social_accounts
  to herald_directory;

create function herald_accounts_due(p_before timestamptz, p_limit int)
  returns table (workspace_id uuid, account_id uuid, platform text)
  language sql stable security definer set search_path = pg_catalog, public as $$
    select a.workspace_id, a.id, a.platform from social_accounts a
    where a.status in ('active', 'expiring')
      and (a.token_expires_at < p_before or a.grant_expires_at < now() + interval '14 days')
    order by least(a.token_expires_at, a.grant_expires_at) nulls last
    limit p_limit
  $$;

-- Key rotation looks at every workspace: rows holding secrets under another key than p_key_id.
grant select (workspace_id, account_id, key_id) on account_credentials to herald_directory;
grant select (id, workspace_id, key_id) on pending_connections to herald_directory;
create policy directory_read on account_credentials for select to herald_directory using (true);

create function herald_stale_secrets(p_key_id text, p_limit int)
  returns table (kind text, workspace_id uuid, row_id uuid)
  language sql stable security definer set search_path = pg_catalog, public as $$
    (select 'account_credentials', c.workspace_id, c.account_id from account_credentials c
     where c.key_id <> p_key_id limit p_limit)
    union all
    (select 'pending_connections', p.workspace_id, p.id from pending_connections p
     where p.key_id <> p_key_id limit p_limit)
    union all
    (select 'oauth_states', s.workspace_id, s.id from oauth_states s
     where s.key_id <> p_key_id limit p_limit)
  $$;

grant create on schema public to herald_directory;
alter function herald_take_oauth_state(bytea) owner to herald_directory;
alter function herald_accounts_due(timestamptz, int) owner to herald_directory;
alter function herald_stale_secrets(text, int) owner to herald_directory;
revoke create on schema public from herald_directory;
revoke all on function herald_take_oauth_state(bytea), herald_accounts_due(timestamptz, int),
  herald_stale_secrets(text, int) from public;
grant execute on function herald_take_oauth_state(bytea), herald_accounts_due(timestamptz, int),
  herald_stale_secrets(text, int) to herald_app;
