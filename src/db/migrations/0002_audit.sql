-- The audit trail: append-only, partitioned by month, hash-chained per workspace.
--
-- audit_events    one row per event, never changed: the application role may only INSERT and
--                 SELECT, and a trigger rejects UPDATE, DELETE and TRUNCATE for every role but
--                 herald_audit, which owns the table and acts only through two functions:
--                 herald_audit_erase (GDPR pseudonymisation) and herald_audit_retention.
-- audit_seals     the chain, written shortly after commit by herald_audit_seal (so that writers
--                 never wait on each other): seal n of a workspace carries
--                 hash_n = sha256(hash_{n-1} || content_hash of its event).
-- content_hash    sha256 of the event's canonical content (herald_audit_content_hash), where the
--                 personal fields (names, emails, IP, user agent) count through a salted digest,
--                 so that erasing them later leaves every hash intact.
--
-- Events that belong to no workspace (sign-in, sign-up) use the nil UUID as workspace_id: one more
-- chain, never visible through the API.

do $$
begin
  create role herald_audit nologin nobypassrls;
exception when duplicate_object or unique_violation then null;
end $$;
grant herald_audit to current_user;
grant create, usage on schema public to herald_audit;
-- The operator commands find a person by email or id (GDPR export and erasure).
grant select (id, email) on users to herald_audit;
create schema audit_archive authorization herald_audit;

create table audit_events (
  id uuid not null default gen_random_uuid(),
  created_at timestamptz not null default clock_timestamp(),
  workspace_id uuid not null,
  actor_type text not null check (actor_type in ('user', 'api_key', 'system', 'anonymous')),
  actor_id uuid,
  action text not null check (action ~ '^[a-z][a-z0-9_]{0,63}$'),
  target_type text check (length(target_type) <= 64),
  target_id text check (length(target_id) <= 200),
  client_id uuid,
  account_id uuid,
  outcome text not null check (outcome in ('success', 'failure', 'denied')),
  severity text not null check (severity in ('low', 'medium', 'high', 'critical')),
  request_id text check (length(request_id) <= 128),
  details jsonb not null default '{}' check (jsonb_typeof(details) = 'object'),
  -- personal data: pseudonymised by herald_audit_erase
  actor_name text check (length(actor_name) <= 500),
  actor_email text check (length(actor_email) <= 320),
  subject_email text check (length(subject_email) <= 320),
  ip inet,
  user_agent text check (length(user_agent) <= 1000),
  personal_salt bytea,
  personal_digest bytea not null,
  content_hash bytea not null,
  erased_at timestamptz,
  primary key (id, created_at)
) partition by range (created_at);

create index audit_events_workspace_time_idx on audit_events (workspace_id, created_at desc, id desc);
create index audit_events_workspace_action_idx on audit_events (workspace_id, action, created_at desc);
create index audit_events_workspace_actor_idx on audit_events (workspace_id, actor_id, created_at desc);
create index audit_events_actor_idx on audit_events (actor_id) where actor_id is not null;
create index audit_events_actor_email_idx on audit_events (lower(actor_email)) where actor_email is not null;
create index audit_events_subject_email_idx on audit_events (lower(subject_email)) where subject_email is not null;

create table audit_events_default partition of audit_events default;

-- Archived months: partitions detached from audit_events, same shape (see herald_audit_retention).
create table audit_archive.events (like audit_events including defaults including constraints)
  partition by range (created_at);

create table audit_seals (
  workspace_id uuid not null,
  seq bigint not null,
  event_id uuid not null,
  event_created_at timestamptz not null,
  prev_hash bytea not null,
  hash bytea not null,
  sealed_at timestamptz not null default now(),
  primary key (workspace_id, seq),
  unique (event_id, event_created_at)
);

create table audit_chain_heads (
  workspace_id uuid primary key,
  last_seq bigint not null,
  last_hash bytea not null,
  updated_at timestamptz not null default now()
);

-- Events committed but not sealed yet.
create table audit_unsealed (
  event_id uuid not null,
  event_created_at timestamptz not null,
  workspace_id uuid not null,
  primary key (event_id, event_created_at)
);
create index audit_unsealed_chain_idx on audit_unsealed (workspace_id, event_created_at, event_id);

-- The retention policy, written by `herald migrate` from HERALD_AUDIT_ARCHIVE_AFTER and
-- HERALD_AUDIT_PURGE_AFTER. The worker may run retention but not choose its horizon.
create table audit_settings (
  id boolean primary key default true check (id),
  archive_after interval not null default '365 days',
  purge_after interval not null default '2557 days',
  check (purge_after > archive_after)
);
insert into audit_settings default values;

-- Where each chain starts once its oldest events were purged: the last purged seal.
create table audit_checkpoints (
  workspace_id uuid primary key,
  seq bigint not null,
  hash bytea not null,
  purged_at timestamptz not null default now()
);

alter table audit_events owner to herald_audit;
alter table audit_events_default owner to herald_audit;
alter table audit_archive.events owner to herald_audit;
alter table audit_seals owner to herald_audit;
alter table audit_chain_heads owner to herald_audit;
alter table audit_unsealed owner to herald_audit;
alter table audit_checkpoints owner to herald_audit;
alter table audit_settings owner to herald_audit;

-- Hashing.

create function herald_audit_personal_digest(
  p_salt bytea, p_actor_name text, p_actor_email text, p_subject_email text, p_ip inet, p_user_agent text
) returns bytea language sql immutable parallel safe as $$
  select sha256(p_salt || convert_to(
    jsonb_build_array(p_actor_name, p_actor_email, p_subject_email, host(p_ip), p_user_agent)::text, 'UTF8'))
$$;

create function herald_audit_content_hash(
  p_id uuid, p_created_at timestamptz, p_workspace_id uuid, p_actor_type text, p_actor_id uuid,
  p_action text, p_target_type text, p_target_id text, p_client_id uuid, p_account_id uuid,
  p_outcome text, p_severity text, p_request_id text, p_details jsonb, p_personal_digest bytea
) returns bytea language sql immutable parallel safe as $$
  select sha256(convert_to(jsonb_build_object(
    'id', p_id,
    'created_at', to_char(p_created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'workspace_id', p_workspace_id,
    'actor_type', p_actor_type,
    'actor_id', p_actor_id,
    'action', p_action,
    'target_type', p_target_type,
    'target_id', p_target_id,
    'client_id', p_client_id,
    'account_id', p_account_id,
    'outcome', p_outcome,
    'severity', p_severity,
    'request_id', p_request_id,
    'details', p_details,
    'personal_digest', encode(p_personal_digest, 'hex')
  )::text, 'UTF8'))
$$;

create function herald_audit_before_insert() returns trigger language plpgsql as $$
begin
  new.erased_at := null;
  new.personal_salt := uuid_send(gen_random_uuid());
  new.personal_digest := herald_audit_personal_digest(
    new.personal_salt, new.actor_name, new.actor_email, new.subject_email, new.ip, new.user_agent);
  new.content_hash := herald_audit_content_hash(
    new.id, new.created_at, new.workspace_id, new.actor_type, new.actor_id, new.action, new.target_type,
    new.target_id, new.client_id, new.account_id, new.outcome, new.severity, new.request_id, new.details,
    new.personal_digest);
  return new;
end $$;

create function herald_audit_after_insert() returns trigger language plpgsql security definer
  set search_path = pg_catalog, public as $$
begin
  insert into audit_unsealed (event_id, event_created_at, workspace_id)
  values (new.id, new.created_at, new.workspace_id);
  return null;
end $$;

create function herald_audit_append_only() returns trigger language plpgsql as $$
begin
  if current_user <> 'herald_audit' then
    raise exception 'the audit trail is append-only: % on % is not allowed', tg_op, tg_table_name
      using errcode = 'insufficient_privilege';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end $$;

create trigger audit_events_hash before insert on audit_events
  for each row execute function herald_audit_before_insert();
create trigger audit_events_queue after insert on audit_events
  for each row execute function herald_audit_after_insert();
create trigger audit_events_append_only before update or delete on audit_events
  for each row execute function herald_audit_append_only();
create trigger audit_events_no_truncate before truncate on audit_events
  for each statement execute function herald_audit_append_only();
create trigger audit_archive_append_only before update or delete on audit_archive.events
  for each row execute function herald_audit_append_only();
create trigger audit_archive_no_truncate before truncate on audit_archive.events
  for each statement execute function herald_audit_append_only();
create trigger audit_seals_append_only before update or delete on audit_seals
  for each row execute function herald_audit_append_only();
create trigger audit_seals_no_truncate before truncate on audit_seals
  for each statement execute function herald_audit_append_only();

-- Row-level security.

alter table audit_events enable row level security;
alter table audit_events force row level security;
create policy workspace_read on audit_events for select to herald_app
  using (workspace_id = (select herald_workspace_id()));
create policy workspace_write on audit_events for insert to herald_app
  with check (workspace_id = (select herald_workspace_id())
              or workspace_id = '00000000-0000-0000-0000-000000000000');
create policy audit_owner on audit_events to herald_audit using (true) with check (true);

alter table audit_seals enable row level security;
alter table audit_seals force row level security;
create policy workspace_read on audit_seals for select to herald_app
  using (workspace_id = (select herald_workspace_id()));
create policy audit_owner on audit_seals to herald_audit using (true) with check (true);

-- The application writes what happened; the database decides the id, the time and the hashes.
grant select on audit_events to herald_app;
grant insert (workspace_id, actor_type, actor_id, action, target_type, target_id, client_id, account_id,
              outcome, severity, request_id, details, actor_name, actor_email, subject_email, ip, user_agent)
  on audit_events to herald_app;
grant select on audit_seals to herald_app;

-- Partitions: one per month, created ahead; the default partition catches anything else so that
-- no event is ever refused for want of a partition.

create function herald_audit_ensure_partitions(p_months_ahead int default 3, p_months_back int default 1)
  returns int
  language plpgsql security definer set search_path = pg_catalog, public as $$
declare
  month_start date;
  month_end date;
  name text;
  created int := 0;
begin
  for i in -p_months_back .. p_months_ahead loop
    month_start := (date_trunc('month', now()) + make_interval(months => i))::date;
    month_end := (month_start + interval '1 month')::date;
    name := 'audit_events_' || to_char(month_start, 'YYYY_MM');
    continue when exists (select 1 from pg_class c where c.relname = name
                          and c.relnamespace in ('public'::regnamespace, 'audit_archive'::regnamespace));
    -- Rows of this month that landed in the default partition move into the new one.
    execute format('create table public.%I (like public.audit_events including defaults including constraints)', name);
    execute format('insert into public.%I select * from audit_events_default where created_at >= %L and created_at < %L',
                   name, month_start, month_end);
    delete from audit_events_default where created_at >= month_start and created_at < month_end;
    execute format('alter table audit_events attach partition public.%I for values from (%L) to (%L)',
                   name, month_start, month_end);
    created := created + 1;
  end loop;
  return created;
end $$;

-- Sealing: for each workspace with unsealed events, extend its chain in event order. A chain's
-- head row is locked while it is extended; another sealer skips that chain.

create function herald_audit_seal(p_limit int default 5000) returns int
  language plpgsql security definer set search_path = pg_catalog, public as $$
declare
  chain uuid;
  seq bigint;
  prev bytea;
  ev record;
  sealed int := 0;
begin
  for chain in select distinct u.workspace_id from audit_unsealed u loop
    insert into audit_chain_heads (workspace_id, last_seq, last_hash)
      values (chain, 0, '\x0000000000000000000000000000000000000000000000000000000000000000')
      on conflict do nothing;
    select h.last_seq, h.last_hash into seq, prev from audit_chain_heads h
      where h.workspace_id = chain for update skip locked;
    continue when not found;
    for ev in
      select u.event_id, u.event_created_at, e.content_hash
      from audit_unsealed u
      join audit_events e on e.id = u.event_id and e.created_at = u.event_created_at
      where u.workspace_id = chain
      order by u.event_created_at, u.event_id
      limit p_limit
    loop
      seq := seq + 1;
      insert into audit_seals (workspace_id, seq, event_id, event_created_at, prev_hash, hash)
        values (chain, seq, ev.event_id, ev.event_created_at, prev, sha256(prev || ev.content_hash));
      prev := sha256(prev || ev.content_hash);
      delete from audit_unsealed where event_id = ev.event_id and event_created_at = ev.event_created_at;
      sealed := sealed + 1;
    end loop;
    update audit_chain_heads set last_seq = seq, last_hash = prev, updated_at = now()
      where workspace_id = chain;
  end loop;
  return sealed;
end $$;

-- Verification: walks a chain in order and names the first event whose content, seal or link does
-- not check out. Live and archived events both count.

create view audit_all_events as
  select * from audit_events union all select * from audit_archive.events;
alter view audit_all_events owner to herald_audit;

create function herald_audit_verify(p_workspace uuid)
  returns table (ok boolean, checked bigint, first_broken_id uuid, unsealed bigint)
  language plpgsql stable security definer set search_path = pg_catalog, public as $$
declare
  start_seq bigint := 0;
  start_hash bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
  head record;
begin
  select c.seq, c.hash into start_seq, start_hash from audit_checkpoints c where c.workspace_id = p_workspace;
  if not found then
    start_seq := 0;
    start_hash := '\x0000000000000000000000000000000000000000000000000000000000000000';
  end if;
  select h.last_seq, h.last_hash into head from audit_chain_heads h where h.workspace_id = p_workspace;
  return query
  with chain as (
    select s.seq, s.event_id, s.prev_hash, s.hash,
           lag(s.hash) over w as previous_hash, lag(s.seq) over w as previous_seq,
           e.id as found, e.content_hash, e.personal_salt, e.personal_digest,
           herald_audit_content_hash(e.id, e.created_at, e.workspace_id, e.actor_type, e.actor_id, e.action,
             e.target_type, e.target_id, e.client_id, e.account_id, e.outcome, e.severity, e.request_id,
             e.details, e.personal_digest) as recomputed,
           case when e.personal_salt is null then null else herald_audit_personal_digest(e.personal_salt,
             e.actor_name, e.actor_email, e.subject_email, e.ip, e.user_agent) end as personal_recomputed
    from audit_seals s
    left join audit_all_events e on e.id = s.event_id and e.created_at = s.event_created_at
      and e.workspace_id = s.workspace_id
    where s.workspace_id = p_workspace and s.seq > start_seq
    window w as (order by s.seq)
  ),
  broken as (
    select c.seq, c.event_id from chain c
    where c.found is null
       or c.recomputed <> c.content_hash
       or (c.personal_recomputed is not null and c.personal_recomputed <> c.personal_digest)
       or c.seq <> coalesce(c.previous_seq, start_seq) + 1
       or c.prev_hash <> coalesce(c.previous_hash, start_hash)
       or c.hash <> sha256(c.prev_hash || c.content_hash)
    order by c.seq limit 1
  ),
  last_seal as (select c.seq, c.hash from chain c order by c.seq desc limit 1)
  select
    (select count(*) = 0 from broken)
      and (head is null or coalesce((select l.seq = head.last_seq and l.hash = head.last_hash from last_seal l),
                                    head.last_seq = start_seq)),
    (select count(*) from chain),
    coalesce((select b.event_id from broken b),
             -- the head says the chain is longer than its seals: the last seals were removed
             case when head is not null and not coalesce((select l.seq = head.last_seq from last_seal l),
                                                         head.last_seq = start_seq)
                  then (select c.event_id from chain c order by c.seq desc limit 1) end),
    (select count(*) from audit_unsealed u where u.workspace_id = p_workspace);
end $$;

-- The chain of the workspace set for the transaction: what GET /audit/verify calls.
create function herald_audit_verify_current()
  returns table (ok boolean, checked bigint, first_broken_id uuid, unsealed bigint)
  language sql stable security definer set search_path = pg_catalog, public as $$
  select * from herald_audit_verify(herald_workspace_id())
$$;

-- GDPR erasure: pseudonymises one person's personal data in every event, live and archived.
-- Hashes do not change (personal data counts through the salted digest; the salt is dropped so the
-- old values cannot be tested against it either).

create function herald_audit_erase(p_user_id uuid, p_email text, p_pseudonym text) returns bigint
  language plpgsql security definer set search_path = pg_catalog, public as $$
declare
  events regclass;
  changed bigint := 0;
  n bigint;
begin
  foreach events in array array['audit_events'::regclass, 'audit_archive.events'::regclass] loop
    execute format($sql$
      update %s set
        actor_name = case when actor_id = $1 or lower(actor_email) = lower($2) then $3 else actor_name end,
        actor_email = case when actor_id = $1 or lower(actor_email) = lower($2) then null else actor_email end,
        ip = case when actor_id = $1 or lower(actor_email) = lower($2) then null else ip end,
        user_agent = case when actor_id = $1 or lower(actor_email) = lower($2) then null else user_agent end,
        subject_email = case when lower(subject_email) = lower($2) then null else subject_email end,
        personal_salt = null,
        erased_at = now()
      where actor_id = $1 or lower(actor_email) = lower($2) or lower(subject_email) = lower($2)
      $sql$, events) using p_user_id, p_email, p_pseudonym;
    get diagnostics n = row_count;
    changed := changed + n;
  end loop;
  return changed;
end $$;

-- Retention: months that ended more than archive_after ago move to audit_archive (detached from
-- the live table, still in the database and still verified); archived months that ended more than
-- purge_after ago are dropped, with their seals, after recording where each chain now starts.

create function herald_audit_retention()
  returns table (archived int, purged int)
  language plpgsql security definer set search_path = pg_catalog, public as $$
declare
  part record;
  archived_count int := 0;
  purged_count int := 0;
  p_archive_before timestamptz;
  p_purge_before timestamptz;
begin
  select now() - s.archive_after, now() - s.purge_after into p_archive_before, p_purge_before
    from audit_settings s;
  for part in
    select c.relname, pg_get_expr(c.relpartbound, c.oid) as bound,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz as upper_bound
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'audit_events'::regclass and c.relname <> 'audit_events_default'
  loop
    continue when part.upper_bound is null or part.upper_bound > p_archive_before;
    execute format('alter table audit_events detach partition public.%I', part.relname);
    execute format('alter table public.%I set schema audit_archive', part.relname);
    execute format('alter table audit_archive.events attach partition audit_archive.%I %s', part.relname, part.bound);
    archived_count := archived_count + 1;
  end loop;

  for part in
    select c.relname,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz as upper_bound
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'audit_archive.events'::regclass
  loop
    continue when part.upper_bound is null or part.upper_bound > p_purge_before;
    -- Each chain now starts after the last seal of the events being purged.
    execute format($sql$
      insert into audit_checkpoints (workspace_id, seq, hash)
      select distinct on (s.workspace_id) s.workspace_id, s.seq, s.hash
      from audit_seals s join audit_archive.%I e on e.id = s.event_id and e.created_at = s.event_created_at
      order by s.workspace_id, s.seq desc
      on conflict (workspace_id) do update set seq = greatest(audit_checkpoints.seq, excluded.seq),
        hash = case when excluded.seq > audit_checkpoints.seq then excluded.hash else audit_checkpoints.hash end,
        purged_at = now()
      $sql$, part.relname);
    execute format('delete from audit_seals s using audit_archive.%I e
                    where e.id = s.event_id and e.created_at = s.event_created_at', part.relname);
    execute format('delete from audit_unsealed u using audit_archive.%I e
                    where e.id = u.event_id and e.created_at = u.event_created_at', part.relname);
    execute format('drop table audit_archive.%I', part.relname);
    purged_count := purged_count + 1;
  end loop;
  return query select archived_count, purged_count;
end $$;

alter function herald_audit_after_insert() owner to herald_audit;
alter function herald_audit_ensure_partitions(int, int) owner to herald_audit;
alter function herald_audit_seal(int) owner to herald_audit;
alter function herald_audit_verify(uuid) owner to herald_audit;
alter function herald_audit_verify_current() owner to herald_audit;
alter function herald_audit_erase(uuid, text, text) owner to herald_audit;
alter function herald_audit_retention() owner to herald_audit;

revoke all on function herald_audit_after_insert(), herald_audit_ensure_partitions(int, int), herald_audit_seal(int),
  herald_audit_verify(uuid), herald_audit_verify_current(), herald_audit_erase(uuid, text, text),
  herald_audit_retention() from public;
-- The worker seals, keeps partitions ahead and applies the retention policy; the API verifies its
-- own workspace. Erasure and verification of any chain are for operators (the herald CLI) only.
grant execute on function herald_audit_seal(int), herald_audit_ensure_partitions(int, int), herald_audit_retention(),
  herald_audit_verify_current() to herald_app;

select herald_audit_ensure_partitions(3);

-- Cross-tenant detection: which workspace owns each of these ids, whatever table they are in
-- (every table of the public schema with an id and a workspace_id, and workspaces themselves).

create function herald_locate(p_ids uuid[]) returns table (id uuid, workspace_id uuid)
  language plpgsql stable security definer set search_path = pg_catalog, public as $$
declare
  t record;
begin
  return query select w.id, w.id from workspaces w where w.id = any(p_ids);
  for t in
    select c.relname from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
      and c.relname not like 'audit\_%'
      and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'id' and not a.attisdropped)
      and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'workspace_id' and not a.attisdropped)
  loop
    return query execute format('select t.id, t.workspace_id from %I t where t.id = any($1)', t.relname) using p_ids;
  end loop;
end $$;

grant select on clients to herald_directory;
create policy directory_read on clients for select to herald_directory using (true);
alter function herald_locate(uuid[]) owner to herald_directory;
revoke all on function herald_locate(uuid[]) from public;
grant execute on function herald_locate(uuid[]) to herald_app;
