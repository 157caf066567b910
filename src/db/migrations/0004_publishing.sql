-- Publishing: media, posts and their targets (one per social account), every publish attempt,
-- idempotent post creation, and outbound webhooks with their delivery log.
--
-- A target's life: draft -> pending_approval -> scheduled -> publishing -> published | failed |
-- unconfirmed, or cancelled. Its graphile-worker job (key 'publish:<target id>') is added in the
-- transaction that schedules it, replaced by a reschedule, removed by a cancel. A worker claims a
-- target by moving it to 'publishing' with a lease and an attempt row, committed before the
-- platform is called: a worker that dies leaves an open attempt and an expiring lease, which the
-- sweeper (herald_targets_to_resume) hands back to a job, and the adapter's idempotency strategy
-- decides what the next attempt may do.

-- Uploaded or imported files. The bytes live in the media store (local disk under the data
-- directory, or S3-compatible); `storage_key` is random and unguessable, because platforms fetch
-- media by a public URL without credentials.
create table media (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  kind text not null check (kind in ('image', 'video')),
  mime_type text not null check (length(mime_type) between 3 and 100),
  size_bytes bigint not null check (size_bytes > 0),
  width integer check (width > 0),
  height integer check (height > 0),
  duration_ms integer check (duration_ms >= 0),
  -- video: container (mp4, mov) and codecs as probed; image: null
  container text check (length(container) <= 50),
  video_codec text check (length(video_codec) <= 50),
  audio_codec text check (length(audio_codec) <= 50),
  sha256 bytea not null,
  storage_key text not null unique check (storage_key ~ '^[A-Za-z0-9_./-]{8,200}$'),
  -- renditions made for platforms that need another encoding: {"jpeg": {"storageKey", "sizeBytes", "mimeType"}}
  renditions jsonb not null default '{}' check (jsonb_typeof(renditions) = 'object'),
  original_name text check (length(original_name) <= 500),
  source_url text check (length(source_url) <= 2048),
  uploaded_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  unique (workspace_id, id)
);
create index media_workspace_time_idx on media (workspace_id, created_at desc);

create table posts (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  -- a deleted client leaves its posts in the workspace, unassigned
  client_id uuid references clients (id) on delete set null,
  -- {text?, mediaIds?, link?}: what every target publishes unless it overrides it
  content jsonb not null check (jsonb_typeof(content) = 'object'),
  -- when the targets are due; null for a draft without a time
  publish_at timestamptz,
  approval text not null default 'none' check (approval in ('none', 'pending', 'approved', 'rejected')),
  approved_by uuid references users (id) on delete set null,
  approved_at timestamptz,
  rejected_by uuid references users (id) on delete set null,
  rejected_at timestamptz,
  rejection_reason text check (length(rejection_reason) <= 2000),
  -- a user, or an API key acting for its workspace
  created_by uuid references users (id) on delete set null,
  created_by_key uuid,
  -- bumped by every edit: approvals and responses name the version they saw
  version integer not null default 1,
  -- the request that created the post: its publish jobs log and audit under the same id
  request_id text check (length(request_id) <= 128),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, id)
);
create index posts_workspace_publish_idx on posts (workspace_id, publish_at, id);
create index posts_client_publish_idx on posts (workspace_id, client_id, publish_at);
create index posts_workspace_created_idx on posts (workspace_id, created_at desc, id desc);

create table post_targets (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null,
  post_id uuid not null,
  account_id uuid not null,
  platform text not null,
  -- {text?, mediaIds?, link?, firstComment?, format?}
  overrides jsonb not null default '{}' check (jsonb_typeof(overrides) = 'object'),
  status text not null check (status in ('draft', 'pending_approval', 'scheduled', 'publishing', 'published',
                                         'failed', 'unconfirmed', 'cancelled')),
  publish_at timestamptz,
  -- a claim: the worker publishing it holds it until then; past it, the sweeper resumes the target
  lease_until timestamptz,
  attempts integer not null default 0,
  -- attempts made before the last manual retry: the retry budget counts from there
  attempts_before_retry integer not null default 0,
  -- when the first attempt started: retries stop after the configured age, reconciliation looks
  -- for posts made since then
  first_attempt_at timestamptz,
  next_attempt_at timestamptz,
  -- an earlier attempt may have reached the platform and its answer was lost: until a success or a
  -- reconciliation settles it, a final failure is reported as unconfirmed, not failed
  uncertain boolean not null default false,
  -- what a multi-step flow saved between attempts (an Instagram container id, uploaded photo ids)
  progress jsonb not null default '{}' check (jsonb_typeof(progress) = 'object'),
  platform_post_id text check (length(platform_post_id) <= 500),
  platform_url text check (length(platform_url) <= 2048),
  published_at timestamptz,
  error_code text check (length(error_code) <= 100),
  error_message text check (length(error_message) <= 2000),
  -- set when an overdue target was reported, so it is reported once
  overdue_reported_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, id),
  unique (post_id, account_id),
  foreign key (workspace_id, post_id) references posts (workspace_id, id) on delete cascade,
  foreign key (workspace_id, account_id) references social_accounts (workspace_id, id),
  check ((status = 'published') = (published_at is not null)),
  check (status <> 'publishing' or lease_until is not null)
);
create index post_targets_post_idx on post_targets (workspace_id, post_id);
create index post_targets_account_idx on post_targets (workspace_id, account_id, publish_at);
-- the sweeper's two questions: which claims expired, which scheduled targets are overdue
create index post_targets_lease_idx on post_targets (lease_until) where status = 'publishing';
create index post_targets_due_idx on post_targets (publish_at) where status = 'scheduled';

-- Every attempt to publish a target, opened (committed) before the platform is called.
create table publish_attempts (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null,
  target_id uuid not null,
  attempt integer not null check (attempt > 0),
  platform text not null,
  worker_id text,
  started_at timestamptz not null default now(),
  ended_at timestamptz,
  -- null while running, or forever when the worker died during it
  outcome text check (outcome in ('published', 'already_published', 'retry', 'failed', 'unconfirmed',
                                  'ambiguous', 'skipped')),
  http_status integer,
  platform_code text check (length(platform_code) <= 100),
  platform_subcode text check (length(platform_subcode) <= 100),
  error_message text check (length(error_message) <= 2000),
  latency_ms integer,
  -- start of this attempt minus the time the target was due
  lateness_ms integer,
  unique (workspace_id, id),
  unique (target_id, attempt),
  foreign key (workspace_id, target_id) references post_targets (workspace_id, id) on delete cascade
);
create index publish_attempts_time_idx on publish_attempts (workspace_id, started_at);

-- Idempotency-Key of POST /posts: the same key and body answer the first response again.
create table post_requests (
  workspace_id uuid not null references workspaces (id) on delete cascade,
  -- whose key it is: a user or an API key (keys are per caller, as in Stripe's model)
  principal_id uuid not null,
  key text not null check (length(key) between 1 and 255),
  request_hash bytea not null,
  post_id uuid,
  response_status integer,
  response jsonb,
  created_at timestamptz not null default now(),
  primary key (workspace_id, principal_id, key)
);
create index post_requests_created_idx on post_requests (created_at);

-- Outbound webhooks: subscriptions, and one delivery row per event and subscription.
create table webhooks (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  url text not null check (length(url) between 8 and 2048),
  description text check (length(description) <= 500),
  events text[] not null check (cardinality(events) > 0),
  -- the signing secret, encrypted by the vault (field 'secret' of this row)
  secret bytea not null,
  key_id text not null,
  enabled boolean not null default true,
  created_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  unique (workspace_id, id)
);

create table webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null,
  webhook_id uuid not null,
  event_type text not null,
  -- the Standard Webhooks `webhook-id`: the same for every retry of this delivery
  message_id text not null,
  payload jsonb not null,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  -- attempts made before the last manual retry: the retry budget counts from there
  attempts_before_retry integer not null default 0,
  last_status integer,
  last_error text check (length(last_error) <= 2000),
  last_attempt_at timestamptz,
  delivered_at timestamptz,
  created_at timestamptz not null default now(),
  unique (workspace_id, id),
  foreign key (workspace_id, webhook_id) references webhooks (workspace_id, id) on delete cascade
);
create index webhook_deliveries_webhook_idx on webhook_deliveries (workspace_id, webhook_id, created_at desc);

call herald_isolate('media');
call herald_isolate('posts');
call herald_isolate('post_targets');
call herald_isolate('publish_attempts');
call herald_isolate('post_requests');
call herald_isolate('webhooks');
call herald_isolate('webhook_deliveries');

grant select, insert, update, delete on media, posts, post_targets, post_requests, webhooks,
  webhook_deliveries to herald_app;
-- attempts are history: added and closed, never removed by the application
grant select, insert, update on publish_attempts to herald_app;

-- Cross-tenant detection (herald_locate) reads every tenant table that has an id.
grant select on media, posts, post_targets, publish_attempts, webhooks, webhook_deliveries, worker_heartbeats
  to herald_directory;
create policy directory_read on media for select to herald_directory using (true);
create policy directory_read on posts for select to herald_directory using (true);
create policy directory_read on post_targets for select to herald_directory using (true);
create policy directory_read on publish_attempts for select to herald_directory using (true);
create policy directory_read on webhooks for select to herald_directory using (true);
create policy directory_read on webhook_deliveries for select to herald_directory using (true);

-- The sweeper looks at every workspace: targets whose claim expired (a worker died or hung), and
-- scheduled targets still not started p_overdue after they were due (their job is missing, or the
-- workers are behind). Adding a job with the target's key again is harmless: it replaces a waiting
-- job, and a second job for a running one finds the target claimed and does nothing.
create function herald_targets_to_resume(p_overdue interval, p_dead_after interval, p_limit int)
  returns table (workspace_id uuid, target_id uuid, status text, publish_at timestamptz, reason text)
  language sql stable security definer set search_path = pg_catalog, public as $$
    (select t.workspace_id, t.id, t.status, t.publish_at,
            case when t.lease_until < now() then 'lease_expired' else 'worker_gone' end
       from post_targets t
       left join publish_attempts a on a.target_id = t.id and a.attempt = t.attempts
       where t.status = 'publishing'
         and (t.lease_until < now()
              -- the worker that claimed it stopped, or has not been heard of for p_dead_after
              or (a.worker_id is not null and not exists (
                    select 1 from worker_heartbeats h where h.worker_id = a.worker_id and h.stopped_at is null
                      and h.last_seen_at > now() - p_dead_after)
                  and a.started_at < now() - p_dead_after))
       order by t.lease_until limit p_limit)
    union all
    (select t.workspace_id, t.id, t.status, t.publish_at, 'overdue'
       from post_targets t
       where t.status = 'scheduled' and t.publish_at < now() - p_overdue
         and (t.next_attempt_at is null or t.next_attempt_at < now() - p_overdue)
       order by t.publish_at limit p_limit)
  $$;

-- Idempotency keys are kept a day, as most APIs do.
grant delete on post_requests to herald_directory;
create policy directory_purge on post_requests for delete to herald_directory using (true);
create function herald_purge_post_requests(p_older_than interval) returns bigint
  language plpgsql volatile security definer set search_path = pg_catalog, public as $$
declare
  n bigint;
begin
  delete from post_requests where created_at < now() - p_older_than;
  get diagnostics n = row_count;
  return n;
end $$;

-- Key rotation covers webhook signing secrets too (the function of migration 0003, one table more).
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
    end)
  using p_key_id, p_after, p_limit;
end $$;

grant create on schema public to herald_directory;
alter function herald_targets_to_resume(interval, interval, int) owner to herald_directory;
alter function herald_purge_post_requests(interval) owner to herald_directory;
revoke create on schema public from herald_directory;
revoke all on function herald_targets_to_resume(interval, interval, int), herald_purge_post_requests(interval) from public;
grant execute on function herald_targets_to_resume(interval, interval, int), herald_purge_post_requests(interval) to herald_app;
