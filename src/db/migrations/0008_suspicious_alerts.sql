-- Built-in alerts without a rule (issue 6): suspicious activity detected by src/audit/suspicious.ts
-- opens an alert with no rule_id, one open alert per kind (scope_key 'kind:<rule>'). Such alerts are
-- resolved by the evaluator once their kind has been quiet for 24 hours (src/alerts/suspicious-alerts.ts).
alter table alerts alter column rule_id drop not null;
create unique index alerts_open_builtin_idx on alerts (workspace_id, scope_key)
  where rule_id is null and status in ('firing', 'acknowledged');

-- Open (firing or acknowledged) alerts per severity in the given workspaces (the caller's, chosen by
-- the application, as for herald_monitoring_publishing): counts only.
create function herald_monitoring_open_alerts(p_workspace_ids uuid[])
  returns table (severity text, open bigint)
  language sql stable security definer set search_path = pg_catalog, public as $$
    select a.severity, count(*)
      from alerts a
     where a.workspace_id = any (p_workspace_ids) and a.status in ('firing', 'acknowledged')
     group by a.severity
  $$;

grant create on schema public to herald_directory;
alter function herald_monitoring_open_alerts(uuid[]) owner to herald_directory;
revoke create on schema public from herald_directory;
revoke all on function herald_monitoring_open_alerts(uuid[]) from public;
grant execute on function herald_monitoring_open_alerts(uuid[]) to herald_app;
