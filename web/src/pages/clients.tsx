/** Clients: the brands a workspace posts for, each with its time zone and posting times. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { type ApiError, api, type Schemas, unwrap } from "../api/client";
import { Empty, Field, FormError, PageHeader, QueryState } from "../components/ui";
import { useClients } from "../queries";
import { can, useWorkspace } from "../session";
import { browserTimeZone } from "../time";

type Client = Schemas["Client"];
type PostingTime = Client["postingTimes"][number];

const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const TIME_ZONES: string[] = (() => {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
})();

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

export function ClientsPage() {
  const workspace = useWorkspace();
  const clients = useClients();
  const [adding, setAdding] = useState(false);
  const manage = can.manageClients(workspace.role);
  return (
    <>
      <PageHeader title="Clients">
        {manage && !adding ? (
          <button type="button" className="primary" onClick={() => setAdding(true)}>
            Add a client
          </button>
        ) : null}
      </PageHeader>
      {adding ? <ClientForm onDone={() => setAdding(false)} /> : null}
      <QueryState query={clients} what="clients">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>
                No clients yet. A client is a brand you post for; its time zone decides when posts go out.
              </p>
            </Empty>
          ) : (
            <ul className="cards">
              {data.items.map((client) => (
                <ClientCard key={client.id} client={client} manage={manage} />
              ))}
            </ul>
          )
        }
      </QueryState>
    </>
  );
}

function ClientCard({ client, manage }: { client: Client; manage: boolean }) {
  const [editing, setEditing] = useState(false);
  if (editing) return <ClientForm client={client} onDone={() => setEditing(false)} />;
  return (
    <li className="card">
      <h2>{client.name}</h2>
      <dl className="facts">
        <dt>Time zone</dt>
        <dd>{client.timezone}</dd>
        <dt>Posting times</dt>
        <dd>
          {client.postingTimes.length === 0
            ? "None set"
            : client.postingTimes.map((t) => `${WEEKDAYS[t.weekday - 1]?.slice(0, 3)} ${t.time}`).join(", ")}
        </dd>
        <dt>Approval</dt>
        <dd>{client.requiresApproval ? "Posts need the client's approval" : "Not required"}</dd>
      </dl>
      {manage ? (
        <button type="button" onClick={() => setEditing(true)} aria-label={`Edit ${client.name}`}>
          Edit
        </button>
      ) : null}
    </li>
  );
}

function ClientForm({ client, onDone }: { client?: Client; onDone: () => void }) {
  const { id: workspaceId } = useWorkspace();
  const queryClient = useQueryClient();
  const [name, setName] = useState(client?.name ?? "");
  const [timezone, setTimezone] = useState(client?.timezone ?? browserTimeZone());
  const [requiresApproval, setRequiresApproval] = useState(client?.requiresApproval ?? false);
  const [times, setTimes] = useState<PostingTime[]>(client?.postingTimes ?? []);
  const [checked, setChecked] = useState(false);

  const save = useMutation<unknown, ApiError>({
    mutationFn: () => {
      const body = { name: name.trim(), timezone, postingTimes: times, requiresApproval };
      return client
        ? unwrap(
            api.PATCH("/api/v1/workspaces/{workspaceId}/clients/{clientId}", {
              params: { path: { workspaceId, clientId: client.id } },
              body,
            }),
          )
        : unwrap(
            api.POST("/api/v1/workspaces/{workspaceId}/clients", { params: { path: { workspaceId } }, body }),
          );
    },
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["clients", workspaceId] });
      onDone();
    },
  });

  const errors = {
    name: name.trim().length === 0 ? "Give the client a name." : save.error?.forField("name"),
    timezone: !isTimeZone(timezone)
      ? "Choose a time zone from the list, like Europe/Paris."
      : save.error?.forField("timezone"),
    postingTimes: times.some((t) => !/^([01]\d|2[0-3]):[0-5]\d$/.test(t.time))
      ? "Every posting time needs an hour and minute."
      : save.error?.fieldErrors.find((e) => e.path.includes("postingTimes"))?.message,
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (errors.name || errors.timezone || errors.postingTimes) return;
    save.mutate();
  };
  const shown = (error: string | undefined) => (checked || save.error ? error : undefined);

  return (
    <form
      onSubmit={submit}
      noValidate
      className="card"
      aria-label={client ? `Edit ${client.name}` : "New client"}
    >
      <h2>{client ? `Edit ${client.name}` : "New client"}</h2>
      <Field label="Client name" error={shown(errors.name)}>
        {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field
        label="Time zone"
        hint="Posting times and schedules are in this zone."
        error={shown(errors.timezone)}
      >
        {(props) => (
          <>
            <input
              {...props}
              list="time-zones"
              value={timezone}
              onChange={(e) => setTimezone(e.target.value)}
              autoComplete="off"
            />
            <datalist id="time-zones">
              {TIME_ZONES.map((zone) => (
                <option key={zone} value={zone} />
              ))}
            </datalist>
          </>
        )}
      </Field>
      <fieldset>
        <legend>Posting times</legend>
        <p className="hint">"Next free slot" in the composer picks the next of these that has no post yet.</p>
        {times.map((time, index) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their position
          <div className="row" key={index}>
            <label>
              <span className="visually-hidden">Weekday of posting time {index + 1}</span>
              <select
                value={time.weekday}
                onChange={(e) =>
                  setTimes(times.map((t, i) => (i === index ? { ...t, weekday: Number(e.target.value) } : t)))
                }
              >
                {WEEKDAYS.map((day, i) => (
                  <option key={day} value={i + 1}>
                    {day}
                  </option>
                ))}
              </select>
            </label>
            <label>
              <span className="visually-hidden">Time of posting time {index + 1}</span>
              <input
                type="time"
                value={time.time}
                onChange={(e) =>
                  setTimes(times.map((t, i) => (i === index ? { ...t, time: e.target.value } : t)))
                }
              />
            </label>
            <button
              type="button"
              onClick={() => setTimes(times.filter((_, i) => i !== index))}
              aria-label={`Remove posting time ${index + 1}`}
            >
              Remove
            </button>
          </div>
        ))}
        {shown(errors.postingTimes) ? <div className="field-error">⚠ {errors.postingTimes}</div> : null}
        <button type="button" onClick={() => setTimes([...times, { weekday: 1, time: "09:30" }])}>
          Add a posting time
        </button>
      </fieldset>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={requiresApproval}
          onChange={(e) => setRequiresApproval(e.target.checked)}
        />
        Posts need the client's approval before they go out
      </label>
      <FormError error={save.error} shownPaths={["name", "timezone"]} />
      <div className="actions">
        <button type="submit" className="primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : client ? "Save changes" : "Create client"}
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
