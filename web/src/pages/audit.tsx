/** The audit log: filters, pages, the hash chain's verification and a CSV export of the same filter. */
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, type paths, unwrap } from "../api/client";
import {
  Empty,
  FormError,
  formatLocal,
  PageHeader,
  QueryState,
  StatusBadge,
  statusLabel,
} from "../components/ui";
import { useWorkspace } from "../session";

type Query = NonNullable<paths["/api/v1/workspaces/{workspaceId}/audit"]["get"]["parameters"]["query"]>;
type Action = NonNullable<Query["action"]>;

const ACTIONS = [
  "user_signed_up",
  "user_signed_in",
  "sign_in_failed",
  "user_signed_out",
  "workspace_created",
  "workspace_updated",
  "member_invited",
  "member_joined",
  "member_role_changed",
  "member_removed",
  "client_created",
  "client_updated",
  "client_deleted",
  "api_key_created",
  "api_key_revoked",
  "oauth_initiated",
  "oauth_completed",
  "oauth_failed",
  "account_connected",
  "account_reconnected",
  "account_linked",
  "account_unlinked",
  "account_disconnected",
  "token_refreshed",
  "token_refresh_failed",
  "token_expiring",
  "token_expired",
  "media_uploaded",
  "media_deleted",
  "post_created",
  "post_updated",
  "post_scheduled",
  "post_approved",
  "post_rejected",
  "post_cancelled",
  "post_retried",
  "post_published",
  "post_failed",
  "post_unconfirmed",
  "webhook_created",
  "webhook_updated",
  "webhook_deleted",
  "notification_channel_created",
  "notification_channel_deleted",
  "access_denied",
  "cross_tenant_attempt",
  "security_alert",
  "alert_fired",
  "alert_acknowledged",
  "alert_resolved",
  "alert_rule_created",
  "alert_rule_updated",
  "alert_rule_deleted",
  "audit_exported",
  "audit_erasure",
] as const satisfies readonly Action[];
const OUTCOMES = ["success", "failure", "denied"] as const satisfies readonly NonNullable<Query["outcome"]>[];
const SEVERITIES = ["low", "medium", "high", "critical"] as const satisfies readonly NonNullable<
  Query["severity"]
>[];

type Filters = {
  action: Action | "";
  outcome: Query["outcome"] | "";
  severity: Query["severity"] | "";
  from: string;
  to: string;
};

function toQuery(filters: Filters): Query {
  return {
    ...(filters.action ? { action: filters.action } : {}),
    ...(filters.outcome ? { outcome: filters.outcome } : {}),
    ...(filters.severity ? { severity: filters.severity } : {}),
    ...(filters.from ? { from: new Date(filters.from).toISOString() } : {}),
    ...(filters.to ? { to: new Date(filters.to).toISOString() } : {}),
  };
}

export function AuditPage() {
  const { id: workspaceId } = useWorkspace();
  const [filters, setFilters] = useState<Filters>({
    action: "",
    outcome: "",
    severity: "",
    from: "",
    to: "",
  });
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const query = toQuery(filters);
  const events = useQuery({
    queryKey: ["audit", workspaceId, query, cursor],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/audit", {
          params: { path: { workspaceId }, query: { ...query, limit: 50, ...(cursor ? { cursor } : {}) } },
        }),
      ),
  });
  const verify = useMutation({
    mutationFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspaceId}/audit/verify", { params: { path: { workspaceId } } })),
  });
  const set = (change: Partial<Filters>) => {
    setFilters({ ...filters, ...change });
    setCursors([]);
  };
  const exportUrl = `/api/v1/workspaces/${workspaceId}/audit/export?${new URLSearchParams({ format: "csv", ...Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)])) })}`;
  return (
    <>
      <PageHeader title="Audit log">
        <a className="button-like" href={exportUrl} download>
          Export CSV
        </a>
        <button type="button" onClick={() => verify.mutate()} disabled={verify.isPending}>
          {verify.isPending ? "Verifying…" : "Verify the chain"}
        </button>
      </PageHeader>
      {verify.data ? (
        <p role="status" className={`alert ${verify.data.ok ? "alert-ok" : "alert-error"}`}>
          {verify.data.ok
            ? `✓ Intact: ${verify.data.checked} sealed events checked${verify.data.unsealed ? `, ${verify.data.unsealed} not sealed yet` : ""}.`
            : `✕ Broken at event ${verify.data.firstBrokenId}: the log was changed after it was written.`}
        </p>
      ) : null}
      <FormError error={verify.error} />
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>
          Action{" "}
          <select value={filters.action} onChange={(e) => set({ action: e.target.value as Action | "" })}>
            <option value="">Any</option>
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {statusLabel(a)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Outcome{" "}
          <select
            value={filters.outcome}
            onChange={(e) => set({ outcome: e.target.value as Filters["outcome"] })}
          >
            <option value="">Any</option>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {statusLabel(o)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Severity{" "}
          <select
            value={filters.severity}
            onChange={(e) => set({ severity: e.target.value as Filters["severity"] })}
          >
            <option value="">Any</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          From{" "}
          <input type="datetime-local" value={filters.from} onChange={(e) => set({ from: e.target.value })} />
        </label>
        <label>
          To <input type="datetime-local" value={filters.to} onChange={(e) => set({ to: e.target.value })} />
        </label>
      </form>
      <QueryState query={events} what="the audit log">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>No events match these filters.</p>
            </Empty>
          ) : (
            <>
              <div className="table-wrap">
                <table>
                  <caption className="visually-hidden">Audit events</caption>
                  <thead>
                    <tr>
                      <th scope="col">Time</th>
                      <th scope="col">Action</th>
                      <th scope="col">Who</th>
                      <th scope="col">Outcome</th>
                      <th scope="col">Severity</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.items.map((event) => (
                      <tr key={event.id}>
                        <td>{formatLocal(event.createdAt)}</td>
                        <td>{statusLabel(event.action)}</td>
                        <td>{event.actor.name ?? event.actor.email ?? event.actor.type}</td>
                        <td>
                          <StatusBadge status={event.outcome === "success" ? "ok" : "failed"} />
                          <span className="visually-hidden"> {event.outcome}</span>
                        </td>
                        <td>{statusLabel(event.severity)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <div className="pager">
                <button
                  type="button"
                  disabled={cursors.length === 0}
                  onClick={() => setCursors(cursors.slice(0, -1))}
                >
                  Newer
                </button>
                <button
                  type="button"
                  disabled={!data.nextCursor}
                  onClick={() => data.nextCursor && setCursors([...cursors, data.nextCursor])}
                >
                  Older
                </button>
              </div>
            </>
          )
        }
      </QueryState>
    </>
  );
}
