-- Notification channels (webhook, slack, email) and one delivery row per event and channel.
create table notification_channels (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  kind text not null check (kind in ('webhook', 'slack', 'email')),
  name text not null check (length(name) between 1 and 200),
  -- webhook: the URL; email: the address; slack: the incoming-webhook URL with its path hidden
  -- (the whole URL is a credential, kept encrypted in `secret`)
  target text not null check (length(target) between 3 and 2048),
  min_severity text not null default 'warning'
    check (min_severity in ('info', 'warning', 'error', 'critical')),
  events text[] not null default '{*}' check (cardinality(events) > 0),
  -- encrypted by the vault (field 'secret' of this row): webhook: the signing secret; slack: the
  -- incoming-webhook URL; email: null
  secret bytea,
  key_id text,
  enabled boolean not null default true,
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  check ((secret is null) = (kind = 'email') and (secret is null) = (key_id is null)),
  unique (workspace_id, id)
);

create table notification_deliveries (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null,
  channel_id uuid not null,
  event_type text not null,
  severity text not null check (severity in ('info', 'warning', 'error', 'critical')),
  -- the Standard Webhooks `webhook-id` (webhook channels), the Message-ID seed (email): the same
  -- for every retry of this delivery
  message_id text not null,
  payload jsonb not null,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  last_status integer,
  last_error text check (length(last_error) <= 2000),
  last_attempt_at timestamptz,
  delivered_at timestamptz,
  created_at timestamptz not null default now(),
  unique (workspace_id, id),
  foreign key (workspace_id, channel_id) references notification_channels (workspace_id, id) on delete cascade
);
create index notification_deliveries_channel_idx
  on notification_deliveries (workspace_id, channel_id, created_at desc);

call herald_isolate('notification_channels');
call herald_isolate('notification_deliveries');

grant select, insert, update, delete on notification_channels, notification_deliveries to herald_app;

-- Cross-tenant detection (herald_locate) reads every tenant table that has an id.
grant select on notification_channels, notification_deliveries to herald_directory;
create policy directory_read on notification_channels for select to herald_directory using (true);
create policy directory_read on notification_deliveries for select to herald_directory using (true);

-- Key rotation covers channel secrets too (herald_stale_secrets of migration 0004, one table more).
create or replace function herald_stale_secrets(p_kind text, p_key_id text, p_after uuid, p_limit int)
  returns table (workspace_id uuid, row_id uuid)
  language plpgsql stable security definer set search_path = pg_catalog, public as $$
begin
  return query execute format(
    'select workspace_id, id from %I where key_id <> $1 and ($2::uuid is null or id > $2) order by id limit $3',
    case p_kind
      when 'account_credentials' then 'account_credentials'
      when 'pending_connections' then 'pending_connections'
      when 'oauth_states' then 'oauth_states'
      when 'webhooks' then 'webhooks'
      when 'notification_channels' then 'notification_channels'
    end)
  using p_key_id, p_after, p_limit;
end $$;
