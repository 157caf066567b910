/** Alert rules (defaults exist from the start; enable, disable, add) and notification channels. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { type ApiError, api, type Schemas, unwrap } from "../api/client";
import { ConfirmButton, Empty, Field, FormError, QueryState, statusLabel } from "../components/ui";
import { useWorkspace } from "../session";

type Rule = Schemas["AlertRule"];
type Metric = Rule["metric"];
type Severity = Rule["severity"];
const METRICS = [
  "publish_failure_rate",
  "publish_attempts",
  "publish_latency_avg_ms",
  "token_refresh_success_rate",
  "token_refresh_failures",
  "queue_pending",
  "posts_per_account_hour",
  "overdue_targets",
] as const satisfies readonly Metric[];
const SEVERITIES = ["info", "warning", "error", "critical"] as const satisfies readonly Severity[];

export function AlertRules() {
  const { id: workspaceId } = useWorkspace();
  const queryClient = useQueryClient();
  const rules = useQuery({
    queryKey: ["alert-rules", workspaceId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspaceId}/alert-rules", { params: { path: { workspaceId } } })),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["alert-rules", workspaceId] });
  const toggle = useMutation<unknown, ApiError, Rule>({
    mutationFn: (rule) =>
      unwrap(
        api.PATCH("/api/v1/workspaces/{workspaceId}/alert-rules/{ruleId}", {
          params: { path: { workspaceId, ruleId: rule.id } },
          body: { enabled: !rule.enabled },
        }),
      ),
    onSettled: refresh,
  });
  const remove = useMutation<unknown, ApiError, string>({
    mutationFn: (ruleId) =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspaceId}/alert-rules/{ruleId}", {
          params: { path: { workspaceId, ruleId } },
        }),
      ),
    onSettled: refresh,
  });
  const [adding, setAdding] = useState(false);
  return (
    <section className="card" aria-labelledby="rules-title">
      <div className="page-header">
        <h2 id="rules-title">Alert rules</h2>
        {!adding ? (
          <button type="button" onClick={() => setAdding(true)}>
            Add a rule
          </button>
        ) : null}
      </div>
      {adding ? <RuleForm onDone={() => setAdding(false)} /> : null}
      <FormError error={toggle.error ?? remove.error} />
      <QueryState query={rules} what="alert rules">
        {(data) => (
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">Alert rules</caption>
              <thead>
                <tr>
                  <th scope="col">Rule</th>
                  <th scope="col">Condition</th>
                  <th scope="col">Severity</th>
                  <th scope="col">Enabled</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((rule) => (
                  <tr key={rule.id}>
                    <td>{rule.name}</td>
                    <td>
                      {statusLabel(rule.metric)} {rule.comparison} {rule.threshold} over{" "}
                      {Math.round(rule.windowSeconds / 60)} min
                    </td>
                    <td>{statusLabel(rule.severity)}</td>
                    <td>
                      <label className="checkbox">
                        <input type="checkbox" checked={rule.enabled} onChange={() => toggle.mutate(rule)} />
                        <span className="visually-hidden">Enable {rule.name}</span>
                        {rule.enabled ? "On" : "Off"}
                      </label>
                    </td>
                    <td>
                      {rule.isDefault ? (
                        <span className="muted">Default</span>
                      ) : (
                        <ConfirmButton
                          label={`Delete ${rule.name}`}
                          question={`Delete the rule ${rule.name}?`}
                          confirmLabel="Delete"
                          onConfirm={() => remove.mutate(rule.id)}
                        />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </QueryState>
    </section>
  );
}

function RuleForm({ onDone }: { onDone: () => void }) {
  const { id: workspaceId } = useWorkspace();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [metric, setMetric] = useState<Metric>("publish_failure_rate");
  const [comparison, setComparison] = useState<Rule["comparison"]>(">");
  const [threshold, setThreshold] = useState("10");
  const [minutes, setMinutes] = useState("60");
  const [severity, setSeverity] = useState<Severity>("warning");
  const [checked, setChecked] = useState(false);
  const create = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/alert-rules", {
          params: { path: { workspaceId } },
          body: {
            name: name.trim(),
            metric,
            comparison,
            threshold: Number(threshold),
            windowSeconds: Number(minutes) * 60,
            minSamples: 1,
            severity,
            scope: "workspace",
            scopeValue: null,
            enabled: true,
          },
        }),
      ),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["alert-rules", workspaceId] });
      onDone();
    },
  });
  const errors = {
    name: name.trim() ? create.error?.forField("name") : "Name the rule.",
    threshold:
      Number.isFinite(Number(threshold)) && threshold !== ""
        ? create.error?.forField("threshold")
        : "Enter a number.",
    minutes: Number(minutes) >= 1 ? create.error?.forField("windowSeconds") : "At least one minute.",
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (!errors.name && !errors.threshold && !errors.minutes) create.mutate();
  };
  const show = (e: string | undefined) => (checked ? e : undefined);
  return (
    <form onSubmit={submit} noValidate aria-label="New alert rule" className="grid-form">
      <Field label="Name" error={show(errors.name)}>
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Metric">
        {(p) => (
          <select {...p} value={metric} onChange={(e) => setMetric(e.target.value as Metric)}>
            {METRICS.map((m) => (
              <option key={m} value={m}>
                {statusLabel(m)}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Comparison">
        {(p) => (
          <select
            {...p}
            value={comparison}
            onChange={(e) => setComparison(e.target.value as Rule["comparison"])}
          >
            {([">", ">=", "<", "<="] as const).map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Threshold" hint="Rates are percentages, latency in ms." error={show(errors.threshold)}>
        {(p) => (
          <input
            {...p}
            inputMode="decimal"
            value={threshold}
            onChange={(e) => setThreshold(e.target.value)}
          />
        )}
      </Field>
      <Field label="Window (minutes)" error={show(errors.minutes)}>
        {(p) => (
          <input {...p} inputMode="numeric" value={minutes} onChange={(e) => setMinutes(e.target.value)} />
        )}
      </Field>
      <Field label="Severity">
        {(p) => (
          <select {...p} value={severity} onChange={(e) => setSeverity(e.target.value as Severity)}>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        )}
      </Field>
      <FormError error={create.error} shownPaths={["name", "threshold", "windowSeconds"]} />
      <div className="actions">
        <button type="submit" className="primary" disabled={create.isPending}>
          Create rule
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function NotificationChannels() {
  const { id: workspaceId } = useWorkspace();
  const queryClient = useQueryClient();
  const channels = useQuery({
    queryKey: ["channels", workspaceId],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/notification-channels", {
          params: { path: { workspaceId } },
        }),
      ),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["channels", workspaceId] });
  const [kind, setKind] = useState<"webhook" | "slack" | "email">("email");
  const [name, setName] = useState("");
  const [target, setTarget] = useState("");
  const [checked, setChecked] = useState(false);
  const create = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/notification-channels", {
          params: { path: { workspaceId } },
          body: { kind, name: name.trim(), target: target.trim(), minSeverity: "warning", events: ["*"] },
        }),
      ),
    onSuccess: async () => {
      setName("");
      setTarget("");
      setChecked(false);
      await refresh();
    },
  });
  const remove = useMutation<unknown, ApiError, string>({
    mutationFn: (channelId) =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspaceId}/notification-channels/{channelId}", {
          params: { path: { workspaceId, channelId } },
        }),
      ),
    onSettled: refresh,
  });
  const targetOk =
    kind === "email" ? /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(target) : /^https?:\/\/\S+/.test(target);
  const errors = {
    name: name.trim() ? create.error?.forField("name") : "Name the channel.",
    target: targetOk
      ? create.error?.forField("target")
      : kind === "email"
        ? "Enter an email address."
        : "Enter an http(s) URL.",
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (!errors.name && !errors.target) create.mutate();
  };
  const show = (e: string | undefined) => (checked || create.error ? e : undefined);
  return (
    <section className="card" aria-labelledby="channels-title">
      <h2 id="channels-title">Notification channels</h2>
      <QueryState query={channels} what="channels">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>No channel yet: alerts show here only.</p>
            </Empty>
          ) : (
            <ul className="list">
              {data.items.map((channel: Schemas["NotificationChannel"]) => (
                <li key={channel.id}>
                  <strong>{channel.name}</strong> <span className="platform">{channel.kind}</span>{" "}
                  {channel.target}{" "}
                  <ConfirmButton
                    label={`Delete ${channel.name}`}
                    question={`Delete ${channel.name}?`}
                    confirmLabel="Delete"
                    onConfirm={() => remove.mutate(channel.id)}
                  />
                </li>
              ))}
            </ul>
          )
        }
      </QueryState>
      <form onSubmit={submit} noValidate aria-label="New notification channel" className="grid-form">
        <Field label="Kind">
          {(p) => (
            <select {...p} value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
              <option value="email">Email</option>
              <option value="slack">Slack</option>
              <option value="webhook">Webhook</option>
            </select>
          )}
        </Field>
        <Field label="Channel name" error={show(errors.name)}>
          {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field label={kind === "email" ? "Email address" : "URL"} error={show(errors.target)}>
          {(p) => <input {...p} value={target} onChange={(e) => setTarget(e.target.value)} />}
        </Field>
        <FormError error={create.error ?? remove.error} shownPaths={["name", "target"]} />
        <div className="actions">
          <button type="submit" disabled={create.isPending}>
            Add channel
          </button>
        </div>
      </form>
    </section>
  );
}
