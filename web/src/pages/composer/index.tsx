/**
 * The composer: pick a client and accounts, write once, override per account, attach media, see
 * every platform's problems and a preview while typing, then publish now, schedule (in the
 * client's time zone, always written out), take the next free slot or save a draft.
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { type FormEvent, useEffect, useId, useMemo, useState } from "react";
import { Link, useNavigate } from "react-router";
import { type ApiError, api, type Schemas, stripLocation, unwrap } from "../../api/client";
import { Empty, Field, FormError, formatInZone, Loading, PageHeader } from "../../components/ui";
import { useAccounts, useClients, useProviders } from "../../queries";
import { useWorkspace } from "../../session";
import { browserTimeZone, isoToZonedLocal, zonedToIso, zoneLabel } from "../../time";
import { MediaPicker } from "./media";
import { Preview } from "./preview";
import { generalErrors, type PostBody, targetErrors, textLength, useLiveValidation } from "./validation";

type Account = Schemas["Account"];
type Media = Schemas["Media"];
type When = "now" | "schedule" | "slot" | "draft";

export function ComposerPage() {
  const clients = useClients();
  const accounts = useAccounts();
  const providers = useProviders();
  if (clients.isPending || accounts.isPending || providers.isPending)
    return <Loading what="Opening the composer" />;
  const active = (accounts.data?.items ?? []).filter((a) => a.status !== "disconnected");
  if (active.length === 0)
    return (
      <>
        <PageHeader title="Compose" />
        <Empty>
          <p>
            Connect an account first: <Link to="/accounts">Accounts</Link>. The Sandbox works without any
            setup.
          </p>
        </Empty>
      </>
    );
  return (
    <Composer clients={clients.data?.items ?? []} accounts={active} providers={providers.data?.items ?? []} />
  );
}

export function Composer({
  clients,
  accounts,
  providers,
}: {
  clients: Schemas["Client"][];
  accounts: Account[];
  providers: Schemas["Provider"][];
}) {
  const { id: workspaceId } = useWorkspace();
  const navigate = useNavigate();
  const ids = useId();
  const [clientId, setClientId] = useState(clients.length === 1 ? (clients[0]?.id ?? "") : "");
  const [selected, setSelected] = useState<string[]>([]);
  const [text, setText] = useState("");
  const [link, setLink] = useState("");
  const [media, setMedia] = useState<Media[]>([]);
  const [overrides, setOverrides] = useState<Record<string, string | undefined>>({});
  const [when, setWhen] = useState<When>("schedule");
  const [local, setLocal] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const [idempotencyKey, setIdempotencyKey] = useState(() => crypto.randomUUID());

  const client = clients.find((c) => c.id === clientId);
  const timeZone = client?.timezone ?? browserTimeZone();
  const shownAccounts = client ? accounts.filter((a) => a.clientIds.includes(client.id)) : accounts;
  const targets = selected.filter((id) => shownAccounts.some((a) => a.id === id));
  const limitOf = (platform: string) =>
    providers.find((p) => p.platform === platform)?.capabilities.text.maxLength;

  const slot = useQuery({
    queryKey: ["slot", workspaceId, clientId],
    enabled: when === "slot" && clientId !== "",
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/posting-slots/next", {
          params: { path: { workspaceId }, query: { clientId } },
        }),
      ),
  });

  const publishAt =
    when === "schedule"
      ? zonedToIso(local, timeZone)
      : when === "slot"
        ? (slot.data?.slot ?? undefined)
        : undefined;
  const localErrors = {
    targets: targets.length === 0 ? "Choose at least one account." : undefined,
    link: link && !/^https?:\/\/\S+\.\S+/.test(link) ? "A link starts with http:// or https://." : undefined,
    when:
      when === "schedule" && !publishAt
        ? "Choose a date and time."
        : when === "schedule" && publishAt && new Date(publishAt).getTime() < Date.now() - 60_000
          ? "This time has passed. Choose a later one, or publish now."
          : when === "slot" && !clientId
            ? "Next free slot needs a client with posting times."
            : when === "slot" && slot.data && !slot.data.slot
              ? `${client?.name ?? "This client"} has no posting times. Add some on the Clients page.`
              : undefined,
  };

  const body = useMemo((): PostBody | undefined => {
    if (targets.length === 0) return undefined;
    const timing =
      when === "now"
        ? { publishNow: true as const }
        : publishAt && when !== "draft"
          ? { publishAt }
          : { draft: true };
    return {
      ...(clientId ? { clientId } : {}),
      content: {
        text,
        ...(media.length > 0 ? { mediaIds: media.map((m) => m.id) } : {}),
        ...(link ? { link } : {}),
      },
      targets: targets.map((accountId) => {
        const override = overrides[accountId];
        return override === undefined ? { accountId } : { accountId, overrides: { text: override } };
      }),
      ...timing,
    };
  }, [targets, when, publishAt, clientId, text, media, link, overrides]);

  const live = useLiveValidation(workspaceId, body);

  const create = useMutation<Schemas["Post"], ApiError, PostBody>({
    mutationFn: (post) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/posts", {
          params: { path: { workspaceId }, header: { "idempotency-key": idempotencyKey } },
          body: post,
        }),
      ),
    onSuccess: (post) => {
      setIdempotencyKey(crypto.randomUUID());
      navigate(`/posts/${post.id}`);
    },
  });

  // The server's verdict was about the post as it was sent: once it changes, live validation speaks.
  const bodyKey = JSON.stringify(body ?? null);
  const { reset, isError } = create;
  const [sentKey, setSentKey] = useState("");
  useEffect(() => {
    if (isError && bodyKey !== sentKey) reset();
  }, [bodyKey, sentKey, isError, reset]);

  const serverError = (path: string) =>
    create.error?.fieldErrors.find((e) => stripLocation(e.path).startsWith(path))?.message;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (!body || localErrors.targets || localErrors.link || localErrors.when) return;
    setSentKey(JSON.stringify(body));
    create.mutate(body);
  };

  const liveTargetsValid = live.result?.valid ?? true;
  const toggleAccount = (id: string) =>
    setSelected(selected.includes(id) ? selected.filter((a) => a !== id) : [...selected, id]);

  return (
    <>
      <PageHeader title="Compose" />
      <form className="composer" onSubmit={submit} noValidate aria-describedby={`${ids}-status`}>
        <div className="composer-main">
          <Field
            label="Client"
            hint={
              client
                ? `Times are in ${zoneLabel(client.timezone)}.`
                : "Optional: without one, times are in your own time zone."
            }
          >
            {(props) => (
              <select {...props} value={clientId} onChange={(e) => setClientId(e.target.value)}>
                <option value="">No client</option>
                {clients.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </select>
            )}
          </Field>

          <fieldset aria-describedby={submitted && localErrors.targets ? `${ids}-targets-error` : undefined}>
            <legend>Accounts</legend>
            {shownAccounts.length === 0 ? (
              <p className="hint">No account is linked to {client?.name}. Link one on the Accounts page.</p>
            ) : (
              shownAccounts.map((account) => (
                <label key={account.id} className="checkbox">
                  <input
                    type="checkbox"
                    checked={selected.includes(account.id)}
                    onChange={() => toggleAccount(account.id)}
                  />
                  {account.name} <span className="platform">{account.platform}</span>
                  {account.status !== "active" ? (
                    <span className="muted"> ({account.status.replaceAll("_", " ")})</span>
                  ) : null}
                </label>
              ))
            )}
            {submitted && localErrors.targets ? (
              <div className="field-error" id={`${ids}-targets-error`}>
                ⚠ {localErrors.targets}
              </div>
            ) : null}
          </fieldset>

          <Field
            label="Text"
            hint="Written once for every account; customise it per account below."
            error={serverError("content.text")}
          >
            {(props) => (
              <textarea {...props} rows={6} value={text} onChange={(e) => setText(e.target.value)} />
            )}
          </Field>

          <Field
            label="Link (optional)"
            error={(submitted ? localErrors.link : undefined) ?? serverError("content.link")}
          >
            {(props) => (
              <input
                {...props}
                type="url"
                inputMode="url"
                placeholder="https://"
                value={link}
                onChange={(e) => setLink(e.target.value)}
              />
            )}
          </Field>

          <MediaPicker media={media} onChange={setMedia} />

          {targets.length > 0 ? (
            <section aria-labelledby={`${ids}-per-account`}>
              <h2 id={`${ids}-per-account`}>Per account</h2>
              {targets.map((accountId) => {
                const index = targets.indexOf(accountId);
                const account = accounts.find((a) => a.id === accountId);
                if (!account) return null;
                const override = overrides[accountId];
                const effective = override ?? text;
                const max = live.result?.targets[index]?.text.maxLength ?? limitOf(account.platform);
                const length = textLength(effective);
                const problems = [
                  ...targetErrors(live.result, index),
                  ...(create.error?.fieldErrors.filter((e) =>
                    new RegExp(`targets\\.${index}(\\.|$)`).test(e.path),
                  ) ?? []),
                ];
                const over = max !== undefined && max !== null && length > max;
                return (
                  <div className="target card" key={accountId} data-testid={`target-${account.platform}`}>
                    <h3>
                      {account.name} <span className="platform">{account.platform}</span>
                    </h3>
                    <p className={`counter${over ? " counter-over" : ""}`} aria-live="polite">
                      {length.toLocaleString("en")}
                      {max ? ` / ${max.toLocaleString("en")}` : ""} characters
                      {over ? ` — ${(length - (max ?? 0)).toLocaleString("en")} too many` : ""}
                    </p>
                    <label className="checkbox">
                      <input
                        type="checkbox"
                        checked={override !== undefined}
                        onChange={(e) =>
                          setOverrides({ ...overrides, [accountId]: e.target.checked ? text : undefined })
                        }
                      />
                      Customise the text for {account.name}
                    </label>
                    {override !== undefined ? (
                      <Field label={`Text for ${account.name}`}>
                        {(props) => (
                          <textarea
                            {...props}
                            rows={4}
                            value={override}
                            onChange={(e) => setOverrides({ ...overrides, [accountId]: e.target.value })}
                          />
                        )}
                      </Field>
                    ) : null}
                    {problems.length > 0 ? (
                      <ul className="problems" aria-label={`Problems for ${account.name}`}>
                        {problems.map((p) => (
                          <li key={p.path + p.message} className="field-error">
                            ⚠ {p.message}
                          </li>
                        ))}
                      </ul>
                    ) : live.result && !live.checking ? (
                      <p className="ok-text">✓ Ready for {account.platform}</p>
                    ) : null}
                    <Preview account={account} text={effective} link={link} media={media} />
                  </div>
                );
              })}
            </section>
          ) : null}

          <fieldset>
            <legend>When</legend>
            {(
              [
                ["now", "Publish now"],
                ["schedule", "Schedule"],
                ["slot", "Next free slot"],
                ["draft", "Save as draft"],
              ] as const
            ).map(([value, label]) => (
              <label key={value} className="radio">
                <input
                  type="radio"
                  name="when"
                  value={value}
                  checked={when === value}
                  onChange={() => setWhen(value)}
                />
                {label}
              </label>
            ))}
            {when === "schedule" ? (
              <Field
                label={`Date and time in ${zoneLabel(timeZone)}`}
                hint={
                  publishAt
                    ? `That is ${formatInZone(publishAt, browserTimeZone())} your time (${browserTimeZone()}).`
                    : undefined
                }
                error={(submitted ? localErrors.when : undefined) ?? serverError("publishAt")}
              >
                {(props) => (
                  <input
                    {...props}
                    type="datetime-local"
                    value={local}
                    min={isoToZonedLocal(new Date().toISOString(), timeZone)}
                    onChange={(e) => setLocal(e.target.value)}
                  />
                )}
              </Field>
            ) : null}
            {when === "slot" ? (
              <p className="hint" aria-live="polite">
                {!clientId
                  ? "Choose a client: its posting times decide the slot."
                  : slot.isPending
                    ? "Finding the next free slot…"
                    : slot.data?.slot
                      ? `Next free slot: ${formatInZone(slot.data.slot, slot.data.timezone)} (${slot.data.timezone}).`
                      : null}
              </p>
            ) : null}
            {submitted && when === "slot" && localErrors.when ? (
              <div className="field-error">⚠ {localErrors.when}</div>
            ) : null}
          </fieldset>

          <p id={`${ids}-status`} className="hint" aria-live="polite">
            {live.checking ? "Checking…" : live.failed ? `Could not check: ${live.failed}` : null}
            {!live.checking && live.result
              ? generalErrors(live.result)
                  .map((e) => e.message)
                  .join(" ")
              : null}
          </p>
          <FormError
            error={create.error}
            shownPaths={["content.text", "content.link", "publishAt", "targets."]}
          />
          <div className="actions">
            <button type="submit" className="primary" disabled={create.isPending}>
              {create.isPending
                ? "Saving…"
                : when === "now"
                  ? "Publish now"
                  : when === "draft"
                    ? "Save draft"
                    : "Schedule post"}
            </button>
            {!liveTargetsValid ? (
              <span className="field-error">⚠ Fix the problems above before publishing.</span>
            ) : null}
          </div>
        </div>
      </form>
    </>
  );
}
