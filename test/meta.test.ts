/**
 * Facebook Pages and Instagram through Facebook Login, over HTTP against the Graph API fake
 * (test/fakes/graph.ts): the connection flow, which tokens are kept, permissions reported by name,
 * Meta's errors, and what refreshing and disconnecting mean on a platform without refresh tokens.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AccountUnavailableError,
  findCredential,
  tokensOf,
  withAccountTokens,
} from "../src/accounts/credentials.js";
import { sweepTokens } from "../src/accounts/token-sweep.js";
import { SYSTEM } from "../src/audit/audit.js";
import { withWorkspace } from "../src/db/tenant.js";
import { createLogger } from "../src/observability/logger.js";
import { GraphClient } from "../src/providers/meta.js";
import { type FakeUser, type GraphFake, startGraphFake } from "./fakes/graph.js";
import {
  call,
  createClient,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { authorize, confirm, consentRedirect, land } from "./helpers/connect.js";
import { asOwner, dbNow } from "./helpers/database.js";
import { capturedLogger } from "./helpers/log-capture.js";
import { expectProblem } from "./helpers/problems.js";

const ALL_PERMISSIONS = [
  "pages_show_list",
  "pages_read_engagement",
  "pages_manage_posts",
  "publish_video",
  "read_insights",
  "instagram_basic",
  "instagram_content_publish",
  "instagram_manage_insights",
  "business_management",
];

let fake: GraphFake;
let t: TestApp;
const logs = capturedLogger("debug");
let owner: Session;
let workspaceId: string;
let clientId: string;

beforeAll(async () => {
  fake = await startGraphFake({ redirectUris: ["http://localhost:3000/api/v1/oauth/callback/facebook"] });
  t = await startTestApp(
    {
      HERALD_FACEBOOK_APP_ID: fake.appId,
      HERALD_FACEBOOK_APP_SECRET: fake.appSecret,
      HERALD_FACEBOOK_GRAPH_URL: fake.url,
      HERALD_FACEBOOK_DIALOG_URL: fake.url,
    },
    { log: logs.log },
  );
  owner = await signUp(t.app);
  workspaceId = await createWorkspace(t.app, owner);
  clientId = await createClient(t.app, owner, workspaceId);
});

afterAll(async () => {
  await t?.close();
  await fake?.close();
});

beforeEach(() => {
  fake.calls.length = 0;
});

const api = (path: string) => `/api/v1/workspaces/${workspaceId}${path}`;
const id = () => String(10_000_000 + Math.floor(Math.random() * 89_999_999));
const deps = () => ({ vault: t.vault, registry: t.registry, log: createLogger("silent") });

function person(overrides: Partial<FakeUser> = {}): FakeUser {
  const user: FakeUser = {
    id: id(),
    name: "Ana Example",
    permissions: ALL_PERMISSIONS,
    pages: [
      { id: id(), name: "Bakery", instagram: { id: id(), username: "bakery", name: "The Bakery" } },
      { id: id(), name: "Bakery Jobs" },
    ],
    ...overrides,
  };
  fake.addUser(user);
  return user;
}

/** Facebook Login as `user` (or their refusal), back to Herald's callback. */
async function login(user: FakeUser | "denies", platform = "facebook") {
  const url = await authorize(t.app, owner, workspaceId, platform, [clientId]);
  fake.setDialogAnswer(user === "denies" ? { error: "access_denied" } : { userId: user.id });
  return land(t.app, owner, await consentRedirect(url));
}

async function pendingOf(user: FakeUser) {
  const { message } = await login(user);
  if (!message.ok) throw new Error(`login failed: ${JSON.stringify(message)}`);
  const pending = await call(t.app, owner, "GET", api(`/connections/pending/${message.pendingId}`));
  expect(pending.statusCode).toBe(200);
  return pending.json() as {
    id: string;
    accounts: Array<{
      platform: string;
      platformAccountId: string;
      name: string;
      handle: string | null;
      missingScopes: string[];
    }>;
  };
}

async function credentialOf(accountId: string) {
  return withWorkspace(t.pool, workspaceId, async (tx) => {
    const { rows } = await tx.query<{ credential_id: string }>(
      "select credential_id from social_accounts where id = $1",
      [accountId],
    );
    const row = await findCredential(tx, rows[0]?.credential_id ?? "");
    if (!row) throw new Error("no credential");
    return row;
  });
}

describe("connecting through Facebook Login", () => {
  it("a person with two pages, one with an Instagram account, is offered exactly three accounts; page tokens are the long-lived ones", async () => {
    const user = person();
    const [bakery, jobs] = user.pages;
    const pending = await pendingOf(user);
    expect(
      pending.accounts.map((account) => [
        account.platform,
        account.platformAccountId,
        account.name,
        account.handle,
      ]),
    ).toEqual([
      ["facebook", bakery?.id, "Bakery", null],
      ["instagram", bakery?.instagram?.id, "The Bakery", "bakery"],
      ["facebook", jobs?.id, "Bakery Jobs", null],
    ]);
    expect(pending.accounts.every((account) => account.missingScopes.length === 0)).toBe(true);
    // Code → short-lived token → one long-lived exchange → debug_token → pages.
    const exchanges = fake.calls.filter((c) => c.path.endsWith("/oauth/access_token"));
    expect(exchanges.map((c) => c.query.grant_type ?? "authorization_code")).toEqual([
      "authorization_code",
      "fb_exchange_token",
    ]);

    const added = await confirm(t.app, owner, workspaceId, pending.id);
    expect(added.map((account) => account.status)).toEqual(["active", "active", "active"]);
    expect(added.every((account) => account.clientIds.includes(clientId))).toBe(true);

    // Instagram acts with its page's token: two credentials for three accounts.
    const byPlatformId = new Map(added.map((account) => [account.platformAccountId, account.id]));
    const bakeryCredential = await credentialOf(byPlatformId.get(bakery?.id ?? "") ?? "");
    const instagramCredential = await credentialOf(byPlatformId.get(bakery?.instagram?.id ?? "") ?? "");
    const jobsCredential = await credentialOf(byPlatformId.get(jobs?.id ?? "") ?? "");
    expect(instagramCredential.id).toBe(bakeryCredential.id);
    expect(jobsCredential.id).not.toBe(bakeryCredential.id);

    // What Meta says about the stored tokens: page tokens that never expire, from the long-lived user token.
    for (const credential of [bakeryCredential, jobsCredential]) {
      const stored = tokensOf(t.vault, credential);
      const debug = new URL(`${fake.url}/v26.0/debug_token`);
      debug.search = new URLSearchParams({
        input_token: stored.accessToken,
        access_token: `${fake.appId}|${fake.appSecret}`,
      }).toString();
      const info = ((await (await fetch(debug)).json()) as { data: Record<string, unknown> }).data;
      expect(info).toMatchObject({ is_valid: true, type: "PAGE", expires_at: 0 });
      expect(credential.token_expires_at).toBeNull();
      expect(credential.grant_expires_at?.getTime()).toBeGreaterThan(Date.now() + 80 * 86_400_000);
      expect(credential.scopes).toEqual(
        expect.arrayContaining(["pages_manage_posts", "instagram_content_publish"]),
      );
      expect(logs.text()).not.toContain(stored.accessToken);
    }

    const accounts = await call(t.app, owner, "GET", api("/accounts?platform=instagram"));
    expect(accounts.json().items).toEqual([
      expect.objectContaining({
        platformAccountId: bakery?.instagram?.id,
        tokenExpiresAt: null,
        status: "active",
      }),
    ]);
  });

  it("connecting for Instagram opens the same Facebook Login", async () => {
    const url = new URL(await authorize(t.app, owner, workspaceId, "instagram"));
    expect(url.origin).toBe(new URL(fake.url).origin);
    expect(url.pathname).toBe("/v26.0/dialog/oauth");
    expect(url.searchParams.get("redirect_uri")).toBe("http://localhost:3000/api/v1/oauth/callback/facebook");
    expect(url.searchParams.get("scope")?.split(",")).toEqual(expect.arrayContaining(ALL_PERMISSIONS));
  });

  it("follows the pages list to its end (paging.next)", async () => {
    const pages = Array.from({ length: 130 }, (_, index) => ({ id: id(), name: `Page ${index}` }));
    const pending = await pendingOf(person({ pages }));
    expect(pending.accounts).toHaveLength(130);
    expect(fake.calls.filter((c) => c.path.endsWith("/accounts"))).toHaveLength(2);
  });

  it("a permission the person did not grant is named on each account that needs it", async () => {
    const user = person({
      permissions: ALL_PERMISSIONS.filter(
        (permission) => permission !== "instagram_content_publish" && permission !== "publish_video",
      ),
      pages: [
        { id: id(), name: "Shop", instagram: { id: id(), username: "shop" } },
        { id: id(), name: "Viewer only", tasks: ["ANALYZE"] },
      ],
    });
    const pending = await pendingOf(user);
    expect(pending.accounts.map((account) => [account.name, account.missingScopes])).toEqual([
      ["Shop", ["publish_video"]],
      ["Shop", ["instagram_content_publish"]],
      ["Viewer only", ["publish_video", "page task CREATE_CONTENT"]],
    ]);
  });

  it("without pages_show_list Meta refuses the pages list, and the page names the permission", async () => {
    const user = person({
      permissions: ALL_PERMISSIONS.filter((permission) => permission !== "pages_show_list"),
    });
    const { response, message } = await login(user);
    expect(response.statusCode).toBe(400);
    expect(message).toMatchObject({ ok: false, platform: "Facebook", error: { code: "platform_error" } });
    if (message.ok) throw new Error("unreachable");
    expect(message.error.message).toContain("pages_show_list");
  });

  it("a person who declines: a clear page and nothing stored", async () => {
    const since = await dbNow();
    const { response, message } = await login("denies");
    expect(response.statusCode).toBe(400);
    expect(message).toMatchObject({ ok: false, error: { code: "denied" } });
    expect(response.body).toContain("You did not allow Herald to use your Facebook accounts");
    const stored = await asOwner(t.db.url, (client) =>
      client.query("select 1 from pending_connections where created_at >= $1", [since]),
    );
    expect(stored.rows).toEqual([]);
  });

  for (const [what, rule, expected] of [
    [
      "an HTML error page",
      { path: /\/oauth\/access_token$/, htmlError: true } as const,
      /Facebook answered with an HTML page/,
    ],
    [
      "Graph error 190 on the pages list",
      { path: /\/accounts$/, error: { code: 190, message: "Error validating access token" } } as const,
      /^Facebook did not complete the connection: Facebook: /,
    ],
    [
      "a rate limit (code 4)",
      { path: /\/debug_token$/, error: { code: 4, message: "Application request limit reached" } } as const,
      /limit/i,
    ],
  ] as const) {
    it(`Meta answering with ${what}: a clear error naming Facebook, nothing stored`, async () => {
      const since = await dbNow();
      const user = person();
      fake.failNext(rule);
      const { message } = await login(user);
      expect(message).toMatchObject({ ok: false, platform: "Facebook", error: { code: "platform_error" } });
      if (message.ok) throw new Error("unreachable");
      expect(message.error.message).toMatch(expected);
      expect(message.error.message).not.toMatch(/<\w+/);
      const stored = await asOwner(t.db.url, (client) =>
        client.query(
          "select (select count(*) from pending_connections where created_at >= $1)::int + (select count(*) from account_credentials where created_at >= $1)::int as n",
          [since],
        ),
      );
      expect(stored.rows[0].n).toBe(0);
    });
  }
});

describe("Meta tokens over time", () => {
  it("a forced refresh asks Meta how the token stands; a token Meta invalidated needs reconnection", async () => {
    const user = person();
    const added = await confirm(t.app, owner, workspaceId, (await pendingOf(user)).id);
    const page = added.find((account) => account.platformAccountId === user.pages[0]?.id);
    const instagram = added.find((account) => account.platformAccountId === user.pages[0]?.instagram?.id);
    if (!page || !instagram) throw new Error("accounts missing");

    const checked = await call(t.app, owner, "POST", api(`/accounts/${page.id}/refresh`));
    expect(checked.statusCode).toBe(200);
    expect(checked.json()).toMatchObject({ status: "active" });
    expect(fake.calls.filter((c) => c.path.endsWith("/debug_token")).length).toBeGreaterThan(0);

    const since = await dbNow();
    fake.expireToken(tokensOf(t.vault, await credentialOf(page.id)).accessToken);
    const failed = await call(t.app, owner, "POST", api(`/accounts/${page.id}/refresh`));
    expect(failed.json()).toMatchObject({ status: "needs_reconnection" });
    expect(failed.json().statusReason).toMatch(/Facebook/);
    // The Instagram account shares the page's token: it needs reconnection too.
    expect((await call(t.app, owner, "GET", api(`/accounts/${instagram.id}`))).json().status).toBe(
      "needs_reconnection",
    );
    const events = await asOwner(t.db.url, (client) =>
      client.query(
        "select action, account_id from audit_events where workspace_id = $1 and created_at >= $2",
        [workspaceId, since],
      ),
    );
    expect(events.rows.map((row) => row.action).sort()).toEqual([
      "token_refresh_failed",
      "token_refresh_failed",
    ]);
  });

  it("an expired token during use: one check with Meta, no blind retry, and the account is refused afterwards", async () => {
    const user = person({ pages: [{ id: id(), name: "Solo" }] });
    const [page] = await confirm(t.app, owner, workspaceId, (await pendingOf(user)).id);
    if (!page) throw new Error("nothing added");
    const graph = new GraphClient({
      appId: fake.appId,
      appSecret: fake.appSecret,
      graphUrl: fake.url,
      dialogUrl: fake.url,
      graphVersion: "v26.0",
      log: createLogger("silent"),
    });
    fake.expireToken(tokensOf(t.vault, await credentialOf(page.id)).accessToken);
    let uses = 0;
    const use = async (tokens: { accessToken: string }) => {
      uses++;
      return graph.get("facebook", page.platformAccountId, tokens.accessToken, { fields: "id,name" });
    };
    await expect(withAccountTokens(t.pool, deps(), workspaceId, page.id, use, SYSTEM)).rejects.toBeInstanceOf(
      AccountUnavailableError,
    );
    expect(uses).toBe(1);
    await expect(withAccountTokens(t.pool, deps(), workspaceId, page.id, use, SYSTEM)).rejects.toMatchObject({
      status: "needs_reconnection",
    });
    expect(uses).toBe(1);
  });

  it("access that ends within 14 days makes the accounts expiring; once it ended, they need reconnection", async () => {
    const user = person({
      pages: [{ id: id(), name: "Seasonal", instagram: { id: id(), username: "seasonal" } }],
    });
    const added = await confirm(t.app, owner, workspaceId, (await pendingOf(user)).id);
    const credential = await credentialOf(added[0]?.id ?? "");
    const sweep = () =>
      sweepTokens({ pool: t.pool, vault: t.vault, registry: t.registry, log: createLogger("silent") });
    const setEnd = (interval: string) =>
      asOwner(t.db.url, (client) =>
        client.query(`update account_credentials set grant_expires_at = now() + $2::interval where id = $1`, [
          credential.id,
          interval,
        ]),
      );
    const statuses = async () =>
      Promise.all(
        added.map(
          async (account) => (await call(t.app, owner, "GET", api(`/accounts/${account.id}`))).json().status,
        ),
      );
    await setEnd("20 days");
    await sweep();
    expect(await statuses()).toEqual(["active", "active"]);
    await setEnd("10 days");
    fake.calls.length = 0;
    await sweep();
    expect(await statuses()).toEqual(["expiring", "expiring"]);
    // Nothing to refresh at Meta: the sweep only looked at the dates.
    expect(fake.calls).toEqual([]);
    await setEnd("-1 minute");
    await sweep();
    expect(await statuses()).toEqual(["needs_reconnection", "needs_reconnection"]);
    // Reconnecting (a new login) brings them back.
    fake.addUser({ ...user });
    const again = await confirm(t.app, owner, workspaceId, (await pendingOf(user)).id);
    expect(again.map((account) => account.id).sort()).toEqual(added.map((account) => account.id).sort());
    expect(await statuses()).toEqual(["active", "active"]);
  });

  it("disconnecting a page keeps the token its Instagram account uses, and never revokes at Meta", async () => {
    const user = person();
    const added = await confirm(t.app, owner, workspaceId, (await pendingOf(user)).id);
    const page = added.find((account) => account.platformAccountId === user.pages[0]?.id);
    const instagram = added.find((account) => account.platformAccountId === user.pages[0]?.instagram?.id);
    if (!page || !instagram) throw new Error("accounts missing");
    fake.calls.length = 0;
    expect((await call(t.app, owner, "DELETE", api(`/accounts/${page.id}`))).statusCode).toBe(204);
    expect((await call(t.app, owner, "GET", api(`/accounts/${instagram.id}`))).json().status).toBe("active");
    expect((await call(t.app, owner, "DELETE", api(`/accounts/${instagram.id}`))).statusCode).toBe(204);
    // Revoking is per person and app at Meta: it would cut every other page and workspace.
    expect(fake.calls.filter((c) => c.path.endsWith("/permissions"))).toEqual([]);
    expectProblem(
      await call(t.app, owner, "POST", api(`/accounts/${instagram.id}/refresh`)),
      409,
      "HERALD_ACCOUNT_DISCONNECTED",
    );
  });
});
