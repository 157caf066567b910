/**
 * Social accounts: connect through the platform's consent page in a popup, choose which of the
 * accounts found to add, link them to clients, and keep them healthy (reconnect, disconnect).
 *
 * The popup ends on Herald's callback page, which posts `{type: "herald:oauth", ok, pendingId}`
 * to this window (exact origin) and closes; without an opener it comes back to /accounts/connect.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { type ApiError, api, errorMessage, type Schemas, unwrap } from "../api/client";
import {
  ConfirmButton,
  Empty,
  FormError,
  formatLocal,
  Loading,
  PageHeader,
  QueryState,
  StatusBadge,
} from "../components/ui";
import {
  clearConnectStarted,
  markConnectStarted,
  OAUTH_CHANNEL,
  type OAuthRelayMessage,
} from "../oauth-relay";
import { useAccounts, useClients, useProviders } from "../queries";
import { can, useWorkspace } from "../session";

type Account = Schemas["Account"];
type Client = Schemas["Client"];
type OAuthMessage =
  | { type: "herald:oauth"; ok: true; pendingId: string; platform: string; accounts: number }
  | { type: "herald:oauth"; ok: false; platform: string; error: { code: string; message: string } };

function isOAuthMessage(data: unknown): data is OAuthMessage {
  return typeof data === "object" && data !== null && (data as { type?: unknown }).type === "herald:oauth";
}

export function AccountsPage() {
  const workspace = useWorkspace();
  const accounts = useAccounts();
  const clients = useClients();
  const [pendingId, setPendingId] = useState<string>();
  const manage = can.manageAccounts(workspace.role);
  return (
    <>
      <PageHeader title="Accounts" />
      {manage ? <ConnectPanel onPending={setPendingId} /> : null}
      {pendingId ? <PendingChooser pendingId={pendingId} onDone={() => setPendingId(undefined)} /> : null}
      <QueryState query={accounts} what="accounts">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>
                No accounts connected yet. Connect the Sandbox to try Herald without a real social network.
              </p>
            </Empty>
          ) : (
            <ul className="cards">
              {data.items.map((account) => (
                <AccountCard
                  key={account.id}
                  account={account}
                  clients={clients.data?.items ?? []}
                  manage={manage}
                  onPending={setPendingId}
                />
              ))}
            </ul>
          )
        }
      </QueryState>
    </>
  );
}

/** Opens the consent popup and reports the pending selection the callback sends back. */
function useConnect(onPending: (id: string) => void) {
  const { id: workspaceId } = useWorkspace();
  const [error, setError] = useState<string>();
  const [waiting, setWaiting] = useState(false);
  const popup = useRef<Window | null>(null);

  useEffect(() => {
    const listener = (event: MessageEvent) => {
      if (event.origin !== window.location.origin || !isOAuthMessage(event.data)) return;
      setWaiting(false);
      if (event.data.ok) {
        setError(undefined);
        onPending(event.data.pendingId);
      } else {
        setError(event.data.error.message);
      }
    };
    window.addEventListener("message", listener);
    // The popup lost its opener on the way: the result comes through the relay (oauth-relay.ts).
    const channel = typeof BroadcastChannel === "undefined" ? undefined : new BroadcastChannel(OAUTH_CHANNEL);
    if (channel)
      channel.onmessage = (event: MessageEvent<OAuthRelayMessage>) => {
        if (event.data?.type !== "herald:oauth-relay") return;
        setWaiting(false);
        if (event.data.pendingId) {
          setError(undefined);
          onPending(event.data.pendingId);
        } else {
          setError(`The account was not connected (${event.data.error ?? "no answer"}).`);
        }
      };
    return () => {
      window.removeEventListener("message", listener);
      channel?.close();
    };
  }, [onPending]);

  const connect = async (platform: string, clientIds: string[] = []) => {
    setError(undefined);
    // Opened in the click itself, so that popup blockers let it through; pointed at the platform next.
    const opened = window.open("", "herald-connect", "popup,width=640,height=760");
    markConnectStarted();
    popup.current = opened;
    try {
      const { authorizationUrl } = await unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/connections/{platform}/authorize", {
          params: { path: { workspaceId, platform } },
          body: { clientIds },
        }),
      );
      if (opened) {
        opened.location.href = authorizationUrl;
        setWaiting(true);
      } else {
        // Popups blocked: go there in this tab; the callback page brings the person back.
        clearConnectStarted();
        window.location.assign(authorizationUrl);
      }
    } catch (caught) {
      opened?.close();
      setError(errorMessage(caught));
    }
  };
  return { connect, error, waiting };
}

function ConnectPanel({ onPending }: { onPending: (id: string) => void }) {
  const providers = useProviders();
  const { connect, error, waiting } = useConnect(onPending);
  return (
    <section className="card" aria-labelledby="connect-title">
      <h2 id="connect-title">Connect an account</h2>
      <p className="hint">A window opens where you sign in to the platform and allow Herald to post.</p>
      {providers.isPending ? (
        <Loading what="Loading platforms" />
      ) : (
        <div className="actions">
          {(providers.data?.items ?? []).map((provider) => (
            <button
              key={provider.platform}
              type="button"
              className={provider.platform === "sandbox" ? "primary" : ""}
              onClick={() => void connect(provider.platform)}
            >
              Connect {provider.displayName}
            </button>
          ))}
        </div>
      )}
      {waiting ? <p role="status">Waiting for you to finish in the other window…</p> : null}
      {error ? (
        <p className="alert alert-error" role="alert">
          {error}
        </p>
      ) : null}
    </section>
  );
}

/** The accounts a completed OAuth flow found: the person picks which to add and for which clients. */
export function PendingChooser({ pendingId, onDone }: { pendingId: string; onDone: () => void }) {
  const { id: workspaceId } = useWorkspace();
  const queryClient = useQueryClient();
  const clients = useClients();
  const pending = useQuery({
    queryKey: ["pending", workspaceId, pendingId],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/connections/pending/{pendingId}", {
          params: { path: { workspaceId, pendingId } },
        }),
      ),
  });
  const [chosen, setChosen] = useState<Set<string>>();
  const [clientIds, setClientIds] = useState<Set<string>>();
  const selected = chosen ?? new Set(pending.data?.accounts.map((a) => a.platformAccountId) ?? []);
  const linked = clientIds ?? new Set(pending.data?.clientIds ?? []);
  const confirm = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/connections/pending/{pendingId}/confirm", {
          params: { path: { workspaceId, pendingId } },
          body: { platformAccountIds: [...selected], clientIds: [...linked] },
        }),
      ),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["accounts", workspaceId] });
      onDone();
    },
  });
  const toggle = (set: Set<string>, value: string) => {
    const next = new Set(set);
    if (next.has(value)) next.delete(value);
    else next.add(value);
    return next;
  };
  return (
    <section className="card highlight" aria-labelledby="choose-title">
      <h2 id="choose-title">Choose the accounts to add</h2>
      <QueryState query={pending} what="the accounts found">
        {(data) => (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              if (selected.size > 0) confirm.mutate();
            }}
          >
            <fieldset>
              <legend>Accounts found on {data.platform}</legend>
              {data.accounts.map((account) => (
                <label key={account.platformAccountId} className="checkbox">
                  <input
                    type="checkbox"
                    checked={selected.has(account.platformAccountId)}
                    onChange={() => setChosen(toggle(selected, account.platformAccountId))}
                  />
                  {account.name} {account.handle ? <span className="muted">{account.handle}</span> : null}
                  {account.connectedAccountId ? (
                    <span className="muted"> (already connected: renews access)</span>
                  ) : null}
                  {account.missingScopes.length > 0 ? (
                    <span className="field-error">
                      {" "}
                      Missing permissions: {account.missingScopes.join(", ")}
                    </span>
                  ) : null}
                </label>
              ))}
            </fieldset>
            {(clients.data?.items.length ?? 0) > 0 ? (
              <fieldset>
                <legend>Link them to clients</legend>
                {clients.data?.items.map((client) => (
                  <label key={client.id} className="checkbox">
                    <input
                      type="checkbox"
                      checked={linked.has(client.id)}
                      onChange={() => setClientIds(toggle(linked, client.id))}
                    />
                    {client.name}
                  </label>
                ))}
              </fieldset>
            ) : null}
            {selected.size === 0 ? <p className="field-error">⚠ Choose at least one account.</p> : null}
            <FormError error={confirm.error} />
            <div className="actions">
              <button type="submit" className="primary" disabled={confirm.isPending || selected.size === 0}>
                {confirm.isPending
                  ? "Adding…"
                  : `Add ${selected.size} account${selected.size === 1 ? "" : "s"}`}
              </button>
              <button type="button" onClick={onDone}>
                Cancel
              </button>
            </div>
          </form>
        )}
      </QueryState>
    </section>
  );
}

function AccountCard({
  account,
  clients,
  manage,
  onPending,
}: {
  account: Account;
  clients: Client[];
  manage: boolean;
  onPending: (id: string) => void;
}) {
  const { id: workspaceId } = useWorkspace();
  const queryClient = useQueryClient();
  const { connect, error: connectError } = useConnect(onPending);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["accounts", workspaceId] });
  const path = { workspaceId, accountId: account.id };
  const link = useMutation<unknown, ApiError, { clientId: string; on: boolean }>({
    mutationFn: ({ clientId, on }) =>
      on
        ? unwrap(
            api.PUT("/api/v1/workspaces/{workspaceId}/accounts/{accountId}/clients/{clientId}", {
              params: { path: { ...path, clientId } },
            }),
          )
        : unwrap(
            api.DELETE("/api/v1/workspaces/{workspaceId}/accounts/{accountId}/clients/{clientId}", {
              params: { path: { ...path, clientId } },
            }),
          ),
    onSettled: refresh,
  });
  const disconnect = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(api.DELETE("/api/v1/workspaces/{workspaceId}/accounts/{accountId}", { params: { path } })),
    onSuccess: refresh,
  });
  const renew = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(api.POST("/api/v1/workspaces/{workspaceId}/accounts/{accountId}/refresh", { params: { path } })),
    onSettled: refresh,
  });
  const gone = account.status === "disconnected";
  const needsReconnect = account.status === "needs_reconnection" || account.status === "expiring";
  return (
    <li className="card">
      <h2>
        {account.name} <span className="muted">{account.handle ?? ""}</span>
      </h2>
      <p>
        <span className="platform">{account.platform}</span> <StatusBadge status={account.status} />
      </p>
      {account.statusReason ? <p className="hint">{account.statusReason}</p> : null}
      <dl className="facts">
        <dt>Connected</dt>
        <dd>{formatLocal(account.connectedAt)}</dd>
        <dt>Access until</dt>
        <dd>{account.grantExpiresAt ? formatLocal(account.grantExpiresAt) : "No end date"}</dd>
      </dl>
      {!gone && clients.length > 0 ? (
        <fieldset>
          <legend>Clients</legend>
          {clients.map((client) => (
            <label key={client.id} className="checkbox">
              <input
                type="checkbox"
                disabled={!manage || link.isPending}
                // While the change is on its way, the box shows it; a failure puts it back.
                checked={
                  link.isPending && link.variables?.clientId === client.id
                    ? link.variables.on
                    : account.clientIds.includes(client.id)
                }
                onChange={(e) => link.mutate({ clientId: client.id, on: e.target.checked })}
              />
              {client.name}
            </label>
          ))}
        </fieldset>
      ) : null}
      <FormError error={link.error ?? disconnect.error ?? renew.error} />
      {connectError ? (
        <p className="alert alert-error" role="alert">
          {connectError}
        </p>
      ) : null}
      {manage && !gone ? (
        <div className="actions">
          {needsReconnect ? (
            <button
              type="button"
              className="primary"
              onClick={() => void connect(account.platform, account.clientIds)}
            >
              Reconnect {account.name}
            </button>
          ) : (
            <button type="button" onClick={() => renew.mutate()} disabled={renew.isPending}>
              {renew.isPending ? "Refreshing…" : "Refresh access"}
            </button>
          )}
          <ConfirmButton
            label={`Disconnect ${account.name}`}
            question={`Disconnect ${account.name}? Scheduled posts to it will not go out.`}
            confirmLabel="Disconnect"
            busy={disconnect.isPending}
            onConfirm={() => disconnect.mutate()}
          />
        </div>
      ) : null}
    </li>
  );
}

/** Where the callback page sends a person whose popup had no opener (or who came back in one tab). */
export function ConnectReturnPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const pending = params.get("pending");
  const error = params.get("error");
  return (
    <>
      <PageHeader title="Connect an account" />
      {pending ? (
        <PendingChooser pendingId={pending} onDone={() => navigate("/accounts")} />
      ) : (
        <p className="alert alert-error" role="alert">
          The account was not connected{error ? ` (${error})` : ""}. <Link to="/accounts">Try again</Link>.
        </p>
      )}
    </>
  );
}
