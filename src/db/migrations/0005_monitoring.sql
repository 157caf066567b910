-- Monitoring (GET /api/v1/monitoring/health): cross-workspace reads that return counts only.
-- Each is a SECURITY DEFINER function owned by herald_directory, like the sweeper's in 0004: the
-- application role still cannot read another workspace's rows, only these figures.

-- Scheduled targets of every workspace still not started p_overdue after they were due.
create function herald_monitoring_overdue_targets(p_overdue interval)
  returns table (overdue bigint, oldest_publish_at timestamptz)
  language sql stable security definer set search_path = pg_catalog, public as $$
    select count(*), min(t.publish_at)
      from post_targets t
     where t.status = 'scheduled' and t.publish_at < now() - p_overdue
  $$;

-- The workspaces whose publish figures a person may see: active memberships with their role and
-- whether the member is restricted to some clients (the application decides from these).
create function herald_monitoring_memberships(p_user_id uuid)
  returns table (workspace_id uuid, role text, restricted boolean)
  language sql stable security definer set search_path = pg_catalog, public as $$
    select m.workspace_id, m.role, m.restricted
      from members m
     where m.user_id = p_user_id and m.status = 'active'
  $$;

-- Publish attempts started since p_since in the given workspaces (the caller's, chosen by the
-- application), per workspace and in total (the row whose workspace_id is null). An attempt that
-- is still running has no outcome yet; 'skipped' attempts did not try to publish.
create function herald_monitoring_publishing(p_workspace_ids uuid[], p_since timestamptz)
  returns table (workspace_id uuid, attempts bigint, finished bigint, published bigint, failed bigint,
                 retried bigint, unconfirmed bigint, running bigint, avg_latency_ms double precision,
                 p95_latency_ms double precision, avg_lateness_ms double precision)
  language sql stable security definer set search_path = pg_catalog, public as $$
    select a.workspace_id,
           count(*),
           count(*) filter (where a.outcome is not null and a.outcome <> 'skipped'),
           count(*) filter (where a.outcome in ('published', 'already_published')),
           count(*) filter (where a.outcome = 'failed'),
           count(*) filter (where a.outcome in ('retry', 'ambiguous')),
           count(*) filter (where a.outcome = 'unconfirmed'),
           count(*) filter (where a.outcome is null),
           avg(a.latency_ms)::double precision,
           percentile_cont(0.95) within group (order by a.latency_ms)::double precision,
           avg(a.lateness_ms)::double precision
      from publish_attempts a
     where a.workspace_id = any (p_workspace_ids) and a.started_at >= p_since
     group by grouping sets ((a.workspace_id), ())
  $$;

grant create on schema public to herald_directory;
alter function herald_monitoring_overdue_targets(interval) owner to herald_directory;
alter function herald_monitoring_memberships(uuid) owner to herald_directory;
alter function herald_monitoring_publishing(uuid[], timestamptz) owner to herald_directory;
revoke create on schema public from herald_directory;
revoke all on function herald_monitoring_overdue_targets(interval), herald_monitoring_memberships(uuid),
  herald_monitoring_publishing(uuid[], timestamptz) from public;
grant execute on function herald_monitoring_overdue_targets(interval), herald_monitoring_memberships(uuid),
  herald_monitoring_publishing(uuid[], timestamptz) to herald_app;
