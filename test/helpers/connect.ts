/**
 * Connecting accounts as a person would, over the API: authorize, follow the platform's consent
 * (the Sandbox's `auto_approve=1`, or a fake's scripted dialog), come back to the callback with the
 * session cookie, read the page's result, and confirm the selection.
 */
import type { LightMyRequestResponse } from "fastify";
import type { App } from "../../src/http/app.js";
import { call, type Session } from "./app.js";

export type CallbackMessage =
  | { type: "herald:oauth"; ok: true; pendingId: string; platform: string; accounts: number }
  | { type: "herald:oauth"; ok: false; platform: string; error: { code: string; message: string } };

/** The result the callback page hands to the app (its JSON data block). */
export function callbackMessage(page: string): CallbackMessage {
  const match = page.match(/<script type="application\/json" id="herald-oauth-result">([^<]*)<\/script>/);
  if (!match?.[1]) throw new Error(`no result in the callback page:\n${page}`);
  return JSON.parse(match[1]).message;
}

export async function authorize(
  app: App,
  as: Session,
  workspaceId: string,
  platform: string,
  clientIds: string[] = [],
): Promise<string> {
  const response = await call(
    app,
    as,
    "POST",
    `/api/v1/workspaces/${workspaceId}/connections/${platform}/authorize`,
    { clientIds },
  );
  if (response.statusCode !== 201)
    throw new Error(`authorize failed: ${response.statusCode} ${response.body}`);
  return response.json().authorizationUrl;
}

/** Follows one redirect of the platform's consent and returns where it sends the browser. */
export async function consentRedirect(url: string): Promise<URL> {
  const response = await fetch(url, { redirect: "manual" });
  const location = response.headers.get("location");
  if (response.status !== 302 || !location) {
    throw new Error(`the consent did not redirect: ${response.status} ${await response.text()}`);
  }
  return new URL(location, url);
}

/** Lands on Herald's callback (in-process) with the person's cookie. */
export async function land(
  app: App,
  as: Session | undefined,
  redirect: URL,
): Promise<{ response: LightMyRequestResponse; message: CallbackMessage }> {
  const response = await app.inject({
    method: "GET",
    url: `${redirect.pathname}${redirect.search}`,
    headers: as ? { cookie: as.cookie } : {},
  });
  return { response, message: callbackMessage(response.body) };
}

/** The Sandbox's auto-approved consent for `user`, granting the named accounts. */
export function sandboxConsent(authorizationUrl: string, user: string, accounts: string[]): string {
  const url = new URL(authorizationUrl);
  url.searchParams.set("auto_approve", "1");
  url.searchParams.set("sandbox_user", user);
  url.searchParams.set("sandbox_accounts", accounts.join(","));
  return url.href;
}

/** Authorize → Sandbox consent → callback; the pending selection's id. */
export async function connectSandbox(
  app: App,
  as: Session,
  workspaceId: string,
  options: { user: string; accounts: string[]; clientIds?: string[] },
): Promise<string> {
  const url = await authorize(app, as, workspaceId, "sandbox", options.clientIds ?? []);
  const { message } = await land(
    app,
    as,
    await consentRedirect(sandboxConsent(url, options.user, options.accounts)),
  );
  if (!message.ok) throw new Error(`the connection failed: ${JSON.stringify(message)}`);
  return message.pendingId;
}

export async function confirm(
  app: App,
  as: Session,
  workspaceId: string,
  pendingId: string,
  body: { platformAccountIds?: string[]; clientIds?: string[] } = {},
): Promise<
  Array<{ id: string; platformAccountId: string; name: string; status: string; clientIds: string[] }>
> {
  let platformAccountIds = body.platformAccountIds;
  if (!platformAccountIds) {
    const pending = await call(
      app,
      as,
      "GET",
      `/api/v1/workspaces/${workspaceId}/connections/pending/${pendingId}`,
    );
    platformAccountIds = pending
      .json()
      .accounts.map((account: { platformAccountId: string }) => account.platformAccountId);
  }
  const response = await call(
    app,
    as,
    "POST",
    `/api/v1/workspaces/${workspaceId}/connections/pending/${pendingId}/confirm`,
    { ...body, platformAccountIds },
  );
  if (response.statusCode !== 200) throw new Error(`confirm failed: ${response.statusCode} ${response.body}`);
  return response.json().accounts;
}
