-- Alerting (issue 6): per-workspace alert rules, evaluated every minute by the `alert_check` cron
-- and by POST /api/v1/cron/check-alerts, and the alerts they open. An alert is firing, then
-- acknowledged (by whom, when), then resolved when its condition clears; at most one is open per
-- rule and scope key, so a condition that stays true is one alert, not one per evaluation.
-- The system-wide "no live worker" check has no workspace and is not stored here (src/alerts/README.md).

create table alert_rules (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  name text not null check (length(name) between 1 and 200),
  metric text not null check (metric in ('publish_failure_rate', 'publish_attempts', 'publish_latency_avg_ms',
                                         'token_refresh_success_rate', 'token_refresh_failures', 'queue_pending',
                                         'posts_per_account_hour', 'overdue_targets')),
  window_seconds integer not null check (window_seconds between 1 and 2592000),
  comparison text not null check (comparison in ('>', '>=', '<', '<=')),
  threshold numeric not null,
  min_samples integer not null default 0 check (min_samples >= 0),
  severity text not null check (severity in ('info', 'warning', 'error', 'critical')),
  scope text not null default 'workspace' check (scope in ('workspace', 'client', 'account', 'platform')),
  -- one client, account or platform; null: each of them separately (or the workspace as a whole)
  scope_value text check (length(scope_value) <= 200),
  enabled boolean not null default true,
  is_default boolean not null default false,
  -- the default rule this row was created from, so a backfill never adds it twice
  default_key text check (length(default_key) <= 100),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, id),
  check (scope <> 'workspace' or scope_value is null)
);
create unique index alert_rules_default_idx on alert_rules (workspace_id, default_key) where default_key is not null;
create index alert_rules_workspace_idx on alert_rules (workspace_id, created_at, id);

-- No foreign key to alert_rules: deleting a rule keeps its alerts as history (name and metric are
-- copied here), and resolves the open ones.
create table alerts (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  rule_id uuid not null,
  rule_name text not null,
  metric text not null,
  severity text not null check (severity in ('info', 'warning', 'error', 'critical')),
  -- 'workspace', or '<scope>:<value>' (account:<uuid>, client:<uuid>, platform:<name>)
  scope_key text not null check (length(scope_key) between 1 and 300),
  status text not null default 'firing' check (status in ('firing', 'acknowledged', 'resolved')),
  value double precision,
  samples integer not null default 0,
  message text not null check (length(message) <= 2000),
  fired_at timestamptz not null default now(),
  acknowledged_at timestamptz,
  acknowledged_by uuid references users (id) on delete set null,
  resolved_at timestamptz,
  unique (workspace_id, id),
  check ((status = 'resolved') = (resolved_at is not null)),
  check (status <> 'acknowledged' or acknowledged_at is not null)
);
-- One open alert per rule and scope key.
create unique index alerts_open_idx on alerts (workspace_id, rule_id, scope_key)
  where status in ('firing', 'acknowledged');
create index alerts_workspace_time_idx on alerts (workspace_id, fired_at desc, id desc);

call herald_isolate('alert_rules');
call herald_isolate('alerts');

grant select, insert, update, delete on alert_rules to herald_app;
-- alerts are history: opened, acknowledged and resolved, never removed by the application
grant select, insert, update on alerts to herald_app;

-- Cross-tenant detection (herald_locate) reads every tenant table that has an id.
grant select on alert_rules, alerts to herald_directory;
create policy directory_read on alert_rules for select to herald_directory using (true);
create policy directory_read on alerts for select to herald_directory using (true);

-- The default rules of one workspace (the issue's list), added once each: called when a workspace
-- is created and below for the existing ones. Rates are percentages; "more than N samples" is
-- min_samples N + 1 (samples >= min_samples).
create function herald_alert_default_rules(p_workspace_id uuid) returns void
  language sql volatile set search_path = pg_catalog, public as $$
    insert into alert_rules (workspace_id, default_key, name, metric, window_seconds, comparison, threshold,
                             min_samples, severity, scope, is_default)
    select p_workspace_id, d.key, d.name, d.metric, d.window_seconds, d.comparison, d.threshold, d.min_samples,
           d.severity, d.scope, true
      from (values
        ('failed_jobs_spike', 'Failed jobs spike', 'publish_failure_rate', 3600, '>', 20, 11, 'error', 'workspace'),
        ('token_refresh_failures', 'Token refresh failures', 'token_refresh_success_rate', 3600, '<', 90, 6, 'warning', 'workspace'),
        ('repeated_token_failures', 'Repeated token failures', 'token_refresh_success_rate', 3600, '<', 50, 4, 'critical', 'workspace'),
        ('high_publish_latency', 'High publish latency', 'publish_latency_avg_ms', 3600, '>', 30000, 1, 'warning', 'workspace'),
        ('queue_backlog', 'Queue backlog', 'queue_pending', 3600, '>', 100, 0, 'warning', 'workspace'),
        ('failed_publish_rate', 'Failed publish rate', 'publish_failure_rate', 3600, '>', 10, 1, 'warning', 'workspace'),
        ('token_refresh_failed_daily', 'Token refresh failures today', 'token_refresh_failures', 86400, '>', 5, 0, 'warning', 'workspace'),
        ('unusual_account_activity', 'Unusual activity: posts per account', 'posts_per_account_hour', 3600, '>', 10, 0, 'warning', 'account'),
        ('overdue_targets', 'Overdue targets', 'overdue_targets', 300, '>', 0, 0, 'critical', 'workspace')
      ) as d (key, name, metric, window_seconds, comparison, threshold, min_samples, severity, scope)
    on conflict (workspace_id, default_key) where default_key is not null do nothing
  $$;
revoke all on function herald_alert_default_rules(uuid) from public;
grant execute on function herald_alert_default_rules(uuid) to herald_app;

-- The existing workspaces get theirs now (RLS is forced on the table even for its owner, so it is
-- lifted for this one statement).
alter table alert_rules no force row level security;
select herald_alert_default_rules(w.id) from workspaces w;
alter table alert_rules force row level security;

-- Every workspace id, for the evaluator (it then reads each workspace under its own RLS setting).
create function herald_alert_workspaces() returns table (workspace_id uuid)
  language sql stable security definer set search_path = pg_catalog, public as $$
    select w.id from workspaces w order by w.id
  $$;

grant create on schema public to herald_directory;
alter function herald_alert_workspaces() owner to herald_directory;
revoke create on schema public from herald_directory;
revoke all on function herald_alert_workspaces() from public;
grant execute on function herald_alert_workspaces() to herald_app;
