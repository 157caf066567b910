/**
 * Connecting accounts end to end over HTTP: Herald's API (in-process) against the Sandbox network
 * on a real loopback port. The OAuth flow, pending selections, accounts and their links,
 * disconnecting, refreshing, the vault's guarantees and single-flight refresh.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccountUnavailableError,
  findCredential,
  refreshCredential,
  tokensOf,
  withAccountTokens,
} from "../src/accounts/credentials.js";
import { sweepTokens } from "../src/accounts/token-sweep.js";
import { SYSTEM } from "../src/audit/audit.js";
import { createAppPool } from "../src/db/pool.js";
import { withWorkspace } from "../src/db/tenant.js";
import { createLogger } from "../src/observability/logger.js";
import { callPlatform } from "../src/providers/http.js";
import { createRegistry } from "../src/providers/registry.js";
import { sandboxError } from "../src/providers/sandbox.js";
import { startSandboxServer } from "../src/sandbox/sandbox.js";
import { reencryptSecrets } from "../src/vault/rotation.js";
import { Vault, VaultError } from "../src/vault/vault.js";
import {
  addMember,
  call,
  createApiKey,
  createClient,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import {
  authorize,
  confirm,
  connectSandbox,
  consentRedirect,
  land,
  sandboxConsent,
} from "./helpers/connect.js";
import { asOwner, dbNow } from "./helpers/database.js";
import { capturedLogger } from "./helpers/log-capture.js";
import { expectProblem } from "./helpers/problems.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";

const CLIENT_ID = "herald";
const CLIENT_SECRET = `sandbox-secret-${randomBytes(6).toString("hex")}`;

let sandbox: { url: string; close(): Promise<void> };
let t: TestApp;
const logs = capturedLogger("debug");
/** Every body Herald answered with in this file: no token may appear in any of them. */
const answered: string[] = [];

let owner: Session;
let workspaceId: string;
let clientId: string;

beforeAll(async () => {
  sandbox = await startSandboxServer({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    log: createLogger("silent"),
    port: 0,
  });
  t = await startTestApp(
    {
      HERALD_SANDBOX_URL: sandbox.url,
      HERALD_SANDBOX_CLIENT_ID: CLIENT_ID,
      HERALD_SANDBOX_CLIENT_SECRET: CLIENT_SECRET,
    },
    { log: logs.log },
  );
  // Every answer Herald gives in this file goes through inject: keep the bodies.
  const inject = t.app.inject.bind(t.app) as (options: InjectOptions) => Promise<LightMyRequestResponse>;
  t.app.inject = (async (options: InjectOptions) => {
    const response = await inject(options);
    answered.push(response.body);
    return response;
  }) as unknown as typeof t.app.inject;
  owner = await signUp(t.app);
  workspaceId = await createWorkspace(t.app, owner);
  clientId = await createClient(t.app, owner, workspaceId);
});

afterAll(async () => {
  await t?.close();
  await sandbox?.close();
});

const deps = () => ({ vault: t.vault, registry: t.registry, log: createLogger("silent") });
const api = (path: string) => `/api/v1/workspaces/${workspaceId}${path}`;
const sandboxUser = () => `user${randomBytes(4).toString("hex")}`;

async function sandboxTokens(): Promise<
  Array<{
    token: string;
    type: string;
    grantId: string;
    username: string;
    revoked: boolean;
    accountIds: string[];
  }>
> {
  const response = await fetch(`${sandbox.url}/admin/tokens`);
  const body = (await response.json()) as { tokens: Awaited<ReturnType<typeof sandboxTokens>> };
  return body.tokens;
}

async function auditActions(
  workspace: string,
  since: Date | string,
): Promise<Array<Record<string, unknown>>> {
  return asOwner(t.db.url, async (client) => {
    const { rows } = await client.query(
      `select action, outcome, severity, actor_type, account_id, client_id, target_id, details
       from audit_events where workspace_id = $1 and created_at >= $2 order by created_at`,
      [workspace, since],
    );
    return rows;
  });
}

async function ownerQuery<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  return asOwner(t.db.url, async (client) => (await client.query<T>(sql, params)).rows);
}

/** Calls the Sandbox API with a token, the way adapters do (for the tests of token use). */
async function sandboxAccounts(accessToken: string): Promise<number> {
  const response = await callPlatform({
    platform: "sandbox",
    method: "GET",
    url: `${sandbox.url}/api/me/accounts`,
    headers: { authorization: `Bearer ${accessToken}` },
    readError: sandboxError,
    log: createLogger("silent"),
  });
  return (response.body as { accounts: unknown[] }).accounts.length;
}

describe("connecting a Sandbox account through the API", () => {
  it("authorize, approve, callback, confirm: the account is listed and linked, and no token leaks anywhere", async () => {
    const user = sandboxUser();
    const authorizationUrl = await authorize(t.app, owner, workspaceId, "sandbox", [clientId]);
    const url = new URL(authorizationUrl);
    expect(url.origin).toBe(new URL(sandbox.url).origin);
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("state")).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    // The state is kept only as a hash.
    const states = await ownerQuery<{ state_hash: Buffer }>("select state_hash from oauth_states");
    expect(states.map((row) => row.state_hash.toString("utf8"))).not.toContain(url.searchParams.get("state"));

    const redirect = await consentRedirect(sandboxConsent(authorizationUrl, user, ["Shop", "Blog"]));
    expect(redirect.pathname).toBe("/api/v1/oauth/callback/sandbox");
    const { response, message } = await land(t.app, owner, redirect);
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/html/);
    expect(response.headers["cache-control"]).toBe("no-store");
    expect(message).toMatchObject({ ok: true, platform: "Sandbox", accounts: 2 });
    if (!message.ok) throw new Error("unreachable");

    const pending = await call(t.app, owner, "GET", api(`/connections/pending/${message.pendingId}`));
    expect(pending.statusCode).toBe(200);
    expect(pending.json()).toMatchObject({ platform: "sandbox", clientIds: [clientId] });
    const offered = pending.json().accounts as Array<{ platformAccountId: string; name: string }>;
    expect(offered.map((account) => account.name).sort()).toEqual(["Blog", "Shop"]);
    const shop = offered.find((account) => account.name === "Shop");
    if (!shop) throw new Error("no Shop offered");
    const listed = await call(t.app, owner, "GET", api("/connections/pending"));
    expect(listed.json().items.map((item: { id: string }) => item.id)).toContain(message.pendingId);

    const added = await confirm(t.app, owner, workspaceId, message.pendingId, {
      platformAccountIds: [shop.platformAccountId],
    });
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ name: "Shop", status: "active", clientIds: [clientId] });

    const accounts = await call(t.app, owner, "GET", api(`/accounts?clientId=${clientId}`));
    expect(accounts.statusCode).toBe(200);
    const [account] = accounts.json().items;
    expect(account).toMatchObject({
      id: added[0]?.id,
      platform: "sandbox",
      platformAccountId: shop.platformAccountId,
      status: "active",
      scopes: ["accounts.read", "posts.write"],
      missingScopes: [],
      clientIds: [clientId],
    });
    expect(Date.parse(account.tokenExpiresAt) - Date.now()).toBeGreaterThan(50 * 60_000);
    expect(Object.keys(account).join(" ")).not.toMatch(/token"|secret|access_?token|refresh_?token/i);

    // The selection is spent: a second confirm finds nothing.
    const again = await call(t.app, owner, "POST", api(`/connections/pending/${message.pendingId}/confirm`), {
      platformAccountIds: [shop.platformAccountId],
    });
    expectProblem(again, 404, "HERALD_NOT_FOUND");

    const actions = (await auditActions(workspaceId, new Date(0))).map((event) => event.action);
    expect(actions).toEqual(
      expect.arrayContaining(["oauth_initiated", "oauth_completed", "account_connected", "account_linked"]),
    );

    // The tokens the Sandbox issued: in no response, no log line, no column in plaintext.
    const issued = (await sandboxTokens())
      .filter((token) => token.username === user)
      .map((token) => token.token);
    expect(issued.length).toBeGreaterThanOrEqual(2);
    const everything = [answered.join("\n"), logs.text(), await databaseText()].join("\n");
    for (const token of issued) {
      expect(everything).not.toContain(token);
      // bytea columns read as hex: a token stored as raw bytes would show this way.
      expect(everything).not.toContain(Buffer.from(token).toString("hex"));
    }
    // ...and the checks above would have seen one.
    expect(await databaseText()).toContain(shop.platformAccountId);
  });

  it("offers the accounts again when the same person reconnects, and renews their tokens without duplicating them", async () => {
    const user = sandboxUser();
    const first = await addSandbox({ user, accounts: ["Main"] });
    const [account] = first;
    if (!account) throw new Error("nothing added");
    const before = await ownerQuery<{ credential_id: string; updated_at: Date }>(
      "select a.credential_id, c.updated_at from social_accounts a join account_credentials c on c.id = a.credential_id where a.id = $1",
      [account.id],
    );

    const since = await dbNow();
    const pendingId = await connectSandbox(t.app, owner, workspaceId, { user, accounts: ["Main"] });
    const pending = await call(t.app, owner, "GET", api(`/connections/pending/${pendingId}`));
    expect(pending.json().accounts[0]).toMatchObject({ connectedAccountId: account.id });
    const second = await confirm(t.app, owner, workspaceId, pendingId);
    expect(second.map((added) => added.id)).toEqual([account.id]);

    const rows = await ownerQuery<{ credential_id: string; updated_at: Date }>(
      `select a.credential_id, c.updated_at from social_accounts a join account_credentials c on c.id = a.credential_id
       where a.workspace_id = $1 and a.platform_account_id = $2`,
      [workspaceId, account.platformAccountId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.credential_id).toBe(before[0]?.credential_id);
    expect(rows[0]?.updated_at.getTime()).toBeGreaterThan(before[0]?.updated_at.getTime() ?? 0);
    const actions = (await auditActions(workspaceId, since)).map((event) => event.action);
    expect(actions).toContain("account_reconnected");
    expect(actions).not.toContain("account_connected");
  });

  it("another workspace connects the same account independently, and its disconnection touches nobody else", async () => {
    const user = sandboxUser();
    const [mine] = await addSandbox({ user, accounts: ["Shared"] });
    const other = await signUp(t.app);
    const otherWorkspace = await createWorkspace(t.app, other, "Other agency");
    const [theirs] = await confirm(
      t.app,
      other,
      otherWorkspace,
      await connectSandbox(t.app, other, otherWorkspace, { user, accounts: ["Shared"] }),
    );
    if (!mine || !theirs) throw new Error("nothing added");
    expect(theirs.platformAccountId).toBe(mine.platformAccountId);
    expect(theirs.id).not.toBe(mine.id);

    const gone = await call(
      t.app,
      other,
      "DELETE",
      `/api/v1/workspaces/${otherWorkspace}/accounts/${theirs.id}`,
    );
    expect(gone.statusCode).toBe(204);
    const stillMine = await call(t.app, owner, "GET", api(`/accounts/${mine.id}`));
    expect(stillMine.json().status).toBe("active");
    const refreshed = await call(t.app, owner, "POST", api(`/accounts/${mine.id}/refresh`));
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json().status).toBe("active");
    // Neither workspace sees the other's account.
    expectProblem(await call(t.app, owner, "GET", api(`/accounts/${theirs.id}`)), 404, "HERALD_NOT_FOUND");
  });
});

describe("the callback refuses what it did not start", () => {
  it("a replayed state: a clear page, nothing added the second time, an oauth_failed event of high severity", async () => {
    const since = await dbNow();
    const url = await authorize(t.app, owner, workspaceId, "sandbox");
    const redirect = await consentRedirect(sandboxConsent(url, sandboxUser(), ["Once"]));
    const first = await land(t.app, owner, redirect);
    expect(first.message.ok).toBe(true);
    const replay = await land(t.app, owner, redirect);
    expect(replay.response.statusCode).toBe(400);
    expect(replay.message).toMatchObject({ ok: false, error: { code: "state_used" } });
    expect(replay.response.body).toContain("already used");
    const pending = await ownerQuery("select 1 from pending_connections where created_at >= $1", [since]);
    expect(pending).toHaveLength(1);
    const failed = (await auditActions(workspaceId, since)).filter(
      (event) => event.action === "oauth_failed",
    );
    expect(failed).toEqual([
      expect.objectContaining({
        outcome: "failure",
        severity: "high",
        details: expect.objectContaining({ reason: "state_used" }),
      }),
    ]);
  });

  it("an unknown, an expired, and a missing state are refused, and so is another person", async () => {
    const unknown = await land(
      t.app,
      owner,
      new URL("http://x/api/v1/oauth/callback/sandbox?code=abc&state=forged"),
    );
    expect(unknown.message).toMatchObject({ ok: false, error: { code: "state_unknown" } });
    const missing = await land(t.app, owner, new URL("http://x/api/v1/oauth/callback/sandbox?code=abc"));
    expect(missing.message).toMatchObject({ ok: false, error: { code: "invalid_request" } });

    const url = await authorize(t.app, owner, workspaceId, "sandbox");
    const state = new URL(url).searchParams.get("state");
    await asOwner(t.db.url, (client) =>
      client.query("update oauth_states set expires_at = now() - interval '1 second' where used_at is null"),
    );
    const expired = await land(
      t.app,
      owner,
      new URL(`http://x/api/v1/oauth/callback/sandbox?code=abc&state=${state}`),
    );
    expect(expired.message).toMatchObject({ ok: false, error: { code: "state_expired" } });
    expect(expired.response.body).toContain("expired");

    const someoneElse = await signUp(t.app);
    const theirs = await consentRedirect(
      sandboxConsent(await authorize(t.app, owner, workspaceId, "sandbox"), sandboxUser(), ["X"]),
    );
    const wrong = await land(t.app, someoneElse, theirs);
    expect(wrong.message).toMatchObject({ ok: false, error: { code: "wrong_person" } });
    const anonymous = await land(t.app, undefined, theirs);
    // The state was spent by the first attempt, whoever made it.
    expect(anonymous.message).toMatchObject({ ok: false, error: { code: "state_used" } });
    const signedOut = await consentRedirect(
      sandboxConsent(await authorize(t.app, owner, workspaceId, "sandbox"), sandboxUser(), ["X"]),
    );
    expect((await land(t.app, undefined, signedOut)).message).toMatchObject({
      ok: false,
      error: { code: "wrong_person" },
    });
  });

  it("renders error=<script>alert(1)</script> inert, and posts the result only to the app's origin", async () => {
    const url = await authorize(t.app, owner, workspaceId, "sandbox");
    const state = new URL(url).searchParams.get("state");
    const hostile = "<script>alert(1)</script>";
    const callback = new URL("http://x/api/v1/oauth/callback/sandbox");
    callback.searchParams.set("state", state ?? "");
    callback.searchParams.set("error", hostile);
    callback.searchParams.set("error_description", '"><img src=x onerror=alert(2)>');
    const { response, message } = await land(t.app, owner, callback);
    expect(response.statusCode).toBe(400);
    expect(response.body).not.toContain("<script>alert");
    expect(response.body).not.toContain("<img");
    expect(response.body).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    // The only scripts: the JSON data block and Herald's own script file; the CSP allows no inline script.
    expect(response.body.match(/<script/g)).toHaveLength(2);
    expect(response.headers["content-security-policy"]).toMatch(/script-src 'self'/);
    expect(message).toMatchObject({ ok: false, error: { code: "platform_error" } });
    const data = response.body.match(/id="herald-oauth-result">([^<]*)</)?.[1] ?? "";
    expect(JSON.parse(data).targetOrigin).toBe(t.config.publicUrl.origin);

    const script = await t.app.inject({ method: "GET", url: "/api/v1/oauth/callback.js" });
    expect(script.statusCode).toBe(200);
    expect(script.body).toContain("postMessage(data.message, data.targetOrigin)");
  });

  it("a person who denies at the platform: a clear page, no account, an oauth_failed event", async () => {
    const since = await dbNow();
    const url = await authorize(t.app, owner, workspaceId, "sandbox");
    const consent = await (await fetch(url)).text();
    const consentId = consent.match(/name="consent_request" value="([^"]+)"/)?.[1];
    expect(consentId).toBeDefined();
    const denied = await fetch(`${sandbox.url}/oauth/authorize/decision`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ consent_request: consentId ?? "", decision: "deny" }),
    });
    const { response, message } = await land(t.app, owner, new URL(denied.headers.get("location") ?? ""));
    expect(response.statusCode).toBe(400);
    expect(message).toMatchObject({ ok: false, error: { code: "denied" } });
    expect(response.body).toContain("did not allow Herald");
    expect(await ownerQuery("select 1 from pending_connections where created_at >= $1", [since])).toEqual([]);
    const events = await auditActions(workspaceId, since);
    expect(
      events.map((event) => [event.action, (event.details as { reason?: string }).reason]),
    ).toContainEqual(["oauth_failed", "denied"]);
  });

  it("a bad code: the platform's refusal, named, and nothing stored", async () => {
    const since = await dbNow();
    const url = await authorize(t.app, owner, workspaceId, "sandbox");
    const redirect = await consentRedirect(sandboxConsent(url, sandboxUser(), ["X"]));
    redirect.searchParams.set("code", "not-a-code-the-sandbox-issued");
    const { response, message } = await land(t.app, owner, redirect);
    expect(response.statusCode).toBe(400);
    expect(message).toMatchObject({ ok: false, platform: "Sandbox", error: { code: "platform_error" } });
    if (message.ok) throw new Error("unreachable");
    expect(message.error.message).toMatch(/^Sandbox did not complete the connection: .*invalid_grant/);
    expect(await ownerQuery("select 1 from pending_connections where created_at >= $1", [since])).toEqual([]);
  });

  for (const [kind, answer] of [
    [
      "an HTML error page",
      { status: 502, type: "text/html", body: "<html><body><h1>502 Bad Gateway</h1></body></html>" },
    ],
    ["garbage JSON", { status: 200, type: "application/json", body: '{"hello":"world"}' }],
    ["a cut-off body", { status: 200, type: "application/json", body: '{"access_token": "abc' }],
  ] as const) {
    it(`a platform answering with ${kind}: a clear error naming the platform, nothing stored`, async () => {
      await withBrokenSandbox(answer, async (other) => {
        const since = await dbNow();
        const url = await authorize(other.app, owner, workspaceId, "sandbox");
        const state = new URL(url).searchParams.get("state");
        const { response, message } = await land(
          other.app,
          owner,
          new URL(`http://x/api/v1/oauth/callback/sandbox?code=abc&state=${state}`),
        );
        expect(response.statusCode).toBe(400);
        expect(message).toMatchObject({ ok: false, platform: "Sandbox", error: { code: "platform_error" } });
        if (message.ok) throw new Error("unreachable");
        expect(message.error.message).toMatch(/^Sandbox did not complete the connection: /);
        expect(message.error.message).not.toContain("<html");
        expect(await ownerQuery("select 1 from pending_connections where created_at >= $1", [since])).toEqual(
          [],
        );
        expect(await ownerQuery("select 1 from account_credentials where created_at >= $1", [since])).toEqual(
          [],
        );
      });
    });
  }
});

describe("bad input", () => {
  it("an unknown or unconfigured platform is a 404; so is a client of another workspace", async () => {
    const path = (platform: string) => api(`/connections/${platform}/authorize`);
    expectProblem(await call(t.app, owner, "POST", path("myspace"), {}), 404, "HERALD_NOT_FOUND");
    // Facebook is a platform Herald knows, but this Herald has no Facebook app configured.
    expectProblem(await call(t.app, owner, "POST", path("facebook"), {}), 404, "HERALD_NOT_FOUND");
    const other = await signUp(t.app);
    const otherWorkspace = await createWorkspace(t.app, other);
    const theirClient = await createClient(t.app, other, otherWorkspace);
    expectProblem(
      await call(t.app, owner, "POST", path("sandbox"), { clientIds: [theirClient] }),
      404,
      "HERALD_NOT_FOUND",
    );
    const invalid = await call(t.app, owner, "POST", path("sandbox"), { clientIds: ["nope"], extra: 1 });
    expect(
      expectProblem(invalid, 400, "HERALD_VALIDATION_FAILED").errors?.map((error) => error.path),
    ).toEqual(expect.arrayContaining(["body.clientIds.0", "body.extra"]));
  });

  it("confirming accounts that were not offered: 400 naming each of them, nothing added", async () => {
    const pendingId = await connectSandbox(t.app, owner, workspaceId, {
      user: sandboxUser(),
      accounts: ["Real"],
    });
    const pending = await call(t.app, owner, "GET", api(`/connections/pending/${pendingId}`));
    const real = pending.json().accounts[0].platformAccountId;
    const response = await call(t.app, owner, "POST", api(`/connections/pending/${pendingId}/confirm`), {
      platformAccountIds: [real, "acct_forged_1", "acct_forged_2"],
    });
    const problem = expectProblem(response, 400, "HERALD_VALIDATION_FAILED");
    expect(problem.detail).toContain("acct_forged_1, acct_forged_2");
    expect(problem.errors).toEqual([
      expect.objectContaining({ path: "body.platformAccountIds.1", rule: "not_offered" }),
      expect.objectContaining({ path: "body.platformAccountIds.2", rule: "not_offered" }),
    ]);
    expect(await ownerQuery("select 1 from social_accounts where platform_account_id = $1", [real])).toEqual(
      [],
    );
    // Still there to choose from, with a client this workspace does not have: 400 naming it.
    const unknownClient = "00000000-0000-4000-8000-000000000000";
    const badClient = await call(t.app, owner, "POST", api(`/connections/pending/${pendingId}/confirm`), {
      platformAccountIds: [real],
      clientIds: [unknownClient],
    });
    expect(expectProblem(badClient, 400, "HERALD_VALIDATION_FAILED").detail).toContain(unknownClient);
  });

  it("only the person who connected sees and confirms the selection; API keys and viewers cannot connect", async () => {
    const pendingId = await connectSandbox(t.app, owner, workspaceId, {
      user: sandboxUser(),
      accounts: ["Mine"],
    });
    const admin = await addMember(t.app, owner, workspaceId, "admin");
    expectProblem(
      await call(t.app, admin, "GET", api(`/connections/pending/${pendingId}`)),
      404,
      "HERALD_NOT_FOUND",
    );
    expectProblem(
      await call(t.app, admin, "POST", api(`/connections/pending/${pendingId}/confirm`), {
        platformAccountIds: ["x"],
      }),
      404,
      "HERALD_NOT_FOUND",
    );
    const viewer = await addMember(t.app, owner, workspaceId, "viewer");
    expectProblem(
      await call(t.app, viewer, "POST", api("/connections/sandbox/authorize"), {}),
      403,
      "HERALD_FORBIDDEN",
    );
    const key = await createApiKey(t.app, owner, workspaceId, ["accounts:write"]);
    expectProblem(
      await call(t.app, key, "POST", api("/connections/sandbox/authorize"), {}),
      403,
      "HERALD_SESSION_REQUIRED",
    );
  });
});

describe("accounts: link, unlink, disconnect, refresh", () => {
  it("links to any client of the workspace and unlinks, with audit events; never to another workspace's client", async () => {
    const [account] = await addSandbox({ user: sandboxUser(), accounts: ["Linked"] });
    if (!account) throw new Error("nothing added");
    const second = await createClient(t.app, owner, workspaceId);
    const since = await dbNow();
    expect(
      (await call(t.app, owner, "PUT", api(`/accounts/${account.id}/clients/${second}`))).statusCode,
    ).toBe(204);
    expect(
      (await call(t.app, owner, "PUT", api(`/accounts/${account.id}/clients/${second}`))).statusCode,
    ).toBe(204);
    expect((await call(t.app, owner, "GET", api(`/accounts/${account.id}`))).json().clientIds).toEqual([
      second,
    ]);
    expect((await call(t.app, owner, "GET", api(`/accounts?clientId=${second}`))).json().items).toHaveLength(
      1,
    );
    expect(
      (await call(t.app, owner, "DELETE", api(`/accounts/${account.id}/clients/${second}`))).statusCode,
    ).toBe(204);
    expect((await call(t.app, owner, "GET", api(`/accounts/${account.id}`))).json().clientIds).toEqual([]);
    const actions = (await auditActions(workspaceId, since)).map((event) => [event.action, event.client_id]);
    // Linking twice records one event.
    expect(actions).toEqual([
      ["account_linked", second],
      ["account_unlinked", second],
    ]);

    const other = await signUp(t.app);
    const theirClient = await createClient(t.app, other, await createWorkspace(t.app, other));
    expectProblem(
      await call(t.app, owner, "PUT", api(`/accounts/${account.id}/clients/${theirClient}`)),
      404,
      "HERALD_NOT_FOUND",
    );
  });

  it("disconnecting revokes the grant at the platform, deletes the tokens, unlinks, and refuses use afterwards", async () => {
    const user = sandboxUser();
    const added = await addSandbox({
      user,
      accounts: ["One", "Two"],
      clientIds: [clientId],
    });
    const [one, two] = added;
    if (!one || !two) throw new Error("two accounts expected");
    const credentialId = (
      await ownerQuery<{ credential_id: string }>("select credential_id from social_accounts where id = $1", [
        one.id,
      ])
    )[0]?.credential_id;

    const since = await dbNow();
    // The first of the two accounts sharing the grant: the tokens stay for the other one.
    expect((await call(t.app, owner, "DELETE", api(`/accounts/${one.id}`))).statusCode).toBe(204);
    expect(await ownerQuery("select 1 from account_credentials where id = $1", [credentialId])).toHaveLength(
      1,
    );
    expect(
      (await sandboxTokens()).filter((token) => token.username === user).every((token) => !token.revoked),
    ).toBe(true);
    // The second: tokens deleted, and revoked at the Sandbox.
    expect((await call(t.app, owner, "DELETE", api(`/accounts/${two.id}`))).statusCode).toBe(204);
    expect(await ownerQuery("select 1 from account_credentials where id = $1", [credentialId])).toEqual([]);
    const tokens = (await sandboxTokens()).filter((token) => token.username === user);
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.every((token) => token.revoked)).toBe(true);

    const shown = (await call(t.app, owner, "GET", api(`/accounts/${two.id}`))).json();
    expect(shown).toMatchObject({ status: "disconnected", clientIds: [] });
    expect(shown.disconnectedAt).not.toBeNull();
    const events = (await auditActions(workspaceId, since)).filter(
      (event) => event.action === "account_disconnected",
    );
    expect(events.map((event) => event.details)).toEqual([
      expect.objectContaining({
        tokensDeleted: false,
        revokedAtPlatform: false,
        unlinkedClients: [clientId],
      }),
      expect.objectContaining({ tokensDeleted: true, revokedAtPlatform: true, unlinkedClients: [clientId] }),
    ]);
    // Disconnecting again changes nothing; linking or refreshing a disconnected account is refused.
    expect((await call(t.app, owner, "DELETE", api(`/accounts/${two.id}`))).statusCode).toBe(204);
    expectProblem(
      await call(t.app, owner, "PUT", api(`/accounts/${two.id}/clients/${clientId}`)),
      409,
      "HERALD_ACCOUNT_DISCONNECTED",
    );
    expectProblem(
      await call(t.app, owner, "POST", api(`/accounts/${two.id}/refresh`)),
      409,
      "HERALD_ACCOUNT_DISCONNECTED",
    );
    // Publishing goes through withAccountTokens, which refuses before anything is sent.
    await expect(
      withAccountTokens(t.pool, deps(), workspaceId, two.id, () => Promise.resolve("sent"), SYSTEM),
    ).rejects.toBeInstanceOf(AccountUnavailableError);
  });

  it("a forced refresh rotates the tokens; a refusal marks the account needs_reconnection with the reason", async () => {
    const user = sandboxUser();
    const [account] = await addSandbox({ user, accounts: ["Fresh"] });
    if (!account) throw new Error("nothing added");
    const since = await dbNow();
    const before = (await sandboxTokens()).filter(
      (token) => token.username === user && token.type === "access",
    );
    const refreshed = await call(t.app, owner, "POST", api(`/accounts/${account.id}/refresh`));
    expect(refreshed.statusCode).toBe(200);
    expect(refreshed.json()).toMatchObject({ status: "active" });
    const after = (await sandboxTokens()).filter(
      (token) => token.username === user && token.type === "access",
    );
    expect(after).toHaveLength(before.length + 1);

    // The person revokes Herald at the platform: the next refresh is refused.
    const current = (await sandboxTokens()).find((token) => token.username === user && !token.revoked);
    await revokeAtSandbox(current?.token ?? "");
    const failed = await call(t.app, owner, "POST", api(`/accounts/${account.id}/refresh`));
    expect(failed.statusCode).toBe(200);
    expect(failed.json()).toMatchObject({ status: "needs_reconnection" });
    expect(failed.json().statusReason).toMatch(/Sandbox refused|invalid_grant/);
    const events = await auditActions(workspaceId, since);
    expect(events.map((event) => [event.action, event.outcome])).toEqual([
      ["token_refreshed", "success"],
      ["token_refresh_failed", "failure"],
    ]);
    expect(JSON.stringify(events)).not.toContain(current?.token);
  });

  it("a platform that cannot be reached: 502 naming it, and the account unchanged", async () => {
    const [account] = await addSandbox({ user: sandboxUser(), accounts: ["Away"] });
    if (!account) throw new Error("nothing added");
    await withBrokenSandbox(
      {
        status: 503,
        type: "text/html",
        body: "<h1>down for maintenance</h1>",
      },
      async (other) => {
        const response = await call(other.app, owner, "POST", api(`/accounts/${account.id}/refresh`));
        const problem = expectProblem(response, 502, "HERALD_PLATFORM_UNAVAILABLE");
        expect(problem.detail).toMatch(/^Sandbox could not complete the request/);
        expect((await call(t.app, owner, "GET", api(`/accounts/${account.id}`))).json().status).toBe(
          "active",
        );
      },
    );
  });
});

describe("tokens in use", () => {
  it("50 concurrent uses with an expired token, from two processes, cause exactly one refresh at the platform", async () => {
    const user = sandboxUser();
    const [account] = await addSandbox({ user, accounts: ["Busy"] });
    if (!account) throw new Error("nothing added");
    const expire = await fetch(`${sandbox.url}/admin/faults`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ expireTokens: [account.platformAccountId] }),
    });
    expect(expire.status).toBe(200);
    const issued = async () =>
      (await sandboxTokens()).filter((token) => token.username === user && token.type === "access").length;
    const before = await issued();

    // A second pool stands for a second worker process: its callers share nothing in memory.
    const otherProcess = createAppPool(t.db.url, {
      max: 8,
      applicationName: "herald-test-2",
      log: createLogger("silent"),
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          withAccountTokens(
            index % 2 ? otherProcess : t.pool,
            deps(),
            workspaceId,
            account.id,
            (tokens) => sandboxAccounts(tokens.accessToken),
            SYSTEM,
          ),
        ),
      );
      expect(results).toEqual(Array(50).fill(1));
    } finally {
      await otherProcess.end();
    }
    expect(await issued()).toBe(before + 1);
    const refreshes = (await auditActions(workspaceId, new Date(0))).filter(
      (event) => event.action === "token_refreshed" && event.account_id === account.id,
    );
    expect(refreshes).toHaveLength(1);
  });

  it("a token the platform refuses even after a refresh is not retried again", async () => {
    const [account] = await addSandbox({ user: sandboxUser(), accounts: ["Stubborn"] });
    if (!account) throw new Error("nothing added");
    let calls = 0;
    const use = async () => {
      calls++;
      return sandboxAccounts("a-token-the-sandbox-never-issued");
    };
    await expect(
      withAccountTokens(t.pool, deps(), workspaceId, account.id, use, SYSTEM),
    ).rejects.toMatchObject({
      kind: "auth",
      platform: "sandbox",
    });
    expect(calls).toBe(2);
  });
});

describe("the vault", () => {
  it("a ciphertext copied into another account's row does not decrypt, and that account then needs reconnection", async () => {
    const [a] = await addSandbox({ user: sandboxUser(), accounts: ["A"] });
    const [b] = await addSandbox({ user: sandboxUser(), accounts: ["B"] });
    if (!a || !b) throw new Error("nothing added");
    const credentialOf = async (accountId: string) =>
      (
        await ownerQuery<{ credential_id: string }>(
          "select credential_id from social_accounts where id = $1",
          [accountId],
        )
      )[0]?.credential_id ?? "";
    const [fromA, toB] = [await credentialOf(a.id), await credentialOf(b.id)];
    await asOwner(t.db.url, (client) =>
      client.query(
        `update account_credentials b set access_token = a.access_token, refresh_token = a.refresh_token
         from account_credentials a where a.id = $1 and b.id = $2`,
        [fromA, toB],
      ),
    );
    const row = await withWorkspace(t.pool, workspaceId, (tx) => findCredential(tx, toB));
    if (!row) throw new Error("no credential");
    expect(() => tokensOf(t.vault, row)).toThrow(VaultError);

    const refreshed = await call(t.app, owner, "POST", api(`/accounts/${b.id}/refresh`));
    expect(refreshed.json()).toMatchObject({ status: "needs_reconnection" });
    expect(refreshed.json().statusReason).toContain("cannot be decrypted");
    // The account it was copied from is untouched.
    expect((await call(t.app, owner, "GET", api(`/accounts/${a.id}`))).json().status).toBe("active");
  });

  it("after rotating to a new key, every secret decrypts with the new key alone; undecryptable ones are counted", async () => {
    // Something of each kind: credentials (above), a pending selection, an OAuth state with its verifier.
    await connectSandbox(t.app, owner, workspaceId, { user: sandboxUser(), accounts: ["Pending"] });
    await authorize(t.app, owner, workspaceId, "sandbox");
    const newKey = { id: "rotated", key: randomBytes(32) };
    const both = new Vault([newKey, ...t.vault.keys]);
    const log = capturedLogger("info");
    const first = await reencryptSecrets(t.pool, both, log.log, { batch: 3 });
    expect(first.reencrypted).toBeGreaterThan(5);
    // The row whose ciphertext was moved (test above) cannot be re-encrypted, and stays as it was.
    expect(first.undecryptable).toBe(1);
    expect(await reencryptSecrets(t.pool, both, log.log)).toEqual({ reencrypted: 0, undecryptable: 1 });

    const alone = new Vault([newKey]);
    const credentials = await ownerQuery<{
      id: string;
      workspace_id: string;
      access_token: Buffer;
      refresh_token: Buffer | null;
      key_id: string;
    }>("select id, workspace_id, access_token, refresh_token, key_id from account_credentials");
    let decrypted = 0;
    for (const row of credentials) {
      if (row.key_id !== "rotated") continue;
      alone.decrypt(row.access_token, {
        workspaceId: row.workspace_id,
        rowId: row.id,
        field: "access_token",
      });
      if (row.refresh_token)
        alone.decrypt(row.refresh_token, {
          workspaceId: row.workspace_id,
          rowId: row.id,
          field: "refresh_token",
        });
      decrypted++;
    }
    expect(decrypted).toBe(credentials.length - 1);
    const pending = await ownerQuery<{
      id: string;
      workspace_id: string;
      credentials: Buffer;
      key_id: string;
    }>("select id, workspace_id, credentials, key_id from pending_connections");
    expect(pending.length).toBeGreaterThan(0);
    for (const row of pending) {
      expect(row.key_id).toBe("rotated");
      alone.decrypt(row.credentials, { workspaceId: row.workspace_id, rowId: row.id, field: "credentials" });
    }
    const states = await ownerQuery<{
      id: string;
      workspace_id: string;
      code_verifier: Buffer;
      key_id: string;
    }>("select id, workspace_id, code_verifier, key_id from oauth_states where code_verifier is not null");
    expect(states.length).toBeGreaterThan(0);
    for (const row of states) {
      expect(row.key_id).toBe("rotated");
      alone.decrypt(row.code_verifier, {
        workspaceId: row.workspace_id,
        rowId: row.id,
        field: "code_verifier",
      });
    }
    expect(
      log.lines().find((line) => line.msg === "secrets re-encrypted with the current key"),
    ).toMatchObject({
      level: "warn",
      undecryptable: 1,
    });
  });
});

describe("the token sweep", () => {
  it("renews tokens entering the refresh window and flags the ones the platform refuses", async () => {
    const vault = t.vault;
    const sweepDeps = { pool: t.pool, vault, registry: t.registry, log: createLogger("silent") };
    const keepUser = sandboxUser();
    const loseUser = sandboxUser();
    const [keep] = await addSandbox({ user: keepUser, accounts: ["Keep"] });
    const [lose] = await addSandbox({ user: loseUser, accounts: ["Lose"] });
    if (!keep || !lose) throw new Error("nothing added");
    // Both expire in five minutes, inside the Sandbox's ten-minute window; one grant is revoked.
    await asOwner(t.db.url, (client) =>
      client.query(
        `update account_credentials set token_expires_at = now() + interval '5 minutes'
         where id in (select credential_id from social_accounts where id = any($1))`,
        [[keep.id, lose.id]],
      ),
    );
    const revoke = (await sandboxTokens()).find(
      (token) => token.username === loseUser && token.type === "refresh",
    );
    await revokeAtSandbox(revoke?.token ?? "");
    const since = await dbNow();
    const result = await sweepTokens(sweepDeps);
    expect(result).toMatchObject({ refreshed: 1, failed: 1, errors: 0 });
    const status = async (id: string) => (await call(t.app, owner, "GET", api(`/accounts/${id}`))).json();
    expect(await status(keep.id)).toMatchObject({ status: "active" });
    expect(Date.parse((await status(keep.id)).tokenExpiresAt) - Date.now()).toBeGreaterThan(50 * 60_000);
    expect(await status(lose.id)).toMatchObject({ status: "needs_reconnection" });
    const events = await auditActions(workspaceId, since);
    expect(events.map((event) => [event.action, event.account_id, event.actor_type])).toEqual(
      expect.arrayContaining([
        ["token_refreshed", keep.id, "system"],
        ["token_refresh_failed", lose.id, "system"],
      ]),
    );
    // A second sweep finds nothing due and records nothing.
    const second = await sweepTokens(sweepDeps);
    expect(second).toMatchObject({ refreshed: 0, failed: 0 });

    // The grant itself ending (refresh tokens expire too): expiring 14 days ahead, then needs reconnection.
    await asOwner(t.db.url, (client) =>
      client.query(
        `update account_credentials set grant_expires_at = now() + interval '10 days'
         where id = (select credential_id from social_accounts where id = $1)`,
        [keep.id],
      ),
    );
    await sweepTokens(sweepDeps);
    expect(await status(keep.id)).toMatchObject({ status: "expiring" });
    expect((await status(keep.id)).statusReason).toMatch(/^Access ends on \d{4}-\d\d-\d\d/);
    await asOwner(t.db.url, (client) =>
      client.query(
        `update account_credentials set grant_expires_at = now() - interval '1 minute'
         where id = (select credential_id from social_accounts where id = $1)`,
        [keep.id],
      ),
    );
    await sweepTokens(sweepDeps);
    expect(await status(keep.id)).toMatchObject({ status: "needs_reconnection" });
    const lifecycle = (await auditActions(workspaceId, since))
      .filter((event) => event.account_id === keep.id)
      .map((event) => event.action);
    expect(lifecycle).toEqual(["token_refreshed", "token_expiring", "token_expired"]);
  });

  it("a refresh that was already done by someone else is not done again", async () => {
    const user = sandboxUser();
    const [account] = await addSandbox({ user, accounts: ["Twice"] });
    if (!account) throw new Error("nothing added");
    const row = await withWorkspace(t.pool, workspaceId, async (tx) => {
      const { rows } = await tx.query<{ credential_id: string }>(
        "select credential_id from social_accounts where id = $1",
        [account.id],
      );
      return findCredential(tx, rows[0]?.credential_id ?? "");
    });
    if (!row) throw new Error("no credential");
    const first = await refreshCredential(t.pool, deps(), workspaceId, row.id, {
      force: true,
      seenUpdatedAt: row.updated_at,
      audit: SYSTEM,
    });
    expect(first.outcome).toBe("refreshed");
    const second = await refreshCredential(t.pool, deps(), workspaceId, row.id, {
      force: true,
      seenUpdatedAt: row.updated_at,
      audit: SYSTEM,
    });
    expect(second.outcome).toBe("fresh");
    if (first.outcome !== "refreshed" || second.outcome !== "fresh") throw new Error("unreachable");
    expect(second.tokens.accessToken).toBe(first.tokens.accessToken);
  });
});

describe("a refresh cut off by the database", () => {
  it("tokens the platform rotated while the database went away are stored when it is back, so the grant survives", async () => {
    const [account] = await addSandbox({ user: sandboxUser(), accounts: ["Rotated"] });
    if (!account) throw new Error("nothing added");
    const credentialId = (
      await ownerQuery<{ credential_id: string }>("select credential_id from social_accounts where id = $1", [
        account.id,
      ])
    )[0]?.credential_id;
    if (!credentialId) throw new Error("no credential");
    // Herald's database connections go through a proxy that is cut the moment the Sandbox is asked
    // for new tokens, and restored 1.5 s later: the platform has rotated them, Herald's transaction is gone.
    const database = await startTcpProxy(t.db.url);
    const pool = createAppPool(database.url, {
      max: 2,
      applicationName: "herald-test-proxied",
      log: createLogger("silent"),
    });
    const sandboxOrigin = new URL(sandbox.url).origin;
    const platform = createServer(async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      if (request.url?.endsWith("/oauth/token") && body.toString().includes("grant_type=refresh_token")) {
        database.cut();
        setTimeout(() => database.restore(), 1500);
      }
      const upstream = await fetch(`${sandboxOrigin}${request.url}`, {
        method: request.method ?? "GET",
        headers: Object.fromEntries(
          ["content-type", "authorization", "accept"].flatMap((h) =>
            request.headers[h] ? [[h, String(request.headers[h])]] : [],
          ),
        ),
        ...(body.length > 0 ? { body } : {}),
      });
      const answer = Buffer.from(await upstream.arrayBuffer());
      response.writeHead(upstream.status, {
        "content-type": upstream.headers.get("content-type") ?? "application/json",
      });
      response.end(answer);
    });
    await new Promise<void>((resolve) => platform.listen(0, "127.0.0.1", resolve));
    const port = (platform.address() as { port: number }).port;
    const registry = createRegistry(
      {
        ...t.config,
        sandbox: {
          ...t.config.sandbox,
          url: `http://127.0.0.1:${port}${new URL(sandbox.url).pathname.replace(/\/$/, "")}`,
        },
      },
      createLogger("silent"),
    );
    try {
      const outcome = await refreshCredential(pool, { ...deps(), registry }, workspaceId, credentialId, {
        force: true,
        audit: SYSTEM,
      });
      expect(outcome.outcome).toBe("refreshed");
    } finally {
      await pool.end();
      await database.close();
      await new Promise<void>((resolve) => platform.close(() => resolve()));
    }
    // The stored refresh token is the rotated one: refreshing again works, and the grant lives.
    const again = await call(t.app, owner, "POST", api(`/accounts/${account.id}/refresh`));
    expect(again.json()).toMatchObject({ status: "active" });
  }, 30_000);
});

// Runs last (tests in a file run in order): everything above, failures included, has been logged.
describe("after every flow above", () => {
  it("no token the Sandbox issued reached a log line or an API response", async () => {
    const issued = (await sandboxTokens()).map((token) => token.token);
    expect(issued.length).toBeGreaterThan(30);
    const logged = logs.text();
    const responses = answered.join("\n");
    expect(logged.length).toBeGreaterThan(10_000);
    for (const token of issued) {
      expect(logged).not.toContain(token);
      expect(responses).not.toContain(token);
    }
  });
});

/** Connects Sandbox accounts as the owner, in the owner's workspace, and adds every one offered. */
async function addSandbox(options: { user: string; accounts: string[]; clientIds?: string[] }) {
  return confirm(t.app, owner, workspaceId, await connectSandbox(t.app, owner, workspaceId, options));
}

/** The person revokes Herald at the Sandbox (RFC 7009, as the client). */
async function revokeAtSandbox(token: string) {
  const response = await fetch(`${sandbox.url}/oauth/revoke`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64")}`,
    },
    body: new URLSearchParams({ token }),
  });
  expect(response.status).toBe(200);
}

/** Every row of every table, as text, as the owner sees it (past RLS). */
async function databaseText(): Promise<string> {
  return asOwner(t.db.url, async (client) => {
    const { rows: tables } = await client.query<{ name: string }>(
      `select format('%I.%I', schemaname, tablename) as name from pg_tables
       where schemaname not in ('pg_catalog', 'information_schema')`,
    );
    const parts: string[] = [];
    for (const { name } of tables) {
      const { rows } = await client.query<{ row: string }>(`select t::text as row from ${name} t`);
      parts.push(...rows.map((row) => row.row));
    }
    return parts.join("\n");
  });
}

/**
 * Runs `fn` with a second Herald on the same database whose Sandbox answers every request the same
 * broken way (an HTML error page, garbage, a cut-off body).
 */
async function withBrokenSandbox(
  answer: { status: number; type: string; body: string },
  fn: (other: TestApp) => Promise<void>,
) {
  const server = createServer((_request, response) => {
    response.writeHead(answer.status, { "content-type": answer.type });
    response.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  const url = `http://127.0.0.1:${address.port}`;
  const registry = createRegistry(
    { ...t.config, sandbox: { ...t.config.sandbox, url } },
    createLogger("silent"),
  );
  const other = await startTestApp({}, { db: t.db, registry, vault: t.vault });
  try {
    await fn(other);
  } finally {
    await other.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
