/** Settings: members and roles, API keys (the secret is shown once), webhooks and their deliveries. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Navigate, NavLink, Route, Routes } from "react-router";
import { type ApiError, api, type Schemas, unwrap } from "../api/client";
import {
  ConfirmButton,
  Empty,
  Field,
  FormError,
  formatLocal,
  PageHeader,
  QueryState,
  StatusBadge,
  statusLabel,
} from "../components/ui";
import { useClients } from "../queries";
import { can, type Role, useWorkspace } from "../session";

const ROLES = ["owner", "admin", "manager", "editor", "viewer", "client"] as const satisfies readonly Role[];
const SCOPES = [
  "posts:read",
  "posts:write",
  "accounts:read",
  "accounts:write",
  "audit:read",
  "monitoring:read",
  "admin",
] as const satisfies readonly Schemas["ApiKey"]["scopes"][number][];
type WebhookEvent = Schemas["WebhookCreateInput"]["events"][number];
const EVENTS = [
  "post.published",
  "post.failed",
  "post.unconfirmed",
  "account.needs_reconnection",
  "account.expiring",
] as const satisfies readonly WebhookEvent[];
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function SettingsPage() {
  const { role } = useWorkspace();
  const admin = can.admin(role);
  return (
    <>
      <PageHeader title="Settings" />
      <nav aria-label="Settings" className="tabs">
        <NavLink to="/settings/members">Members</NavLink>
        {admin ? <NavLink to="/settings/api-keys">API keys</NavLink> : null}
        {admin ? <NavLink to="/settings/webhooks">Webhooks</NavLink> : null}
        <NavLink to="/workspaces">Workspaces</NavLink>
      </nav>
      <Routes>
        <Route index element={<Navigate to="members" replace />} />
        <Route path="members" element={<Members />} />
        <Route path="api-keys" element={<ApiKeys />} />
        <Route path="webhooks" element={<Webhooks />} />
      </Routes>
    </>
  );
}

function Members() {
  const { id: workspaceId, role } = useWorkspace();
  const queryClient = useQueryClient();
  const clients = useClients();
  const members = useQuery({
    queryKey: ["members", workspaceId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspaceId}/members", { params: { path: { workspaceId } } })),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["members", workspaceId] });
  const [email, setEmail] = useState("");
  const [newRole, setNewRole] = useState<Role>("editor");
  const [clientIds, setClientIds] = useState<string[]>([]);
  const [checked, setChecked] = useState(false);
  const invite = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/members", {
          params: { path: { workspaceId } },
          body: { email: email.trim(), role: newRole, ...(clientIds.length > 0 ? { clientIds } : {}) },
        }),
      ),
    onSuccess: async () => {
      setEmail("");
      setClientIds([]);
      setChecked(false);
      await refresh();
    },
  });
  const change = useMutation<unknown, ApiError, { memberId: string; role: Role }>({
    mutationFn: ({ memberId, role: r }) =>
      unwrap(
        api.PATCH("/api/v1/workspaces/{workspaceId}/members/{memberId}", {
          params: { path: { workspaceId, memberId } },
          body: { role: r },
        }),
      ),
    onSettled: refresh,
  });
  const remove = useMutation<unknown, ApiError, string>({
    mutationFn: (memberId) =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspaceId}/members/{memberId}", {
          params: { path: { workspaceId, memberId } },
        }),
      ),
    onSettled: refresh,
  });
  const admin = can.admin(role);
  const errors = {
    email: EMAIL.test(email.trim()) ? invite.error?.forField("email") : "Enter an email address.",
    clients:
      newRole === "client" && clientIds.length === 0
        ? "A client user belongs to at least one client."
        : invite.error?.forField("clientIds"),
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (!errors.email && !errors.clients) invite.mutate();
  };
  const show = (e: string | undefined) => (checked || invite.error ? e : undefined);
  return (
    <section aria-label="Members">
      <FormError error={change.error ?? remove.error} />
      <QueryState query={members} what="members">
        {(data) => (
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">Members</caption>
              <thead>
                <tr>
                  <th scope="col">Person</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((member: Schemas["Member"]) => (
                  <tr key={member.id}>
                    <td>
                      {member.name ?? member.email}
                      <br />
                      <span className="muted">{member.email}</span>
                    </td>
                    <td>
                      {admin ? (
                        <select
                          aria-label={`Role of ${member.email}`}
                          value={member.role}
                          onChange={(e) =>
                            change.mutate({ memberId: member.id, role: e.target.value as Role })
                          }
                        >
                          {ROLES.map((r) => (
                            <option key={r} value={r}>
                              {statusLabel(r)}
                            </option>
                          ))}
                        </select>
                      ) : (
                        statusLabel(member.role)
                      )}
                    </td>
                    <td>
                      <StatusBadge status={member.status === "active" ? "active" : "pending"} />
                    </td>
                    <td>
                      {admin ? (
                        <ConfirmButton
                          label={`Remove ${member.email}`}
                          question={`Remove ${member.email} from the workspace?`}
                          confirmLabel="Remove"
                          onConfirm={() => remove.mutate(member.id)}
                        />
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </QueryState>
      {admin ? (
        <form onSubmit={submit} noValidate className="card grid-form" aria-label="Invite a member">
          <h2>Invite a member</h2>
          <Field
            label="Email"
            hint="They join when they sign up or sign in with this address."
            error={show(errors.email)}
          >
            {(p) => <input {...p} type="email" value={email} onChange={(e) => setEmail(e.target.value)} />}
          </Field>
          <Field label="Role">
            {(p) => (
              <select {...p} value={newRole} onChange={(e) => setNewRole(e.target.value as Role)}>
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {statusLabel(r)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <fieldset>
            <legend>Limit to clients {newRole === "client" ? "(required)" : "(optional)"}</legend>
            {(clients.data?.items ?? []).map((c) => (
              <label key={c.id} className="checkbox">
                <input
                  type="checkbox"
                  checked={clientIds.includes(c.id)}
                  onChange={() =>
                    setClientIds(
                      clientIds.includes(c.id) ? clientIds.filter((x) => x !== c.id) : [...clientIds, c.id],
                    )
                  }
                />
                {c.name}
              </label>
            ))}
            {show(errors.clients) ? <div className="field-error">⚠ {errors.clients}</div> : null}
          </fieldset>
          <FormError error={invite.error} shownPaths={["email", "clientIds"]} />
          <div className="actions">
            <button type="submit" className="primary" disabled={invite.isPending}>
              Send invitation
            </button>
          </div>
        </form>
      ) : null}
    </section>
  );
}

function ApiKeys() {
  const { id: workspaceId } = useWorkspace();
  const queryClient = useQueryClient();
  const keys = useQuery({
    queryKey: ["api-keys", workspaceId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspaceId}/api-keys", { params: { path: { workspaceId } } })),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["api-keys", workspaceId] });
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<(typeof SCOPES)[number][]>(["posts:read", "posts:write"]);
  const [secret, setSecret] = useState<string>();
  const [checked, setChecked] = useState(false);
  const create = useMutation<Schemas["ApiKeyCreated"], ApiError>({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/api-keys", {
          params: { path: { workspaceId } },
          body: { name: name.trim(), scopes },
        }),
      ),
    onSuccess: async (created) => {
      setSecret(created.secret);
      setName("");
      setChecked(false);
      await refresh();
    },
  });
  const revoke = useMutation<unknown, ApiError, string>({
    mutationFn: (keyId) =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspaceId}/api-keys/{keyId}", {
          params: { path: { workspaceId, keyId } },
        }),
      ),
    onSettled: refresh,
  });
  const errors = {
    name: name.trim() ? create.error?.forField("name") : "Name the key after the program that uses it.",
    scopes: scopes.length > 0 ? create.error?.forField("scopes") : "Choose at least one scope.",
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (!errors.name && !errors.scopes) create.mutate();
  };
  const show = (e: string | undefined) => (checked || create.error ? e : undefined);
  return (
    <section aria-label="API keys">
      {secret ? (
        <div className="alert alert-ok" role="status">
          <p>
            <strong>Copy this key now: it is not shown again.</strong>
          </p>
          <code className="secret" data-testid="api-key-secret">
            {secret}
          </code>{" "}
          <button type="button" onClick={() => void navigator.clipboard?.writeText(secret)}>
            Copy
          </button>{" "}
          <button type="button" onClick={() => setSecret(undefined)}>
            I have copied it
          </button>
        </div>
      ) : null}
      <FormError error={revoke.error} />
      <QueryState query={keys} what="API keys">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>No API keys. A key lets a program use Herald's API for this workspace.</p>
            </Empty>
          ) : (
            <ul className="list">
              {data.items.map((key) => (
                <li key={key.id}>
                  <strong>{key.name}</strong> <code>{key.prefix}…</code>{" "}
                  <span className="muted">{key.scopes.join(", ")}</span>{" "}
                  <span className="muted">last used {formatLocal(key.lastUsedAt)}</span>{" "}
                  {key.revokedAt ? (
                    <StatusBadge status="cancelled" />
                  ) : (
                    <ConfirmButton
                      label={`Revoke ${key.name}`}
                      question={`Revoke ${key.name}? Programs using it stop working.`}
                      confirmLabel="Revoke"
                      onConfirm={() => revoke.mutate(key.id)}
                    />
                  )}
                </li>
              ))}
            </ul>
          )
        }
      </QueryState>
      <form onSubmit={submit} noValidate className="card" aria-label="New API key">
        <h2>New API key</h2>
        <Field label="Key name" error={show(errors.name)}>
          {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((scope) => (
            <label key={scope} className="checkbox">
              <input
                type="checkbox"
                checked={scopes.includes(scope)}
                onChange={() =>
                  setScopes(scopes.includes(scope) ? scopes.filter((s) => s !== scope) : [...scopes, scope])
                }
              />
              {scope}
            </label>
          ))}
          {show(errors.scopes) ? <div className="field-error">⚠ {errors.scopes}</div> : null}
        </fieldset>
        <FormError error={create.error} shownPaths={["name", "scopes"]} />
        <button type="submit" className="primary" disabled={create.isPending}>
          Create key
        </button>
      </form>
    </section>
  );
}

function Webhooks() {
  const { id: workspaceId } = useWorkspace();
  const queryClient = useQueryClient();
  const hooks = useQuery({
    queryKey: ["webhooks", workspaceId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspaceId}/webhooks", { params: { path: { workspaceId } } })),
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["webhooks", workspaceId] });
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<WebhookEvent[]>(["post.published", "post.failed"]);
  const [secret, setSecret] = useState<string>();
  const [open, setOpen] = useState<string>();
  const [checked, setChecked] = useState(false);
  const create = useMutation<Schemas["WebhookCreated"], ApiError>({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/webhooks", {
          params: { path: { workspaceId } },
          body: { url: url.trim(), events },
        }),
      ),
    onSuccess: async (created) => {
      setSecret(created.secret);
      setUrl("");
      setChecked(false);
      await refresh();
    },
  });
  const remove = useMutation<unknown, ApiError, string>({
    mutationFn: (webhookId) =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspaceId}/webhooks/{webhookId}", {
          params: { path: { workspaceId, webhookId } },
        }),
      ),
    onSettled: refresh,
  });
  const errors = {
    url: /^https?:\/\/\S+/.test(url.trim()) ? create.error?.forField("url") : "Enter an http(s) URL.",
    events: events.length > 0 ? create.error?.forField("events") : "Choose at least one event.",
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (!errors.url && !errors.events) create.mutate();
  };
  const show = (e: string | undefined) => (checked || create.error ? e : undefined);
  return (
    <section aria-label="Webhooks">
      {secret ? (
        <div className="alert alert-ok" role="status">
          <p>
            <strong>The signing secret, shown once:</strong> <code className="secret">{secret}</code>
          </p>
          <button type="button" onClick={() => setSecret(undefined)}>
            I have copied it
          </button>
        </div>
      ) : null}
      <FormError error={remove.error} />
      <QueryState query={hooks} what="webhooks">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>No webhooks. Herald can POST signed events to your systems when posts publish or fail.</p>
            </Empty>
          ) : (
            <ul className="cards">
              {data.items.map((hook) => (
                <li key={hook.id} className="card">
                  <h3>{hook.url}</h3>
                  <p className="muted">{hook.events.join(", ")}</p>
                  <div className="actions">
                    <button
                      type="button"
                      aria-expanded={open === hook.id}
                      onClick={() => setOpen(open === hook.id ? undefined : hook.id)}
                    >
                      Delivery log
                    </button>
                    <ConfirmButton
                      label="Delete webhook"
                      question={`Delete the webhook to ${hook.url}?`}
                      confirmLabel="Delete"
                      onConfirm={() => remove.mutate(hook.id)}
                    />
                  </div>
                  {open === hook.id ? <Deliveries webhookId={hook.id} /> : null}
                </li>
              ))}
            </ul>
          )
        }
      </QueryState>
      <form onSubmit={submit} noValidate className="card" aria-label="New webhook">
        <h2>New webhook</h2>
        <Field label="URL" error={show(errors.url)}>
          {(p) => <input {...p} type="url" value={url} onChange={(e) => setUrl(e.target.value)} />}
        </Field>
        <fieldset>
          <legend>Events</legend>
          {EVENTS.map((event) => (
            <label key={event} className="checkbox">
              <input
                type="checkbox"
                checked={events.includes(event)}
                onChange={() =>
                  setEvents(events.includes(event) ? events.filter((e) => e !== event) : [...events, event])
                }
              />
              {event}
            </label>
          ))}
          {show(errors.events) ? <div className="field-error">⚠ {errors.events}</div> : null}
        </fieldset>
        <FormError error={create.error} shownPaths={["url", "events"]} />
        <button type="submit" className="primary" disabled={create.isPending}>
          Add webhook
        </button>
      </form>
    </section>
  );
}

function Deliveries({ webhookId }: { webhookId: string }) {
  const { id: workspaceId } = useWorkspace();
  const deliveries = useQuery({
    queryKey: ["deliveries", workspaceId, webhookId],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/webhooks/{webhookId}/deliveries", {
          params: { path: { workspaceId, webhookId } },
        }),
      ),
  });
  return (
    <QueryState query={deliveries} what="deliveries">
      {(data) =>
        data.items.length === 0 ? (
          <p className="muted">No deliveries yet.</p>
        ) : (
          <ul className="list">
            {data.items.map((d) => (
              <li key={d.id}>
                {formatLocal(d.createdAt)} {d.eventType} <StatusBadge status={d.status} /> {d.attempts}{" "}
                attempt
                {d.attempts === 1 ? "" : "s"}
                {d.lastStatus ? `, HTTP ${d.lastStatus}` : ""}
                {d.lastError ? `: ${d.lastError}` : ""}
              </li>
            ))}
          </ul>
        )
      }
    </QueryState>
  );
}
