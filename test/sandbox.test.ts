/**
 * The Sandbox network over real HTTP: OAuth with PKCE and rotating refresh tokens, the posting API
 * with idempotency keys, fault injection, the ledger, the admin API, persistence, and mounting under
 * a prefix in a Herald-like app. The clock is the test's; the random draws are seeded or scripted.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, watch, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import Fastify from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ForbiddenError } from "../src/errors.js";
import { errorHandler, notFoundHandler } from "../src/http/problem.js";
import { createLogger } from "../src/observability/logger.js";
import { type SandboxOptions, sandboxRoutes, startSandboxServer } from "../src/sandbox/sandbox.js";

const CLIENT_ID = "herald-test";
const CLIENT_SECRET = "client secret: with + and %";
const REDIRECT_URI = "http://127.0.0.1:9/connections/callback";
const BASIC = `Basic ${Buffer.from(
  `${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`,
).toString("base64")}`;

let clock = Date.parse("2030-01-01T00:00:00Z");
/** Draws the test scripts (consumed first), then a seeded generator: faults are reproducible. */
const scriptedDraws: number[] = [];
const seeded = mulberry32(20300101);
let draws = 0;
function random(): number {
  draws += 1;
  return scriptedDraws.shift() ?? seeded();
}

function options(overrides: Partial<SandboxOptions> = {}): SandboxOptions {
  return {
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    log: createLogger("silent"),
    now: () => clock,
    random,
    ...overrides,
  };
}

let sandbox: { url: string; close(): Promise<void> };

beforeAll(async () => {
  sandbox = await startSandboxServer({ ...options(), port: 0 });
});

afterAll(async () => {
  await sandbox?.close();
});

beforeEach(async () => {
  scriptedDraws.length = 0;
  const reset = await fetch(`${sandbox.url}/admin/reset`, { method: "POST" });
  expect(reset.status).toBe(204);
});

describe("authorization and consent", () => {
  it("the consent page names the client and scopes and escapes hostile values", async () => {
    const hostile = {
      state: '"><img src=x onerror=alert(1)>',
      scope: "<script>alert(1)</script> posts:write",
      redirect_uri: 'http://127.0.0.1:9/cb?x="><b>bold</b>',
      sandbox_accounts: "<i>Shop</i>",
    };
    const response = await authorize(hostile);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const page = await response.text();
    expect(page).toContain(CLIENT_ID);
    expect(page).toContain("<code>posts:write</code>");
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).toContain("&quot;&gt;&lt;b&gt;bold&lt;/b&gt;");
    expect(page).toContain('value="&lt;i&gt;Shop&lt;/i&gt;"');
    for (const raw of ["<script", "<img", "<b>", "<i>"]) expect(page).not.toContain(raw);
    // The parameters stay on the server: the form carries only the consent request id.
    expect(page).not.toContain("onerror");
    expect(page).toContain(`action="${sandbox.url}/oauth/authorize/decision"`);
    expect(page).toMatch(/name="consent_request" value="[A-Za-z0-9_-]{32}"/);
  });

  it("answers an error page, never a redirect, to requests it cannot trust or that skip S256 PKCE", async () => {
    const cases: Array<[Record<string, string | undefined>, string]> = [
      [{ client_id: "someone-else" }, "Unknown client_id"],
      [{ redirect_uri: undefined }, "redirect_uri is required"],
      [{ redirect_uri: "/relative/callback" }, "absolute http(s) URL"],
      [{ redirect_uri: "javascript:alert(1)" }, "absolute http(s) URL"],
      [{ redirect_uri: "http://127.0.0.1:9/cb#fragment" }, "fragment"],
      [{ response_type: "token" }, "response_type must be code"],
      [{ code_challenge: undefined }, "code_challenge is required"],
      [{ code_challenge_method: "plain" }, "code_challenge_method must be S256"],
      [{ code_challenge_method: undefined }, "code_challenge_method must be S256"],
    ];
    for (const [params, message] of cases) {
      const response = await authorize({ ...params, auto_approve: "1" });
      expect(response.status, message).toBe(400);
      expect(response.headers.get("location")).toBeNull();
      expect(response.headers.get("content-type")).toMatch(/^text\/html/);
      expect(await response.text()).toContain(message);
    }
  });

  it("the consent form approves as the typed user with the typed accounts, once", async () => {
    const { verifier, challenge } = pkce();
    const page = await (await authorize({ code_challenge: challenge, state: "s-1" })).text();
    const consentRequest = consentIdOf(page);
    const approve = await decide({
      consent_request: consentRequest,
      decision: "approve",
      username: "alice",
      accounts: "Alice Page, Alice Shop, Alice Page",
    });
    expect(approve.status).toBe(302);
    const location = new URL(approve.headers.get("location") ?? "");
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get("state")).toBe("s-1");
    const tokens = await exchange(location.searchParams.get("code") ?? "", verifier);
    const accounts = await myAccounts(tokens.access_token);
    expect(accounts.map((a: { name: string; username: string }) => `${a.username}/${a.name}`)).toEqual([
      "alice/Alice Page",
      "alice/Alice Shop",
    ]);

    const again = await decide({ consent_request: consentRequest, decision: "approve", username: "alice" });
    expect(again.status).toBe(400);
    expect(again.headers.get("location")).toBeNull();
  });

  it("Deny redirects with access_denied and the state", async () => {
    const page = await (await authorize({ state: "s-deny" })).text();
    const response = await decide({ consent_request: consentIdOf(page), decision: "deny" });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") ?? "");
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("error_description")).toBeTruthy();
    expect(location.searchParams.get("state")).toBe("s-deny");
    expect(location.searchParams.get("code")).toBeNull();
  });

  it("shows the form again with the error when the typed username is not valid, and keeps the request", async () => {
    const page = await (await authorize()).text();
    const consentRequest = consentIdOf(page);
    const rejected = await decide({
      consent_request: consentRequest,
      decision: "approve",
      username: "not <valid>",
      accounts: "Page",
    });
    expect(rejected.status).toBe(400);
    const again = await rejected.text();
    expect(again).toContain("A username is 1 to 64");
    expect(again).toContain('value="not &lt;valid&gt;"');
    expect(consentIdOf(again)).toBe(consentRequest);
    const approved = await decide({
      consent_request: consentRequest,
      decision: "approve",
      username: "carol",
      accounts: "Page",
    });
    expect(approved.status).toBe(302);
  });

  it("a consent request expires after ten minutes", async () => {
    const page = await (await authorize()).text();
    clock += 10 * 60_000;
    const response = await decide({
      consent_request: consentIdOf(page),
      decision: "approve",
      username: "demo",
      accounts: "x",
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("expired or was already answered");
  });

  it("account ids are stable: the same user and name give the same id on every consent", async () => {
    const first = await connect({ user: "dave", accounts: "Dave Page" });
    const second = await connect({ user: "dave", accounts: "Dave Page,Dave Shop" });
    const firstIds = (await myAccounts(first.access_token)).map((a: { id: string }) => a.id);
    const secondIds = (await myAccounts(second.access_token)).map((a: { id: string }) => a.id);
    expect(firstIds).toHaveLength(1);
    expect(firstIds[0]).toMatch(/^acct_[0-9a-f]{16}$/);
    expect(secondIds).toHaveLength(2);
    expect(secondIds[0]).toBe(firstIds[0]);
    const other = await connect({ user: "erin", accounts: "Dave Page" });
    expect((await myAccounts(other.access_token))[0].id).not.toBe(firstIds[0]);
  });
});

describe("tokens", () => {
  it("auto-approve, then the code and its verifier give a Bearer token pair", async () => {
    const { verifier, challenge } = pkce();
    const redirect = await authorize({ code_challenge: challenge, auto_approve: "1", state: "xyz" });
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get("location") ?? "");
    expect(location.searchParams.get("state")).toBe("xyz");
    const response = await tokenCall({
      grant_type: "authorization_code",
      code: location.searchParams.get("code") ?? "",
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const tokens = await json(response);
    expect(tokens).toEqual({
      access_token: expect.stringMatching(/^sbx_at_[A-Za-z0-9_-]{40,}$/),
      token_type: "Bearer",
      expires_in: 3600,
      refresh_token: expect.stringMatching(/^sbx_rt_[A-Za-z0-9_-]{40,}$/),
      refresh_token_expires_in: 30 * 24 * 3600,
      scope: "accounts:read posts:write",
    });
    const accounts = await myAccounts(tokens.access_token);
    expect(accounts.map((a: { name: string }) => a.name)).toEqual(["Sandbox Page", "Sandbox Shop"]);
    expect(accounts[0]).toMatchObject({ username: "demo", handle: "@demo.sandbox-page" });
  });

  it("a wrong verifier, a reused code, an expired code or another redirect_uri is invalid_grant", async () => {
    const wrongVerifier = await code();
    expect(await grantError({ code: wrongVerifier.code, code_verifier: pkce().verifier })).toBe(
      "invalid_grant",
    );

    const reused = await code();
    await exchange(reused.code, reused.verifier);
    expect(await grantError({ code: reused.code, code_verifier: reused.verifier })).toBe("invalid_grant");

    const expired = await code();
    clock += 61_000;
    expect(await grantError({ code: expired.code, code_verifier: expired.verifier })).toBe("invalid_grant");

    const elsewhere = await code();
    expect(
      await grantError({
        code: elsewhere.code,
        code_verifier: elsewhere.verifier,
        redirect_uri: "http://127.0.0.1:9/other",
      }),
    ).toBe("invalid_grant");

    expect(await grantError({ code: "never-issued", code_verifier: pkce().verifier })).toBe("invalid_grant");
  });

  it("presenting a code twice revokes the tokens its first exchange obtained", async () => {
    const issued = await code();
    const tokens = await exchange(issued.code, issued.verifier);
    expect((await apiCall(tokens.access_token, "GET", "/api/me/accounts")).status).toBe(200);
    await grantError({ code: issued.code, code_verifier: issued.verifier });
    const after = await apiCall(tokens.access_token, "GET", "/api/me/accounts");
    expect(after.status).toBe(401);
    expect((await json(after)).error.code).toBe("invalid_token");
  });

  it("authenticates the client by HTTP Basic or in the body; a wrong one is 401 invalid_client", async () => {
    const inBody = await code();
    const body = await tokenCall(
      {
        grant_type: "authorization_code",
        code: inBody.code,
        redirect_uri: REDIRECT_URI,
        code_verifier: inBody.verifier,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
      },
      null,
    );
    expect(body.status).toBe(200);

    const wrongBasic = await tokenCall(
      { grant_type: "refresh_token", refresh_token: "x" },
      `Basic ${Buffer.from(`${CLIENT_ID}:wrong`).toString("base64")}`,
    );
    expect(wrongBasic.status).toBe(401);
    expect(wrongBasic.headers.get("www-authenticate")).toMatch(/^Basic/);
    expect(await json(wrongBasic)).toMatchObject({ error: "invalid_client" });

    const wrongBody = await tokenCall(
      { grant_type: "refresh_token", refresh_token: "x", client_id: "nobody", client_secret: CLIENT_SECRET },
      null,
    );
    expect(wrongBody.status).toBe(401);
    expect(await json(wrongBody)).toMatchObject({ error: "invalid_client" });

    const none = await tokenCall({ grant_type: "refresh_token", refresh_token: "x" }, null);
    expect(none.status).toBe(401);
  });

  it("refuses unknown grant types and requests missing their parameters", async () => {
    const unsupported = await tokenCall({ grant_type: "password", username: "demo" });
    expect(unsupported.status).toBe(400);
    expect((await json(unsupported)).error).toBe("unsupported_grant_type");
    const missing = await tokenCall({ grant_type: "authorization_code", code: "abc" });
    expect(missing.status).toBe(400);
    expect(await json(missing)).toMatchObject({
      error: "invalid_request",
      error_description: expect.any(String),
    });
    const repeated = await fetch(`${sandbox.url}/oauth/token`, {
      method: "POST",
      headers: { authorization: BASIC, "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=refresh_token&refresh_token=a&refresh_token=b",
    });
    expect((await json(repeated)).error).toBe("invalid_request");
  });

  it("a refresh token rotates: the new pair works and the old refresh token is spent", async () => {
    const first = await connect();
    const second = await refresh(first.refresh_token);
    expect(second.status).toBe(200);
    const rotated = await json(second);
    expect(rotated.refresh_token).not.toBe(first.refresh_token);
    expect(rotated.access_token).not.toBe(first.access_token);
    expect((await apiCall(rotated.access_token, "GET", "/api/me/accounts")).status).toBe(200);
    const third = await refresh(rotated.refresh_token);
    expect(third.status).toBe(200);
  });

  it("presenting a rotated refresh token again is reuse: invalid_grant, and the whole grant is revoked", async () => {
    const first = await connect();
    const rotated = await json(await refresh(first.refresh_token));
    const reuse = await refresh(first.refresh_token);
    expect(reuse.status).toBe(400);
    expect((await json(reuse)).error).toBe("invalid_grant");
    const access = await apiCall(rotated.access_token, "GET", "/api/me/accounts");
    expect(access.status).toBe(401);
    expect((await json(access)).error.code).toBe("invalid_token");
    expect((await refresh(rotated.refresh_token)).status).toBe(400);
  });

  it("revocation ends every token of the grant and answers 200 for unknown tokens", async () => {
    const tokens = await connect();
    const revoke = (token: string) =>
      fetch(`${sandbox.url}/oauth/revoke`, {
        method: "POST",
        headers: { authorization: BASIC, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }),
      });
    expect((await revoke(tokens.refresh_token)).status).toBe(200);
    expect((await apiCall(tokens.access_token, "GET", "/api/me/accounts")).status).toBe(401);
    expect((await refresh(tokens.refresh_token)).status).toBe(400);
    expect((await revoke("sbx_rt_unknown")).status).toBe(200);
    const unauthenticated = await fetch(`${sandbox.url}/oauth/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: "x" }),
    });
    expect(unauthenticated.status).toBe(401);
  });

  it("an access token past its lifetime is 401 token_expired; refreshing gives a working one", async () => {
    const tokens = await connect();
    clock += 3600 * 1000;
    const expired = await apiCall(tokens.access_token, "GET", "/api/me/accounts");
    expect(expired.status).toBe(401);
    expect((await json(expired)).error.code).toBe("token_expired");
    const renewed = await json(await refresh(tokens.refresh_token));
    expect((await apiCall(renewed.access_token, "GET", "/api/me/accounts")).status).toBe(200);
  });

  it("a refresh token past its lifetime is invalid_grant", async () => {
    const tokens = await connect();
    clock += 30 * 24 * 3600 * 1000;
    const response = await refresh(tokens.refresh_token);
    expect(response.status).toBe(400);
    expect((await json(response)).error).toBe("invalid_grant");
  });

  it("expireTokens ends the named accounts' current access tokens, and only theirs", async () => {
    const target = await connect({ user: "frank", accounts: "Frank Page" });
    const bystander = await connect({ user: "grace", accounts: "Grace Page" });
    const [frankPage] = await myAccounts(target.access_token);
    const put = await admin("PUT", "/admin/faults", { expireTokens: [frankPage.id] });
    expect(put.status).toBe(200);
    expect(await json(put)).not.toHaveProperty("expireTokens");
    const expired = await apiCall(target.access_token, "GET", "/api/me/accounts");
    expect((await json(expired)).error.code).toBe("token_expired");
    expect((await apiCall(bystander.access_token, "GET", "/api/me/accounts")).status).toBe(200);
    const renewed = await json(await refresh(target.refresh_token));
    expect((await apiCall(renewed.access_token, "GET", "/api/me/accounts")).status).toBe(200);
  });

  it("GET /admin/tokens lists every issued token with its user, accounts, expiry and state", async () => {
    const first = await connect({ user: "heidi", accounts: "Heidi Page" });
    const rotated = await json(await refresh(first.refresh_token));
    const { tokens } = await json(await admin("GET", "/admin/tokens"));
    const byToken = new Map(tokens.map((t: { token: string }) => [t.token, t]));
    const [account] = await myAccounts(rotated.access_token);
    expect(byToken.get(first.access_token)).toMatchObject({
      type: "access",
      username: "heidi",
      accountIds: [account.id],
      expiresAt: new Date(clock + 3600_000).toISOString(),
      revoked: false,
    });
    expect(byToken.get(first.refresh_token)).toMatchObject({ type: "refresh", revoked: true });
    expect(byToken.get(rotated.refresh_token)).toMatchObject({ type: "refresh", revoked: false });
  });
});

describe("posting API", () => {
  it("creates posts and shows them on the feed page, newest first, escaped", async () => {
    const { token, accountId } = await connectedAccount();
    const first = await createPost(token, accountId, {
      text: "Hello <script>alert(1)</script> & welcome",
      mediaUrls: ["https://cdn.example.com/a.jpg"],
      link: "https://example.com/?a=1&b=2",
    });
    expect(first.status).toBe(201);
    const post = await json(first);
    expect(post).toEqual({
      id: expect.stringMatching(/^post_[0-9a-f]{16}$/),
      accountId,
      text: "Hello <script>alert(1)</script> & welcome",
      mediaUrls: ["https://cdn.example.com/a.jpg"],
      link: "https://example.com/?a=1&b=2",
      url: `${sandbox.url}/feed/${accountId}#post-${post.id}`,
      createdAt: new Date(clock).toISOString(),
      idempotencyKey: null,
    });
    clock += 1000;
    const second = await json(await createPost(token, accountId, { text: "Second post" }));

    const feed = await fetch(`${sandbox.url}/feed/${accountId}`);
    expect(feed.status).toBe(200);
    const html = await feed.text();
    expect(html).toContain(`id="post-${post.id}"`);
    expect(html).toContain("Hello &lt;script&gt;alert(1)&lt;/script&gt; &amp; welcome");
    expect(html).not.toContain("<script");
    expect(html).toContain('href="https://example.com/?a=1&amp;b=2"');
    expect(html).toContain('href="https://cdn.example.com/a.jpg"');
    expect(html.indexOf(`id="post-${second.id}"`)).toBeLessThan(html.indexOf(`id="post-${post.id}"`));

    const index = await (await fetch(`${sandbox.url}/`)).text();
    expect(index).toContain(`href="${sandbox.url}/feed/${accountId}"`);
    expect(index).toContain("2 posts");
  });

  it("no token is 401, an account outside the grant 403, an unknown account 404; each is recorded as rejected", async () => {
    const { token, accountId } = await connectedAccount();
    const other = await connect({ user: "ivan", accounts: "Ivan Page" });
    const [ivanPage] = await myAccounts(other.access_token);

    const noToken = await fetch(`${sandbox.url}/api/accounts/${accountId}/posts`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "x" }),
    });
    expect(noToken.status).toBe(401);
    expect(await json(noToken)).toEqual({ error: { code: "invalid_token", message: expect.any(String) } });

    const forbidden = await createPost(token, ivanPage.id, { text: "not mine" });
    expect(forbidden.status).toBe(403);
    expect((await json(forbidden)).error.code).toBe("forbidden");

    const unknown = await createPost(token, "acct_0000000000000000", { text: "nowhere" });
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).error.code).toBe("not_found");

    const ledger = await json(await admin("GET", "/admin/ledger"));
    expect(ledger.counts).toMatchObject({ rejected: 3, created: 0 });
    expect(ledger.entries[1]).toMatchObject({
      accountId: ivanPage.id,
      text: "not mine",
      outcome: "rejected",
    });
  });

  it("invalid bodies are 422 invalid_post with the reason, and recorded as rejected", async () => {
    const { token, accountId } = await connectedAccount();
    const cases: Array<[unknown, string]> = [
      [{ text: "" }, "text"],
      [{ text: "   " }, "text"],
      [{ text: "x".repeat(501) }, "at most 500"],
      [{ text: "ok", mediaUrls: Array.from({ length: 5 }, (_, i) => `https://e.com/${i}.jpg`) }, "mediaUrls"],
      [{ text: "ok", mediaUrls: ["/relative.jpg"] }, "mediaUrls.0"],
      [{ text: "ok", link: "ftp://example.com/file" }, "link"],
      [{ text: "ok", extra: true }, "extra"],
      [{ mediaUrls: [] }, "text"],
    ];
    for (const [body, reason] of cases) {
      const response = await createPost(token, accountId, body);
      expect(response.status, reason).toBe(422);
      const { error } = await json(response);
      expect(error.code).toBe("invalid_post");
      expect(error.message).toContain(reason);
    }
    // 500 characters as people count them: emoji are one each.
    expect((await createPost(token, accountId, { text: "😀".repeat(500) })).status).toBe(201);
    const badKey = await createPost(token, accountId, { text: "ok" }, { "idempotency-key": "k".repeat(256) });
    expect(badKey.status).toBe(422);
    const brokenJson = await fetch(`${sandbox.url}/api/accounts/${accountId}/posts`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: '{"text": ',
    });
    expect(brokenJson.status).toBe(400);
    expect((await json(brokenJson)).error.code).toBe("invalid_request");

    const ledger = await json(await admin("GET", "/admin/ledger"));
    expect(ledger.counts).toMatchObject({ rejected: cases.length + 2, created: 1 });
  });

  it("the same Idempotency-Key on the same account answers the original post, once", async () => {
    const { token, accountId } = await connectedAccount();
    const headers = { "idempotency-key": "publish-42" };
    const first = await createPost(token, accountId, { text: "Exactly once" }, headers);
    expect(first.status).toBe(201);
    const original = await json(first);
    expect(original.idempotencyKey).toBe("publish-42");
    clock += 5000;
    const replay = await createPost(token, accountId, { text: "Exactly once" }, headers);
    expect(replay.status).toBe(200);
    expect(await json(replay)).toEqual(original);

    const listed = await json(await apiCall(token, "GET", `/api/accounts/${accountId}/posts`));
    expect(listed.posts.map((p: { id: string }) => p.id)).toEqual([original.id]);
    const ledger = await json(await admin("GET", `/admin/ledger?accountId=${accountId}`));
    expect(ledger.entries.map((e: { outcome: string }) => e.outcome)).toEqual(["deduped", "created"]);
    expect(ledger.entries[0]).toMatchObject({ idempotencyKey: "publish-42", postId: original.id });
    expect(ledger.counts).toMatchObject({ created: 1, deduped: 1 });
  });

  it("the same Idempotency-Key with another body is 422 idempotency_key_reused", async () => {
    const { token, accountId } = await connectedAccount();
    const headers = { "idempotency-key": "k-1" };
    expect((await createPost(token, accountId, { text: "one" }, headers)).status).toBe(201);
    const reused = await createPost(token, accountId, { text: "two" }, headers);
    expect(reused.status).toBe(422);
    expect((await json(reused)).error.code).toBe("idempotency_key_reused");
    const listed = await json(await apiCall(token, "GET", `/api/accounts/${accountId}/posts`));
    expect(listed.posts.map((p: { text: string }) => p.text)).toEqual(["one"]);
  });

  it("lists newest first with limit and since, answers a post's status, and deletes", async () => {
    const { token, accountId } = await connectedAccount();
    const ids: string[] = [];
    const start = clock;
    for (const text of ["a", "b", "c"]) {
      ids.push((await json(await createPost(token, accountId, { text }))).id);
      clock += 1000;
    }
    const list = async (query: string) =>
      (await json(await apiCall(token, "GET", `/api/accounts/${accountId}/posts${query}`))).posts.map(
        (p: { id: string }) => p.id,
      );
    expect(await list("")).toEqual([ids[2], ids[1], ids[0]]);
    expect(await list("?limit=2")).toEqual([ids[2], ids[1]]);
    expect(await list(`?since=${new Date(start + 1000).toISOString()}`)).toEqual([ids[2], ids[1]]);
    expect((await apiCall(token, "GET", `/api/accounts/${accountId}/posts?limit=0`)).status).toBe(400);

    const status = await apiCall(token, "GET", `/api/posts/${ids[1]}`);
    expect(await json(status)).toMatchObject({ id: ids[1], text: "b", accountId });
    expect((await apiCall(token, "DELETE", `/api/accounts/${accountId}/posts/${ids[1]}`)).status).toBe(204);
    expect((await apiCall(token, "GET", `/api/posts/${ids[1]}`)).status).toBe(404);
    expect(await list("")).toEqual([ids[2], ids[0]]);
    expect((await apiCall(token, "DELETE", `/api/accounts/${accountId}/posts/${ids[1]}`)).status).toBe(404);
  });

  it("a post of an account outside the grant is 403 on status and delete", async () => {
    const { token, accountId } = await connectedAccount();
    const post = await json(await createPost(token, accountId, { text: "mine" }));
    const other = await connect({ user: "judy", accounts: "Judy Page" });
    expect((await apiCall(other.access_token, "GET", `/api/posts/${post.id}`)).status).toBe(403);
    expect(
      (await apiCall(other.access_token, "DELETE", `/api/accounts/${accountId}/posts/${post.id}`)).status,
    ).toBe(403);
  });
});

describe("fault injection", () => {
  it("rate limit: 429 rate_limited with Retry-After, nothing created, ledger rate_limited", async () => {
    const { token, accountId } = await connectedAccount();
    await setFaults({ rateLimitRate: 1, retryAfterSeconds: 7 });
    const response = await createPost(token, accountId, { text: "throttled" }, { "idempotency-key": "rl-1" });
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("7");
    expect((await json(response)).error.code).toBe("rate_limited");
    expect(await postCount(token, accountId)).toBe(0);
    const ledger = await json(await admin("GET", "/admin/ledger"));
    expect(ledger.entries[0]).toMatchObject({
      outcome: "rate_limited",
      idempotencyKey: "rl-1",
      postId: null,
    });
  });

  it("error: 503 unavailable, nothing created, ledger error", async () => {
    const { token, accountId } = await connectedAccount();
    await setFaults({ errorRate: 1 });
    const response = await createPost(token, accountId, { text: "broken" });
    expect(response.status).toBe(503);
    expect((await json(response)).error.code).toBe("unavailable");
    expect(await postCount(token, accountId)).toBe(0);
    expect((await json(await admin("GET", "/admin/ledger"))).counts).toMatchObject({
      error: 1,
      created: 0,
    });
  });

  it("latency delays the answer, fixed or drawn from a range", async () => {
    const { token, accountId } = await connectedAccount();
    for (const latencyMs of [150, [150, 160]]) {
      await setFaults({ latencyMs });
      const started = performance.now();
      const response = await createPost(token, accountId, { text: `slow ${JSON.stringify(latencyMs)}` });
      expect(response.status).toBe(201);
      expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    }
  });

  it("timeout after create: the client gives up, yet the post exists and the ledger says timeout_after_create", async () => {
    const { token, accountId } = await connectedAccount();
    await setFaults({ timeoutAfterCreateRate: 1, hangMs: 10_000 });
    const headers = { "idempotency-key": "hang-1" };
    await expect(
      fetch(`${sandbox.url}/api/accounts/${accountId}/posts`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
        body: JSON.stringify({ text: "Did it go out?" }),
        signal: AbortSignal.timeout(300),
      }),
    ).rejects.toMatchObject({ name: "TimeoutError" });

    const listed = await json(await apiCall(token, "GET", `/api/accounts/${accountId}/posts`));
    expect(listed.posts).toHaveLength(1);
    expect(listed.posts[0]).toMatchObject({ text: "Did it go out?", idempotencyKey: "hang-1" });
    const ledger = await json(await admin("GET", "/admin/ledger"));
    expect(ledger.entries[0]).toMatchObject({ outcome: "timeout_after_create", postId: listed.posts[0].id });

    // Herald's retry with the same key learns the post id instead of publishing twice.
    await setFaults({});
    const retry = await createPost(token, accountId, { text: "Did it go out?" }, headers);
    expect(retry.status).toBe(200);
    expect((await json(retry)).id).toBe(listed.posts[0].id);
  });

  it("a dropped connection is cut after hangMs", async () => {
    const { token, accountId } = await connectedAccount();
    await setFaults({ timeoutAfterCreateRate: 1, hangMs: 50 });
    const started = performance.now();
    await expect(createPost(token, accountId, { text: "cut" })).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await postCount(token, accountId)).toBe(1);
  });

  it("closing the server drops the connections it holds instead of waiting for hangMs", async () => {
    let held: () => void = () => {};
    const holding = new Promise<void>((resolve) => {
      held = resolve;
    });
    const log = createLogger("info", {
      write: (line: string) => {
        if (line.includes("timeout after create")) held();
      },
    });
    const server = await startSandboxServer({ ...options({ log }), port: 0 });
    const tokens = await connect({ url: server.url });
    const [account] = await myAccounts(tokens.access_token, server.url);
    await fetch(`${server.url}/admin/faults`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ timeoutAfterCreateRate: 1, hangMs: 60_000 }),
    });
    const hanging = createPost(tokens.access_token, account.id, { text: "held" }, {}, server.url);
    await holding;
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(2000);
    await expect(hanging).rejects.toThrow();
  });

  it("faults apply in order (latency, rate limit, error, create, timeout), one draw each", async () => {
    const { token, accountId } = await connectedAccount();
    await setFaults({ rateLimitRate: 0.5, errorRate: 0.5, timeoutAfterCreateRate: 0.5, latencyMs: [0, 10] });
    const attempt = async (scripted: number[]) => {
      scriptedDraws.push(...scripted);
      const before = draws;
      const response = await createPost(token, accountId, { text: `t${draws}` });
      return { status: response.status, drawn: draws - before, left: scriptedDraws.length };
    };
    // latency draw, then rate limit fires: the error and timeout draws never happen.
    expect(await attempt([0, 0.1])).toEqual({ status: 429, drawn: 2, left: 0 });
    expect(await attempt([0, 0.9, 0.1])).toEqual({ status: 503, drawn: 3, left: 0 });
    expect(await attempt([0, 0.9, 0.9, 0.9])).toEqual({ status: 201, drawn: 4, left: 0 });
    const ledger = await json(await admin("GET", "/admin/ledger"));
    expect(ledger.entries.map((e: { outcome: string }) => e.outcome)).toEqual([
      "created",
      "error",
      "rate_limited",
    ]);
  });

  it("with the seeded random, a rate of 0.5 fires for some calls and not others", async () => {
    const { token, accountId } = await connectedAccount();
    await setFaults({ errorRate: 0.5 });
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) statuses.add((await createPost(token, accountId, { text: `n${i}` })).status);
    expect([...statuses].sort()).toEqual([201, 503]);
    const { counts } = await json(await admin("GET", "/admin/ledger"));
    expect(counts.created + counts.error).toBe(20);
    expect(await postCount(token, accountId)).toBe(counts.created);
  });
});

describe("admin API", () => {
  it("PUT /admin/faults replaces the settings (omitted ones are off) and GET answers them", async () => {
    const first = await setFaults({ errorRate: 0.25, latencyMs: [5, 10], hangMs: 2000 });
    expect(first).toEqual({
      errorRate: 0.25,
      rateLimitRate: 0,
      retryAfterSeconds: 1,
      latencyMs: [5, 10],
      timeoutAfterCreateRate: 0,
      hangMs: 2000,
    });
    await setFaults({ rateLimitRate: 1 });
    const current = await json(await admin("GET", "/admin/faults"));
    expect(current).toMatchObject({ errorRate: 0, rateLimitRate: 1, latencyMs: 0, hangMs: 15_000 });
  });

  it("invalid fault settings are 400 naming the field, and change nothing", async () => {
    await setFaults({ errorRate: 0.5 });
    const cases: Array<[unknown, string]> = [
      [{ errorRate: 2 }, "errorRate"],
      [{ rateLimitRate: -0.1 }, "rateLimitRate"],
      [{ retryAfterSeconds: 1.5 }, "retryAfterSeconds"],
      [{ retryAfterSeconds: 3601 }, "retryAfterSeconds"],
      [{ latencyMs: [10, 5] }, "latencyMs"],
      [{ latencyMs: "slow" }, "latencyMs"],
      [{ hangMs: -1 }, "hangMs"],
      [{ expireTokens: "acct_x" }, "expireTokens"],
      [{ errorrate: 1 }, "errorrate"],
    ];
    for (const [body, field] of cases) {
      const response = await admin("PUT", "/admin/faults", body);
      expect(response.status, field).toBe(400);
      const { error } = await json(response);
      expect(error.code).toBe("invalid_request");
      expect(error.message).toContain(field);
    }
    expect((await json(await admin("GET", "/admin/faults"))).errorRate).toBe(0.5);
  });

  it("the ledger filters by account and limit, newest first, counting every matching entry", async () => {
    const { token, accountId } = await connectedAccount();
    const other = await connect({ user: "kim", accounts: "Kim Page" });
    const [kimPage] = await myAccounts(other.access_token);
    for (const text of ["1", "2", "3"]) await createPost(token, accountId, { text });
    await createPost(other.access_token, kimPage.id, { text: "kim" });
    const ledger = await json(await admin("GET", `/admin/ledger?accountId=${accountId}&limit=2`));
    expect(ledger.entries.map((e: { text: string }) => e.text)).toEqual(["3", "2"]);
    expect(ledger.entries[0]).toEqual({
      at: new Date(clock).toISOString(),
      accountId,
      idempotencyKey: null,
      text: "3",
      outcome: "created",
      postId: expect.stringMatching(/^post_/),
    });
    expect(ledger.counts).toEqual({
      created: 3,
      deduped: 0,
      rate_limited: 0,
      error: 0,
      timeout_after_create: 0,
      rejected: 0,
    });
    expect((await json(await admin("GET", "/admin/ledger"))).counts.created).toBe(4);
    for (const query of ["limit=0", "limit=100001", "limit=many"]) {
      const response = await admin("GET", `/admin/ledger?${query}`);
      expect(response.status, query).toBe(400);
      expect((await json(response)).error.message).toContain("limit");
    }
  });

  it("reset clears posts, ledger and faults; users, accounts and grants stay", async () => {
    const { token, accountId } = await connectedAccount();
    await createPost(token, accountId, { text: "before reset" });
    await setFaults({ errorRate: 1 });
    expect((await admin("POST", "/admin/reset")).status).toBe(204);
    expect(await postCount(token, accountId)).toBe(0);
    expect((await json(await admin("GET", "/admin/ledger"))).entries).toEqual([]);
    expect((await json(await admin("GET", "/admin/faults"))).errorRate).toBe(0);
    expect((await createPost(token, accountId, { text: "after reset" })).status).toBe(201);
    expect(await (await fetch(`${sandbox.url}/`)).text()).toContain(`/feed/${accountId}`);
  });

  it("unknown routes answer the Sandbox envelope; an unknown feed is a 404 page", async () => {
    const route = await fetch(`${sandbox.url}/api/nothing`);
    expect(route.status).toBe(404);
    expect((await json(route)).error.code).toBe("not_found");
    const feed = await fetch(`${sandbox.url}/feed/acct_%3Cb%3E`);
    expect(feed.status).toBe(404);
    const html = await feed.text();
    expect(html).toContain("acct_&lt;b&gt;");
    expect(html).not.toContain("acct_<b>");
  });
});

describe("persistence", () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "herald-sandbox-"));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("a restarted Sandbox has the posts, grants and ledger of the previous run", async () => {
    const persistFile = join(directory, "state", "sandbox.json");
    const first = await startSandboxServer({ ...options({ persistFile }), port: 0 });
    const tokens = await connect({ url: first.url });
    const [account] = await myAccounts(tokens.access_token, first.url);
    const created = await json(
      await createPost(
        tokens.access_token,
        account.id,
        { text: "survives" },
        { "idempotency-key": "p-1" },
        first.url,
      ),
    );
    await first.close();
    expect((await stat(persistFile)).mode & 0o777).toBe(0o600);
    expect((await readdir(join(directory, "state"))).filter((name) => name.endsWith(".tmp"))).toEqual([]);

    const second = await startSandboxServer({ ...options({ persistFile }), port: 0 });
    try {
      const listed = await json(
        await apiCall(tokens.access_token, "GET", `/api/accounts/${account.id}/posts`, undefined, second.url),
      );
      expect(listed.posts.map((p: { id: string }) => p.id)).toEqual([created.id]);
      const replay = await createPost(
        tokens.access_token,
        account.id,
        { text: "survives" },
        { "idempotency-key": "p-1" },
        second.url,
      );
      expect(replay.status).toBe(200);
      expect((await refresh(tokens.refresh_token, second.url)).status).toBe(200);
      const ledger = await json(await fetch(`${second.url}/admin/ledger`));
      expect(ledger.counts).toMatchObject({ created: 1, deduped: 1 });
    } finally {
      await second.close();
    }
  });

  it("saves a change within moments, without waiting for close", async () => {
    const live = join(directory, "live");
    await mkdir(live);
    const server = await startSandboxServer({
      ...options({ persistFile: join(live, "sandbox.json") }),
      port: 0,
    });
    try {
      // Watching for the rename that completes the write: no sleep, and a bound if it never comes.
      const changes = watch(live, { signal: AbortSignal.timeout(5000) });
      await connect({ url: server.url, user: "lena" });
      for await (const change of changes) if (change.filename === "sandbox.json") break;
      const saved = JSON.parse(await readFile(join(live, "sandbox.json"), "utf8"));
      expect(saved.users.map((u: { username: string }) => u.username)).toEqual(["lena"]);
    } finally {
      await server.close();
    }
  });

  it("refuses to start from a file that is not a Sandbox state", async () => {
    const persistFile = join(directory, "not-a-state.json");
    await writeFile(persistFile, JSON.stringify({ hello: "world" }));
    await expect(startSandboxServer({ ...options({ persistFile }), port: 0 })).rejects.toThrow(
      /not a Sandbox state/,
    );
  });
});

describe("mounted under /sandbox in a Herald-like app", () => {
  it("links carry the host and the prefix; Herald's walls answer problem+json; the API skips Herald's rate limit", async () => {
    const app = Fastify().withTypeProvider<ZodTypeProvider>();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    app.setErrorHandler(errorHandler);
    await app.register(helmet);
    await app.register(rateLimit, { max: 3, timeWindow: 60_000 });
    app.setNotFoundHandler(notFoundHandler);
    // Herald's CSRF wall runs in front of every route, the Sandbox's included.
    app.addHook("preParsing", async (request, _reply, payload) => {
      if (request.method === "POST" && request.headers.origin === "https://evil.example") {
        throw new ForbiddenError(
          "Requests from https://evil.example are not allowed.",
          "HERALD_ORIGIN_REJECTED",
        );
      }
      return payload;
    });
    await app.register(sandboxRoutes(options()), { prefix: "/sandbox" });
    await app.ready();
    try {
      const host = "herald.example:8080";
      const consent = await app.inject({
        method: "GET",
        url: `/sandbox/oauth/authorize?${authorizeQuery()}`,
        headers: { host },
      });
      expect(consent.statusCode).toBe(200);
      expect(consent.headers["content-security-policy"]).toContain("script-src 'self'");
      // A browser sends the real Origin with the consent form's POST (not "null"), which Herald's wall checks.
      expect(consent.headers["referrer-policy"]).toBe("same-origin");
      expect(consent.body).toContain(`action="http://${host}/sandbox/oauth/authorize/decision"`);
      expect(consent.body).toContain(`href="http://${host}/sandbox/"`);

      const { verifier, challenge } = pkce();
      const redirect = await app.inject({
        method: "GET",
        url: `/sandbox/oauth/authorize?${authorizeQuery({ code_challenge: challenge, auto_approve: "1" })}`,
      });
      const code = new URL(String(redirect.headers.location)).searchParams.get("code") ?? "";
      const token = await app.inject({
        method: "POST",
        url: "/sandbox/oauth/token",
        headers: { authorization: BASIC, "content-type": "application/x-www-form-urlencoded" },
        payload: new URLSearchParams({
          grant_type: "authorization_code",
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: verifier,
        }).toString(),
      });
      expect(token.statusCode).toBe(200);
      const bearer = { authorization: `Bearer ${token.json().access_token}`, host };
      const accounts = await app.inject({ method: "GET", url: "/sandbox/api/me/accounts", headers: bearer });
      const accountId = accounts.json().accounts[0].id;
      for (let i = 0; i < 5; i++) {
        const created = await app.inject({
          method: "POST",
          url: `/sandbox/api/accounts/${accountId}/posts`,
          headers: bearer,
          payload: { text: `post ${i}` },
        });
        expect(created.statusCode).toBe(201);
        expect(created.json().url).toBe(`http://${host}/sandbox/feed/${accountId}#post-${created.json().id}`);
      }

      const missing = await app.inject({ method: "GET", url: "/sandbox/api/nothing" });
      expect(missing.json()).toMatchObject({ error: { code: "not_found" } });
      const herald404 = await app.inject({ method: "GET", url: "/api/v1/nothing" });
      expect(herald404.headers["content-type"]).toMatch(/^application\/problem\+json/);
      const invalid = await app.inject({
        method: "POST",
        url: `/sandbox/api/accounts/${accountId}/posts`,
        headers: bearer,
        payload: { text: "" },
      });
      expect([invalid.statusCode, invalid.json().error.code]).toEqual([422, "invalid_post"]);
      const foreign = await app.inject({
        method: "POST",
        url: `/sandbox/api/accounts/${accountId}/posts`,
        headers: { ...bearer, origin: "https://evil.example" },
        payload: { text: "csrf" },
      });
      expect(foreign.statusCode).toBe(403);
      expect(foreign.json()).toMatchObject({ code: "HERALD_ORIGIN_REJECTED" });
    } finally {
      await app.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Client-side helpers: what Herald's adapter does, over HTTP.

/** A body for assertions, loosely typed like `app.inject(...).json()`: the tests check its shape. */
async function json(response: Response) {
  return JSON.parse(await response.text());
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

function authorizeQuery(params: Record<string, string | undefined> = {}): string {
  const all: Record<string, string | undefined> = {
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    state: "state-1",
    code_challenge: pkce().challenge,
    code_challenge_method: "S256",
    scope: "accounts:read posts:write",
    ...params,
  };
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(all)) if (value !== undefined) query.set(name, value);
  return query.toString();
}

function authorize(params: Record<string, string | undefined> = {}, url = sandbox.url): Promise<Response> {
  return fetch(`${url}/oauth/authorize?${authorizeQuery(params)}`, { redirect: "manual" });
}

function consentIdOf(page: string): string {
  const id = /name="consent_request" value="([^"]+)"/.exec(page)?.[1];
  if (!id) throw new Error("no consent request id on the page");
  return id;
}

function decide(form: Record<string, string>): Promise<Response> {
  return fetch(`${sandbox.url}/oauth/authorize/decision`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
    redirect: "manual",
  });
}

function tokenCall(form: Record<string, string>, authorization: string | null = BASIC, url = sandbox.url) {
  return fetch(`${url}/oauth/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...(authorization ? { authorization } : {}),
    },
    body: new URLSearchParams(form),
  });
}

/** An authorization code from an auto-approved consent, with its verifier. */
async function code(
  params: { user?: string; accounts?: string; url?: string } = {},
): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const response = await authorize(
    {
      code_challenge: challenge,
      auto_approve: "1",
      sandbox_user: params.user,
      sandbox_accounts: params.accounts,
    },
    params.url,
  );
  if (response.status !== 302) throw new Error(`authorize answered ${response.status}`);
  const location = new URL(response.headers.get("location") ?? "");
  return { code: location.searchParams.get("code") ?? "", verifier };
}

async function exchange(authorizationCode: string, verifier: string, url = sandbox.url) {
  const response = await tokenCall(
    {
      grant_type: "authorization_code",
      code: authorizationCode,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    },
    BASIC,
    url,
  );
  if (response.status !== 200) throw new Error(`token exchange answered ${response.status}`);
  return json(response);
}

async function grantError(form: Record<string, string>): Promise<string> {
  const response = await tokenCall({ grant_type: "authorization_code", redirect_uri: REDIRECT_URI, ...form });
  expect(response.status).toBe(400);
  return (await json(response)).error;
}

/** A new grant through auto-approve: its token response. */
async function connect(params: { user?: string; accounts?: string; url?: string } = {}) {
  const issued = await code(params);
  return exchange(issued.code, issued.verifier, params.url);
}

function refresh(refreshToken: string, url = sandbox.url) {
  return tokenCall({ grant_type: "refresh_token", refresh_token: refreshToken }, BASIC, url);
}

/** A fresh grant of demo's accounts: its access token and the first account. */
async function connectedAccount(): Promise<{ token: string; accountId: string }> {
  const tokens = await connect();
  const [account] = await myAccounts(tokens.access_token);
  return { token: tokens.access_token, accountId: account.id };
}

function apiCall(
  token: string,
  method: string,
  path: string,
  body?: unknown,
  url = sandbox.url,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function myAccounts(token: string, url = sandbox.url) {
  const response = await apiCall(token, "GET", "/api/me/accounts", undefined, url);
  if (response.status !== 200) throw new Error(`me/accounts answered ${response.status}`);
  return (await json(response)).accounts;
}

function createPost(
  token: string,
  accountId: string,
  body: unknown,
  headers: Record<string, string> = {},
  url = sandbox.url,
): Promise<Response> {
  return apiCall(token, "POST", `/api/accounts/${accountId}/posts`, body, url, headers);
}

async function postCount(token: string, accountId: string): Promise<number> {
  const response = await apiCall(token, "GET", `/api/accounts/${accountId}/posts?limit=1000`);
  return (await json(response)).posts.length;
}

function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${sandbox.url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  });
}

async function setFaults(settings: Record<string, unknown>) {
  const response = await admin("PUT", "/admin/faults", settings);
  expect(response.status).toBe(200);
  return json(response);
}
