/**
 * Monitoring: is Herald healthy (database, workers, queue), how publishing went (charts, loaded
 * on demand), open alerts to acknowledge, and the alert rules and notification channels.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useState } from "react";
import { type ApiError, api, type Schemas, unwrap } from "../api/client";
import {
  Empty,
  FormError,
  formatLocal,
  Loading,
  PageHeader,
  QueryState,
  StatusBadge,
  statusLabel,
} from "../components/ui";
import { can, useWorkspace } from "../session";
import { AlertRules, NotificationChannels } from "./monitoring-settings";

const Charts = lazy(() => import("./monitoring-charts"));

const RANGES = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30 } as const;

export default function MonitoringPage() {
  const workspace = useWorkspace();
  const [range, setRange] = useState<keyof typeof RANGES>("24h");
  const health = useQuery({
    queryKey: ["health"],
    queryFn: () => unwrap(api.GET("/api/v1/monitoring/health")),
    refetchInterval: 15_000,
  });
  const metrics = useQuery({
    queryKey: ["metrics", workspace.id, range],
    queryFn: () => {
      const to = new Date();
      const from = new Date(to.getTime() - RANGES[range] * 3600_000);
      return unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/monitoring/metrics", {
          params: {
            path: { workspaceId: workspace.id },
            query: { from: from.toISOString(), to: to.toISOString() },
          },
        }),
      );
    },
  });
  return (
    <>
      <PageHeader title="Monitoring" />
      <QueryState query={health} what="Herald's health">
        {(data) => <Health health={data} />}
      </QueryState>
      <section className="card" aria-labelledby="publishing-title">
        <div className="page-header">
          <h2 id="publishing-title">Publishing</h2>
          <label>
            Period{" "}
            <select value={range} onChange={(e) => setRange(e.target.value as keyof typeof RANGES)}>
              <option value="24h">Last 24 hours</option>
              <option value="7d">Last 7 days</option>
              <option value="30d">Last 30 days</option>
            </select>
          </label>
        </div>
        <QueryState query={metrics} what="publishing figures">
          {(data) => (
            <>
              <Figures metrics={data} />
              <Suspense fallback={<Loading what="Loading charts" />}>
                <Charts metrics={data} />
              </Suspense>
            </>
          )}
        </QueryState>
      </section>
      <Alerts />
      {can.monitorWrite(workspace.role) ? (
        <>
          <AlertRules />
          <NotificationChannels />
        </>
      ) : null}
    </>
  );
}

function Health({ health }: { health: Schemas["MonitoringHealth"] }) {
  return (
    <section className="card" aria-labelledby="health-title">
      <h2 id="health-title">
        Herald is <StatusBadge status={health.status} />
      </h2>
      {health.reasons.length > 0 ? (
        <ul>
          {health.reasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      ) : null}
      <dl className="tiles">
        <div>
          <dt>Database</dt>
          <dd>{health.database.ok ? `✓ ${health.database.latencyMs ?? "?"} ms` : "✕ unreachable"}</dd>
        </div>
        <div>
          <dt>Workers live</dt>
          <dd>{health.workers.live.length}</dd>
        </div>
        <div>
          <dt>Queue: due</dt>
          <dd>{health.queue.due}</dd>
        </div>
        <div>
          <dt>Queue: scheduled</dt>
          <dd>{health.queue.scheduled}</dd>
        </div>
        <div>
          <dt>Running</dt>
          <dd>{health.queue.running}</dd>
        </div>
        <div>
          <dt>Overdue targets</dt>
          <dd>{health.queue.overdueTargets}</dd>
        </div>
      </dl>
      <p className="hint">
        Last worker heartbeat: {formatLocal(health.workers.lastHeartbeatAt)}. Checked{" "}
        {formatLocal(health.checkedAt)}.
      </p>
    </section>
  );
}

const percent = (value: number | null) => (value === null ? "—" : `${Math.round(value * 1000) / 10}%`);
const ms = (value: number | null) => (value === null ? "—" : `${Math.round(value)} ms`);

function Figures({ metrics }: { metrics: Schemas["WorkspaceMetrics"] }) {
  const p = metrics.publishing;
  return (
    <dl className="tiles">
      <div>
        <dt>Attempts</dt>
        <dd>{p.attempts}</dd>
      </div>
      <div>
        <dt>Success rate</dt>
        <dd>{percent(p.successRate)}</dd>
      </div>
      <div>
        <dt>Latency p95</dt>
        <dd>{ms(p.latencyMs.p95)}</dd>
      </div>
      <div>
        <dt>Lateness p95</dt>
        <dd>{ms(p.latenessMs.p95)}</dd>
      </div>
      <div>
        <dt>Queue</dt>
        <dd>
          {metrics.queue.scheduled} scheduled, {metrics.queue.due} due, {metrics.queue.overdue} overdue
        </dd>
      </div>
    </dl>
  );
}

function Alerts() {
  const workspace = useWorkspace();
  const queryClient = useQueryClient();
  const alerts = useQuery({
    queryKey: ["alerts", workspace.id],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/alerts", {
          params: { path: { workspaceId: workspace.id }, query: { status: "firing" } },
        }),
      ),
  });
  const acknowledge = useMutation<unknown, ApiError, string>({
    mutationFn: (alertId) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/alerts/{alertId}/acknowledge", {
          params: { path: { workspaceId: workspace.id, alertId } },
        }),
      ),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["alerts", workspace.id] }),
  });
  return (
    <section className="card" aria-labelledby="alerts-title">
      <h2 id="alerts-title">Open alerts</h2>
      <FormError error={acknowledge.error} />
      <QueryState query={alerts} what="alerts">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>✓ No open alerts.</p>
            </Empty>
          ) : (
            <ul className="list">
              {data.items.map((alert) => (
                <li key={alert.id}>
                  <span className={`badge badge-${alert.severity === "info" ? "info" : "bad"}`}>
                    {statusLabel(alert.severity)}
                  </span>{" "}
                  <strong>{alert.ruleName}</strong>: {alert.message}{" "}
                  <span className="muted">since {formatLocal(alert.firedAt)}</span>{" "}
                  {can.monitorWrite(workspace.role) ? (
                    <button
                      type="button"
                      onClick={() => acknowledge.mutate(alert.id)}
                      disabled={acknowledge.isPending}
                    >
                      Acknowledge
                    </button>
                  ) : null}
                </li>
              ))}
            </ul>
          )
        }
      </QueryState>
    </section>
  );
}
