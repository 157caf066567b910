-- Herald foundation: roles, identity (users and sessions), tenancy (workspaces, members, clients),
-- API keys, sign-in throttling and worker heartbeats.
--
-- Row-level security: every tenant table has workspace_id, RLS enabled AND forced, and one policy
-- comparing workspace_id with the transaction-local setting herald.workspace_id (set by
-- withWorkspace() in src/db/tenant.ts). The application role herald_app owns nothing and cannot
-- bypass RLS. The only cross-workspace reads are the SECURITY DEFINER functions at the end, owned by
-- herald_directory, a role whose only policies are the ones those functions need.

do $$
begin
  create role herald_app nologin nobypassrls;
exception when duplicate_object or unique_violation then null;
end $$;

do $$
begin
  create role herald_directory nologin nobypassrls;
exception when duplicate_object or unique_violation then null;
end $$;

-- The migrating role must be able to SET ROLE herald_app (the application pools do) and to hand
-- functions to herald_directory.
grant herald_app to current_user;
grant herald_directory to current_user;

create function herald_workspace_id() returns uuid
  language sql stable
  as $$ select nullif(current_setting('herald.workspace_id', true), '')::uuid $$;

grant execute on function herald_workspace_id() to herald_app;

-- Every tenant table is isolated the same way: row-level security enabled and forced (so its owner
-- obeys it too), and one policy letting the application role see and write only the rows of the
-- transaction's workspace. Migrations call this for each table that has a workspace_id.
create procedure herald_isolate(p_table regclass) language plpgsql as $$
begin
  execute format('alter table %s enable row level security', p_table);
  execute format('alter table %s force row level security', p_table);
  execute format('create policy workspace_isolation on %s to herald_app
    using (workspace_id = (select herald_workspace_id()))
    with check (workspace_id = (select herald_workspace_id()))', p_table);
end $$;
revoke execute on procedure herald_isolate(regclass) from public;

-- Identity. Column names follow better-auth's model (mapped to snake_case in src/auth/auth.ts).
-- These are not tenant tables: a person exists before and across workspaces.
create table users (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  email text not null unique,
  email_verified boolean not null default false,
  image text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  token text not null unique,
  expires_at timestamptz not null,
  ip_address text,
  user_agent text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index sessions_user_id_idx on sessions (user_id);

-- better-auth calls this table "account"; Herald's accounts are social accounts, so it is renamed.
create table user_credentials (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  account_id text not null,
  provider_id text not null,
  access_token text,
  refresh_token text,
  id_token text,
  access_token_expires_at timestamptz,
  refresh_token_expires_at timestamptz,
  scope text,
  password text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index user_credentials_user_id_idx on user_credentials (user_id);

create table verifications (
  id uuid primary key default gen_random_uuid(),
  identifier text not null,
  value text not null,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index verifications_identifier_idx on verifications (identifier);

grant select, insert, update, delete on users, sessions, user_credentials, verifications to herald_app;

-- Tenancy.
create table workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  slug text not null unique check (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table members (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  -- null while the invitation is pending: invitations are by email, accepted on sign-up/sign-in
  user_id uuid references users (id) on delete cascade,
  email text not null check (email = lower(email)),
  role text not null check (role in ('owner', 'admin', 'manager', 'editor', 'viewer', 'client')),
  status text not null check (status in ('invited', 'active')),
  -- true: the member sees only the clients in member_clients (possibly none, e.g. after those
  -- clients were deleted); false: every client. Explicit, so that deleting a client can never
  -- widen anyone's access.
  restricted boolean not null default false,
  invited_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, id),
  unique (workspace_id, email),
  unique (workspace_id, user_id),
  check ((status = 'active') = (user_id is not null)),
  check (role <> 'client' or restricted)
);
create index members_user_id_idx on members (user_id);
create index members_invited_email_idx on members (email) where status = 'invited';

create table clients (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  name text not null check (length(name) between 1 and 200),
  -- the name folded for comparison (Unicode case folding in the application, the same whatever the
  -- database's locale): unique per workspace and the list order
  name_key text not null,
  timezone text not null default 'UTC',
  -- [{ "weekday": 1..7 (ISO, Monday = 1), "time": "HH:MM" }] in the client's time zone
  posting_times jsonb not null default '[]' check (jsonb_typeof(posting_times) = 'array'),
  requires_approval boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, id)
);
create unique index clients_name_key_idx on clients (workspace_id, name_key);

-- The clients of a restricted member, one row each.
-- The composite foreign keys make a cross-workspace link impossible, whatever the code does.
create table member_clients (
  workspace_id uuid not null,
  member_id uuid not null,
  client_id uuid not null,
  primary key (workspace_id, member_id, client_id),
  foreign key (workspace_id, member_id) references members (workspace_id, id) on delete cascade,
  foreign key (workspace_id, client_id) references clients (workspace_id, id) on delete cascade
);
create index member_clients_client_idx on member_clients (workspace_id, client_id);

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  name text not null check (length(name) between 1 and 200),
  -- SHA-256 of the secret; the secret itself is shown once and never stored
  secret_hash bytea not null unique,
  -- the first characters of the secret, so people can tell their keys apart
  prefix text not null,
  scopes text[] not null check (cardinality(scopes) > 0),
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz,
  unique (workspace_id, id)
);

alter table workspaces enable row level security;
alter table workspaces force row level security;
create policy workspace_isolation on workspaces to herald_app
  using (id = (select herald_workspace_id()))
  with check (id = (select herald_workspace_id()));

call herald_isolate('members');
call herald_isolate('clients');
call herald_isolate('member_clients');
call herald_isolate('api_keys');

grant select, insert, update, delete on workspaces, members, clients, member_clients to herald_app;
grant select, insert, update on api_keys to herald_app;

-- Sign-in throttling (fixed windows). Keys are hashed: no email addresses or IPs in this table.
create table sign_in_throttle (
  key bytea primary key,
  attempts integer not null,
  window_started_at timestamptz not null
);
grant select, insert, update, delete on sign_in_throttle to herald_app;

-- One row per worker process, refreshed every few seconds; monitoring reads it.
create table worker_heartbeats (
  worker_id text primary key,
  hostname text not null,
  pid integer not null,
  version text not null,
  started_at timestamptz not null,
  last_seen_at timestamptz not null,
  stopped_at timestamptz
);
grant select, insert, update, delete on worker_heartbeats to herald_app;

-- Cross-workspace reads, each for one purpose, owned by herald_directory.
grant select on workspaces, members, api_keys to herald_directory;
grant update (user_id, status, updated_at) on members to herald_directory;
create policy directory_read on workspaces for select to herald_directory using (true);
create policy directory_read on members for select to herald_directory using (true);
create policy directory_accept on members for update to herald_directory
  using (status = 'invited') with check (status = 'active');
create policy directory_read on api_keys for select to herald_directory using (true);

-- The workspaces a person belongs to, with their role (for /me and GET /workspaces).
create function herald_user_workspaces(p_user_id uuid)
  returns table (workspace_id uuid, name text, slug text, role text, member_id uuid, created_at timestamptz)
  language sql stable security definer set search_path = pg_catalog, public
  as $$
    select w.id, w.name, w.slug, m.role, m.id, w.created_at
    from members m join workspaces w on w.id = m.workspace_id
    where m.user_id = p_user_id and m.status = 'active'
    order by w.created_at, w.id
  $$;

-- The API key with this secret hash, whatever its workspace (authentication happens before the
-- workspace is known).
create function herald_find_api_key(p_secret_hash bytea)
  returns table (id uuid, workspace_id uuid, name text, scopes text[], expires_at timestamptz,
                 revoked_at timestamptz, last_used_at timestamptz)
  language sql stable security definer set search_path = pg_catalog, public
  as $$
    select k.id, k.workspace_id, k.name, k.scopes, k.expires_at, k.revoked_at, k.last_used_at
    from api_keys k where k.secret_hash = p_secret_hash
  $$;

-- Accepts every pending invitation for this email on behalf of the user signed in with it.
-- Email addresses are not verified yet: whoever registers an invited address first gets its
-- invitations (README, "Security model").
create function herald_accept_invitations(p_user_id uuid, p_email text)
  returns setof uuid
  language sql volatile security definer set search_path = pg_catalog, public
  as $$
    update members set user_id = p_user_id, status = 'active', updated_at = now()
    where email = lower(p_email) and status = 'invited'
      and not exists (select 1 from members other
                      where other.workspace_id = members.workspace_id and other.user_id = p_user_id)
    returning workspace_id
  $$;

-- A non-superuser may only hand a function to a role that could have created it.
grant create on schema public to herald_directory;
alter function herald_user_workspaces(uuid) owner to herald_directory;
alter function herald_find_api_key(bytea) owner to herald_directory;
alter function herald_accept_invitations(uuid, text) owner to herald_directory;
revoke create on schema public from herald_directory;
revoke all on function herald_user_workspaces(uuid), herald_find_api_key(bytea),
  herald_accept_invitations(uuid, text) from public;
grant execute on function herald_user_workspaces(uuid), herald_find_api_key(bytea),
  herald_accept_invitations(uuid, text) to herald_app;
