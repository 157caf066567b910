/**
 * The Graph API fake against Meta's documented behaviour, over real HTTP. If one of these fails, the
 * fake drifted from the platform and adapter tests built on it would prove nothing.
 */
import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { type FakeUser, type GraphFake, startGraphFake } from "./graph.js";

const V = "v26.0";
const REDIRECT = "https://herald.example/api/v1/connections/facebook/callback";
const HOUR = 3600_000;
const DAY = 24 * HOUR;

const ALL_PERMISSIONS = [
  "pages_show_list",
  "pages_manage_posts",
  "pages_read_engagement",
  "business_management",
  "instagram_basic",
  "instagram_content_publish",
  "publish_video",
];

function person(overrides: Partial<FakeUser> = {}): FakeUser {
  return {
    id: "10001",
    name: "Ana Manager",
    permissions: ALL_PERMISSIONS,
    pages: [
      {
        id: "20001",
        name: "Bakery",
        category: "Bakery",
        instagram: { id: "17841400000001", username: "bakery" },
      },
      { id: "20002", name: "Florist" },
    ],
    ...overrides,
  };
}

let fake: GraphFake | undefined;
let clock = Date.UTC(2026, 0, 5, 9, 0, 0);

afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function start(
  options: { users?: FakeUser[]; containerReadyAfterPolls?: number; containerReadyAfterMs?: number } = {},
): Promise<GraphFake> {
  clock = Date.UTC(2026, 0, 5, 9, 0, 0);
  fake = await startGraphFake({
    now: () => clock,
    containerReadyAfterPolls: options.containerReadyAfterPolls,
    containerReadyAfterMs: options.containerReadyAfterMs,
  });
  for (const user of options.users ?? [person()]) fake.addUser(user);
  return fake;
}

/** A body as JSON.parse gives it, loosely typed like light-my-request's `.json()`; assertions check its shape. */
type Json = ReturnType<typeof JSON.parse>;
type Answer = { status: number; headers: Headers; body: Json };

/** One Graph call: query parameters for GET/DELETE, a body (JSON, form or multipart) for POST. */
async function graph(
  f: GraphFake,
  method: string,
  path: string,
  params: Record<string, string | string[]> = {},
  encoding: "query" | "json" | "form" | "multipart" = "form",
): Promise<Answer> {
  const url = new URL(`${f.url}/${V}${path}`);
  let body: string | URLSearchParams | FormData | undefined;
  const headers: Record<string, string> = {};
  const flat = Object.entries(params).map(([key, value]): [string, string] => [key, String(value)]);
  if (method === "GET" || method === "DELETE" || encoding === "query") {
    for (const [key, value] of flat) url.searchParams.set(key, value);
  } else if (encoding === "json") {
    body = JSON.stringify(params);
    headers["content-type"] = "application/json";
  } else if (encoding === "form") {
    body = new URLSearchParams(flat);
  } else {
    const form = new FormData();
    for (const [key, value] of flat) form.set(key, value);
    body = form;
  }
  const response = await fetch(url, { method, body, headers, redirect: "manual" });
  const text = await response.text();
  let parsed: Json = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // HTML pages stay text.
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Opens the Login dialog as the browser would and returns where it redirected. */
async function openDialog(f: GraphFake, query: Record<string, string>): Promise<Response> {
  const url = new URL(`${f.url}/${V}/dialog/oauth`);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return fetch(url, { redirect: "manual" });
}

async function authorize(
  f: GraphFake,
  userId: string,
  scope: string[],
  redirectUri = REDIRECT,
): Promise<string> {
  f.setDialogAnswer({ userId });
  const response = await openDialog(f, {
    client_id: f.appId,
    redirect_uri: redirectUri,
    state: "st-123",
    scope: scope.join(","),
    response_type: "code",
  });
  expect(response.status).toBe(302);
  const code = new URL(response.headers.get("location") ?? "").searchParams.get("code");
  if (!code) throw new Error("no code in the redirect");
  return code;
}

async function exchangeCode(f: GraphFake, code: string, redirectUri = REDIRECT): Promise<Answer> {
  return graph(f, "GET", "/oauth/access_token", {
    client_id: f.appId,
    client_secret: f.appSecret,
    redirect_uri: redirectUri,
    code,
  });
}

async function shortLivedToken(f: GraphFake, scope = ALL_PERMISSIONS, userId = "10001"): Promise<string> {
  const answer = await exchangeCode(f, await authorize(f, userId, scope));
  expect(answer.status).toBe(200);
  return answer.body.access_token;
}

async function longLivedToken(f: GraphFake, scope = ALL_PERMISSIONS, userId = "10001"): Promise<string> {
  const answer = await graph(f, "GET", "/oauth/access_token", {
    grant_type: "fb_exchange_token",
    client_id: f.appId,
    client_secret: f.appSecret,
    fb_exchange_token: await shortLivedToken(f, scope, userId),
  });
  expect(answer.status).toBe(200);
  return answer.body.access_token;
}

async function pageToken(f: GraphFake, userToken: string, pageId = "20001"): Promise<string> {
  const answer = await graph(f, "GET", "/me/accounts", {
    access_token: userToken,
    fields: "id,access_token",
  });
  const page = answer.body.data.find((p: { id: string }) => p.id === pageId);
  if (!page) throw new Error(`page ${pageId} not listed`);
  return page.access_token;
}

async function debugToken(f: GraphFake, inputToken: string): Promise<Json> {
  const answer = await graph(f, "GET", "/debug_token", {
    input_token: inputToken,
    access_token: `${f.appId}|${f.appSecret}`,
  });
  expect(answer.status).toBe(200);
  return answer.body.data;
}

function graphErrorOf(answer: Answer) {
  return {
    status: answer.status,
    code: answer.body?.error?.code,
    subcode: answer.body?.error?.error_subcode,
    type: answer.body?.error?.type,
  };
}

describe("the Login dialog", () => {
  it("answers an unknown client_id with an HTML error page, never a redirect", async () => {
    const f = await start();
    f.setDialogAnswer({ userId: "10001" });
    const response = await openDialog(f, { client_id: "someone-else", redirect_uri: REDIRECT, state: "s" });
    expect(response.status).toBe(200);
    expect(response.headers.get("location")).toBeNull();
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await response.text()).toContain("Invalid App ID");
  });

  it("redirects with a code and the state, or with access_denied when the person cancels", async () => {
    const f = await start();
    f.setDialogAnswer({ userId: "10001" });
    const granted = await openDialog(f, {
      client_id: f.appId,
      redirect_uri: `${REDIRECT}?keep=1`,
      state: "abc",
      scope: "pages_show_list",
      response_type: "code",
    });
    const location = new URL(granted.headers.get("location") ?? "");
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get("keep")).toBe("1");
    expect(location.searchParams.get("state")).toBe("abc");
    expect(location.searchParams.get("code")).toMatch(/^[A-Za-z0-9_-]{40,}$/);

    f.setDialogAnswer({ error: "access_denied" });
    const denied = await openDialog(f, { client_id: f.appId, redirect_uri: REDIRECT, state: "xyz" });
    const deniedAt = denied.headers.get("location") ?? "";
    expect(deniedAt).toContain("error=access_denied");
    expect(deniedAt).toContain("error_reason=user_denied");
    expect(deniedAt).toContain("error_description=Permissions+error");
    expect(new URL(deniedAt).searchParams.get("state")).toBe("xyz");
    expect(new URL(deniedAt).searchParams.has("code")).toBe(false);
  });

  it("grants the intersection of what was asked and what the person holds; the rest is declined", async () => {
    const f = await start({ users: [person({ permissions: ["pages_show_list", "pages_manage_posts"] })] });
    const token = await shortLivedToken(f, ["pages_show_list", "instagram_content_publish"]);
    const info = await debugToken(f, token);
    expect(info.scopes.sort()).toEqual(["pages_show_list", "public_profile"]);
    const permissions = await graph(f, "GET", "/me/permissions", { access_token: token });
    expect(permissions.body.data).toEqual(
      expect.arrayContaining([
        { permission: "pages_show_list", status: "granted" },
        { permission: "instagram_content_publish", status: "declined" },
      ]),
    );
    // Held but never asked for: not granted.
    expect(info.scopes).not.toContain("pages_manage_posts");
  });
});

describe("the code exchange", () => {
  it("gives a short-lived bearer token of about an hour, and a code works only once", async () => {
    const f = await start();
    const code = await authorize(f, "10001", ["pages_show_list"]);
    const first = await exchangeCode(f, code);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ token_type: "bearer", expires_in: 3600 });
    expect(first.body.access_token).not.toMatch(/^ey/); // opaque, not a JWT
    const second = await exchangeCode(f, code);
    expect(graphErrorOf(second)).toEqual({ status: 400, code: 100, subcode: 36009, type: "OAuthException" });
    expect(second.body.error.message).toBe("This authorization code has been used.");
    expect(second.body.error.fbtrace_id).toEqual(expect.any(String));
  });

  it("refuses a redirect_uri that is not byte-equal to the dialog's, and a wrong client secret", async () => {
    const f = await start();
    const code = await authorize(f, "10001", ["pages_show_list"]);
    const trailingSlash = await exchangeCode(f, code, `${REDIRECT}/`);
    expect(graphErrorOf(trailingSlash)).toMatchObject({ code: 100, subcode: 36008 });
    const wrongSecret = await graph(f, "GET", "/oauth/access_token", {
      client_id: f.appId,
      client_secret: "not-the-secret",
      redirect_uri: REDIRECT,
      code,
    });
    expect(graphErrorOf(wrongSecret)).toMatchObject({ code: 1 });
    expect(wrongSecret.body.error.message).toBe("Error validating client secret.");
    // Neither failure consumed the code.
    expect((await exchangeCode(f, code)).status).toBe(200);
  });

  it("refuses a code older than ten minutes", async () => {
    const f = await start();
    const code = await authorize(f, "10001", ["pages_show_list"]);
    clock += 10 * 60_000 + 1000;
    const late = await exchangeCode(f, code);
    expect(graphErrorOf(late)).toMatchObject({ code: 100, subcode: 36007 });
  });
});

describe("token lifetimes", () => {
  it("a short-lived token dies after an hour; fb_exchange_token gives one of 60 days, as debug_token shows", async () => {
    const f = await start();
    const short = await shortLivedToken(f);
    const shortInfo = await debugToken(f, short);
    expect(shortInfo).toMatchObject({ app_id: f.appId, type: "USER", is_valid: true, user_id: "10001" });
    expect(shortInfo.expires_at - clock / 1000).toBe(3600);
    expect(shortInfo.issued_at).toBeUndefined();

    const exchanged = await graph(f, "GET", "/oauth/access_token", {
      grant_type: "fb_exchange_token",
      client_id: f.appId,
      client_secret: f.appSecret,
      fb_exchange_token: short,
    });
    expect(exchanged.body).toMatchObject({ token_type: "bearer", expires_in: 5_184_000 });
    const longInfo = await debugToken(f, exchanged.body.access_token);
    expect(longInfo.expires_at - clock / 1000).toBe(5_184_000);
    expect(longInfo.issued_at).toBe(clock / 1000);
    expect(longInfo.data_access_expires_at - clock / 1000).toBe(90 * 86400);
    expect(longInfo.granular_scopes).toEqual(
      expect.arrayContaining([{ scope: "pages_show_list", target_ids: ["20001", "20002"] }]),
    );

    clock += HOUR;
    const dead = await graph(f, "GET", "/me", { access_token: short });
    expect(graphErrorOf(dead)).toEqual({ status: 400, code: 190, subcode: 463, type: "OAuthException" });
    expect(dead.body.error.message).toMatch(/^Error validating access token: Session has expired on /);
    expect(dead.headers.get("www-authenticate")).toMatch(/invalid_token/);
    expect((await graph(f, "GET", "/me", { access_token: exchanged.body.access_token })).status).toBe(200);

    const tooLate = await graph(f, "GET", "/oauth/access_token", {
      grant_type: "fb_exchange_token",
      client_id: f.appId,
      client_secret: f.appSecret,
      fb_exchange_token: short,
    });
    expect(graphErrorOf(tooLate)).toMatchObject({ code: 190, subcode: 463 });
    expect((await debugToken(f, short)).error).toMatchObject({ code: 190, subcode: 463 });
  });

  it("Page tokens from a long-lived user token never expire; from a short-lived one they die with it", async () => {
    const f = await start();
    const fromLong = await pageToken(f, await longLivedToken(f));
    const fromShort = await pageToken(f, await shortLivedToken(f));
    const longInfo = await debugToken(f, fromLong);
    expect(longInfo).toMatchObject({ type: "PAGE", expires_at: 0, is_valid: true, profile_id: "20001" });
    expect((await debugToken(f, fromShort)).expires_at - clock / 1000).toBe(3600);

    clock += 61 * DAY;
    expect((await graph(f, "GET", "/20001", { access_token: fromLong })).status).toBe(200);
    expect(graphErrorOf(await graph(f, "GET", "/20001", { access_token: fromShort }))).toMatchObject({
      code: 190,
      subcode: 463,
    });
  });

  it("debug_token needs an app token and reports an unknown token inside data", async () => {
    const f = await start();
    const withoutToken = await graph(f, "GET", "/debug_token", { input_token: "x" });
    expect(graphErrorOf(withoutToken)).toMatchObject({ code: 104 });
    const wrongApp = await graph(f, "GET", "/debug_token", {
      input_token: "x",
      access_token: "other|secret",
    });
    expect(graphErrorOf(wrongApp)).toMatchObject({ code: 190 });
    expect(await debugToken(f, "EAAnot-a-token")).toEqual({
      error: { code: 190, message: expect.any(String) },
      is_valid: false,
      scopes: [],
    });
  });

  it("expireToken makes that one token fail with 190/463", async () => {
    const f = await start();
    const token = await longLivedToken(f);
    const other = await longLivedToken(f);
    f.expireToken(token);
    expect(graphErrorOf(await graph(f, "GET", "/me", { access_token: token }))).toMatchObject({
      code: 190,
      subcode: 463,
    });
    expect((await debugToken(f, token)).is_valid).toBe(false);
    expect((await graph(f, "GET", "/me", { access_token: other })).status).toBe(200);
  });

  it("revoking the app's permissions makes every token of that person fail with 190", async () => {
    const f = await start();
    const user = await longLivedToken(f);
    const page = await pageToken(f, user);
    const revoke = await graph(f, "DELETE", "/me/permissions", { access_token: user });
    expect(revoke.body).toEqual({ success: true });
    for (const token of [user, page]) {
      const answer = await graph(f, "GET", "/me", { access_token: token });
      expect(graphErrorOf(answer)).toMatchObject({ code: 190, subcode: 458 });
    }
    expect((await debugToken(f, page)).is_valid).toBe(false);
    // A new login works again.
    expect((await graph(f, "GET", "/me", { access_token: await shortLivedToken(f) })).status).toBe(200);
  });

  it("calls without a token get 2500 on /me and 104 elsewhere; unknown tokens get 190/467", async () => {
    const f = await start();
    expect(graphErrorOf(await graph(f, "GET", "/me"))).toMatchObject({ code: 2500 });
    expect(graphErrorOf(await graph(f, "GET", "/20001"))).toMatchObject({ code: 104 });
    expect(graphErrorOf(await graph(f, "GET", "/me", { access_token: "EAAguess" }))).toMatchObject({
      code: 190,
      subcode: 467,
    });
  });

  it("checks appsecret_proof whenever it is sent", async () => {
    const f = await start();
    const token = await shortLivedToken(f);
    const proof = createHmac("sha256", f.appSecret).update(token).digest("hex");
    expect((await graph(f, "GET", "/me", { access_token: token, appsecret_proof: proof })).status).toBe(200);
    const forged = await graph(f, "GET", "/me", { access_token: token, appsecret_proof: "0".repeat(64) });
    expect(graphErrorOf(forged)).toMatchObject({ code: 100 });
  });
});

describe("Pages and objects", () => {
  it("pages /me/accounts 25 at a time, and following paging.next reaches all 30 Pages once", async () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ id: String(30000 + i), name: `Page ${i}` }));
    const f = await start({ users: [person({ pages: many })] });
    const token = await shortLivedToken(f);
    const first = await graph(f, "GET", "/me/accounts", { access_token: token, fields: "id,name" });
    expect(first.body.data).toHaveLength(25);
    expect(first.body.paging.cursors).toEqual({ before: expect.any(String), after: expect.any(String) });
    expect(first.body.paging.previous).toBeUndefined();
    const next = await fetch(first.body.paging.next);
    const second: Json = JSON.parse(await next.text());
    expect(second.data).toHaveLength(5);
    expect(second.paging.next).toBeUndefined();
    expect(second.paging.previous).toEqual(expect.any(String));
    const ids = [...first.body.data, ...second.data].map((p: { id: string }) => p.id);
    expect(new Set(ids).size).toBe(30);
    expect(second.data[0]).toEqual({ id: "30025", name: "Page 25" });

    const small = await graph(f, "GET", "/me/accounts", { access_token: token, limit: "10" });
    expect(small.body.data).toHaveLength(10);
    // Default fields include the Page token and tasks.
    expect(Object.keys(small.body.data[0]).sort()).toEqual(
      ["access_token", "category", "category_list", "id", "name", "tasks"].sort(),
    );
  });

  it("refuses /me/accounts without pages_show_list and names the permission", async () => {
    const f = await start({ users: [person({ permissions: ["pages_manage_posts"] })] });
    const token = await shortLivedToken(f, ["pages_manage_posts"]);
    const answer = await graph(f, "GET", "/me/accounts", { access_token: token });
    expect(graphErrorOf(answer)).toMatchObject({ status: 403, code: 10 });
    expect(answer.body.error.message).toContain("pages_show_list");
  });

  it("returns only the requested fields, parses nested fields and rejects unknown ones", async () => {
    const f = await start();
    const token = await shortLivedToken(f);
    const page = await graph(f, "GET", "/20001", {
      access_token: token,
      fields: "id,name,instagram_business_account{id,username,profile_picture_url}",
    });
    expect(page.body).toEqual({
      id: "20001",
      name: "Bakery",
      instagram_business_account: {
        id: "17841400000001",
        username: "bakery",
        profile_picture_url: expect.stringMatching(/^https:\/\//),
      },
    });
    const noInstagram = await graph(f, "GET", "/20002", {
      access_token: token,
      fields: "id,instagram_business_account",
    });
    expect(noInstagram.body).toEqual({ id: "20002" });
    const ig = await graph(f, "GET", "/17841400000001", { access_token: token, fields: "username,name" });
    expect(ig.body).toEqual({ username: "bakery", name: "Bakery" });
    const defaults = await graph(f, "GET", "/20001", { access_token: token });
    expect(defaults.body).toEqual({ id: "20001", name: "Bakery" });
    const typo = await graph(f, "GET", "/20001", { access_token: token, fields: "id,nmae" });
    expect(graphErrorOf(typo)).toMatchObject({ code: 100 });
    expect(typo.body.error.message).toContain("nmae");
    const stranger = await graph(f, "GET", "/99999", { access_token: token });
    expect(graphErrorOf(stranger)).toMatchObject({ code: 100, subcode: 33, type: "GraphMethodException" });
  });

  it("accepts any vNN.N version and an unversioned path", async () => {
    const f = await start();
    const token = await shortLivedToken(f);
    for (const prefix of ["/v19.0", "/v26.0", "/v31.4", ""]) {
      const response = await fetch(`${f.url}${prefix}/me?access_token=${token}`);
      expect(response.status).toBe(200);
    }
  });
});

describe("Facebook publishing", () => {
  it("a Page token publishes text, link and multi-photo posts; bodies may be query, form, multipart or JSON", async () => {
    const f = await start();
    const token = await pageToken(f, await longLivedToken(f));
    const text = await graph(
      f,
      "POST",
      "/20001/feed",
      { access_token: token, message: "Fresh bread" },
      "query",
    );
    expect(text.body.id).toMatch(/^20001_\d+$/);
    const link = await graph(
      f,
      "POST",
      "/20001/feed",
      { access_token: token, message: "Read this", link: "https://blog.example/a" },
      "json",
    );
    expect(link.status).toBe(200);
    const photoIds: string[] = [];
    for (const n of [1, 2]) {
      const photo = await graph(
        f,
        "POST",
        "/20001/photos",
        { access_token: token, url: `https://cdn.example/${n}.jpg`, published: "false" },
        "multipart",
      );
      expect(photo.body.post_id).toBeUndefined();
      photoIds.push(photo.body.id);
    }
    const album = await graph(f, "POST", "/20001/feed", {
      access_token: token,
      message: "Two loaves",
      "attached_media[0]": JSON.stringify({ media_fbid: photoIds[0] }),
      "attached_media[1]": JSON.stringify({ media_fbid: photoIds[1] }),
    });
    expect(album.status).toBe(200);
    const single = await graph(f, "POST", "/20001/photos", {
      access_token: token,
      url: "https://cdn.example/3.jpg",
      caption: "One loaf",
    });
    expect(single.body).toEqual({ id: expect.any(String), post_id: expect.stringMatching(/^20001_/) });
    const video = await graph(f, "POST", "/20001/videos", {
      access_token: token,
      file_url: "https://cdn.example/v.mp4",
      description: "Baking",
    });
    expect(video.body).toEqual({ id: expect.any(String) });

    expect(f.state.posts.map((p) => p.message)).toEqual([
      "Fresh bread",
      "Read this",
      "Two loaves",
      "One loaf",
      "Baking",
    ]);
    expect(f.state.posts[2]?.attachedMedia).toEqual(photoIds);
    // An unpublished photo is attached once; a second album cannot reuse it.
    const reuse = await graph(f, "POST", "/20001/feed", {
      access_token: token,
      attached_media: JSON.stringify([{ media_fbid: photoIds[0] }]),
    });
    expect(graphErrorOf(reuse)).toMatchObject({ code: 100 });
  });

  it("refuses to publish with a user token or without pages_read_engagement, naming the permissions", async () => {
    const f = await start({
      users: [person({ permissions: ["pages_show_list", "pages_manage_posts"] })],
    });
    const user = await longLivedToken(f, ["pages_show_list", "pages_manage_posts"]);
    const withUserToken = await graph(f, "POST", "/20001/feed", { access_token: user, message: "hi" });
    expect(graphErrorOf(withUserToken)).toMatchObject({ status: 403, code: 200 });
    const page = await pageToken(f, user);
    const withoutEngagement = await graph(f, "POST", "/20001/feed", { access_token: page, message: "hi" });
    expect(graphErrorOf(withoutEngagement)).toMatchObject({ status: 403, code: 200 });
    expect(withoutEngagement.body.error.message).toContain("pages_read_engagement");
    expect(withoutEngagement.body.error.message).toContain("pages_manage_posts");
    const otherPage = await graph(f, "POST", "/20002/feed", { access_token: page, message: "hi" });
    expect(graphErrorOf(otherPage)).toMatchObject({ code: 100, subcode: 33 });
    expect(f.state.posts).toEqual([]);
  });

  it("refuses a Page where the person cannot CREATE_CONTENT", async () => {
    const f = await start({
      users: [person({ pages: [{ id: "20001", name: "Bakery", tasks: ["ANALYZE"] }] })],
    });
    const page = await pageToken(f, await longLivedToken(f));
    const answer = await graph(f, "POST", "/20001/feed", { access_token: page, message: "hi" });
    expect(graphErrorOf(answer)).toMatchObject({ code: 200 });
  });

  it("reads a post's permalink, lists the feed since a time, and deletes", async () => {
    const f = await start();
    const token = await pageToken(f, await longLivedToken(f));
    const before = await graph(f, "POST", "/20001/feed", { access_token: token, message: "old" });
    clock += HOUR;
    const since = String(Math.floor(clock / 1000));
    const after = await graph(f, "POST", "/20001/feed", { access_token: token, message: "new" });
    const permalink = await graph(f, "GET", `/${after.body.id}`, {
      access_token: token,
      fields: "permalink_url",
    });
    expect(permalink.body).toEqual({
      permalink_url: expect.stringMatching(/^https:\/\/www\.facebook\.com\/20001\/posts\//),
    });
    const feed = await graph(f, "GET", "/20001/feed", {
      access_token: token,
      fields: "id,message,created_time",
      since,
      limit: "10",
    });
    expect(feed.body.data).toEqual([
      {
        id: after.body.id,
        message: "new",
        created_time: expect.stringMatching(/^2026-01-05T10:00:00\+0000$/),
      },
    ]);
    const removed = await graph(f, "DELETE", `/${before.body.id}`, { access_token: token });
    expect(removed.body).toEqual({ success: true });
    const again = await graph(f, "DELETE", `/${before.body.id}`, { access_token: token });
    expect(graphErrorOf(again)).toMatchObject({ code: 100, subcode: 33 });
    expect(f.state.posts.find((p) => p.id === before.body.id)?.deleted).toBe(true);
  });

  it("refuses the same text post twice in a row with 506", async () => {
    const f = await start();
    const token = await pageToken(f, await longLivedToken(f));
    expect(
      (await graph(f, "POST", "/20001/feed", { access_token: token, message: "Open today" })).status,
    ).toBe(200);
    const twice = await graph(f, "POST", "/20001/feed", { access_token: token, message: "Open today" });
    expect(graphErrorOf(twice)).toMatchObject({ code: 506 });
    expect(f.state.posts).toHaveLength(1);
  });
});

describe("Instagram content publishing", () => {
  const IG = "17841400000001";

  async function igToken(f: GraphFake): Promise<string> {
    return longLivedToken(f);
  }

  async function poll(f: GraphFake, token: string, container: string): Promise<string> {
    const answer = await graph(f, "GET", `/${container}`, {
      access_token: token,
      fields: "status_code,status",
    });
    return answer.body.status_code;
  }

  it("publishes a container only once it is FINISHED, and only once", async () => {
    const f = await start({ containerReadyAfterPolls: 2 });
    const token = await igToken(f);
    const created = await graph(f, "POST", `/${IG}/media`, {
      access_token: token,
      image_url: "https://cdn.example/a.jpg",
      caption: "Croissants #bakery",
    });
    const container = created.body.id;
    const early = await graph(f, "POST", `/${IG}/media_publish`, {
      access_token: token,
      creation_id: container,
    });
    expect(graphErrorOf(early)).toEqual({
      status: 400,
      code: 9007,
      subcode: 2207027,
      type: "OAuthException",
    });
    expect(early.body.error.error_user_msg).toBe(
      "The media is not ready for publishing, please wait for a moment",
    );

    expect(await poll(f, token, container)).toBe("IN_PROGRESS");
    expect(await poll(f, token, container)).toBe("FINISHED");
    const published = await graph(f, "POST", `/${IG}/media_publish`, {
      access_token: token,
      creation_id: container,
    });
    expect(published.body).toEqual({ id: expect.any(String) });
    expect(await poll(f, token, container)).toBe("PUBLISHED");

    const twice = await graph(f, "POST", `/${IG}/media_publish`, {
      access_token: token,
      creation_id: container,
    });
    expect(twice.status).toBe(400);
    expect(twice.body.error.code).not.toBe(9007);
    expect(f.state.media).toHaveLength(1);

    const permalink = await graph(f, "GET", `/${published.body.id}`, {
      access_token: token,
      fields: "permalink",
    });
    expect(permalink.body).toEqual({
      permalink: expect.stringMatching(/^https:\/\/www\.instagram\.com\/p\/[\w-]+\/$/),
    });
    const listed = await graph(f, "GET", `/${IG}/media`, { access_token: token, fields: "id,caption" });
    expect(listed.body.data).toEqual([{ id: published.body.id, caption: "Croissants #bakery" }]);
  });

  it("assembles a carousel only from 2 to 10 finished carousel items", async () => {
    const f = await start({ containerReadyAfterPolls: 1 });
    const token = await igToken(f);
    const items: string[] = [];
    for (const n of [1, 2]) {
      const item = await graph(f, "POST", `/${IG}/media`, {
        access_token: token,
        image_url: `https://cdn.example/${n}.jpg`,
        is_carousel_item: "true",
      });
      items.push(item.body.id);
    }
    const tooSoon = await graph(f, "POST", `/${IG}/media`, {
      access_token: token,
      media_type: "CAROUSEL",
      children: items.join(","),
      caption: "Two",
    });
    expect(graphErrorOf(tooSoon)).toMatchObject({ code: 9007, subcode: 2207027 });
    for (const item of items) expect(await poll(f, token, item)).toBe("FINISHED");
    const tooFew = await graph(f, "POST", `/${IG}/media`, {
      access_token: token,
      media_type: "CAROUSEL",
      children: items[0] ?? "",
    });
    expect(graphErrorOf(tooFew)).toMatchObject({ code: 100, subcode: 2207028 });
    const carousel = await graph(
      f,
      "POST",
      `/${IG}/media`,
      { access_token: token, media_type: "CAROUSEL", children: items, caption: "Two" },
      "json",
    );
    expect(carousel.status).toBe(200);
    const alone = await graph(f, "POST", `/${IG}/media_publish`, {
      access_token: token,
      creation_id: items[0] ?? "",
    });
    expect(graphErrorOf(alone)).toMatchObject({ code: 100 });
    expect(await poll(f, token, carousel.body.id)).toBe("FINISHED");
    const published = await graph(f, "POST", `/${IG}/media_publish`, {
      access_token: token,
      creation_id: carousel.body.id,
    });
    expect(published.status).toBe(200);
    expect(f.state.media[0]).toMatchObject({ mediaType: "CAROUSEL_ALBUM", caption: "Two" });
  });

  it("never publishes an ERROR or EXPIRED container, and containers expire after 24 hours", async () => {
    const f = await start({ containerReadyAfterPolls: 0 });
    const token = await igToken(f);
    const create = async () =>
      (
        await graph(f, "POST", `/${IG}/media`, {
          access_token: token,
          image_url: "https://cdn.example/a.jpg",
        })
      ).body.id as string;
    const broken = await create();
    f.setContainerStatus(broken, "ERROR");
    expect(await poll(f, token, broken)).toBe("ERROR");
    const publishBroken = await graph(f, "POST", `/${IG}/media_publish`, {
      access_token: token,
      creation_id: broken,
    });
    expect(graphErrorOf(publishBroken)).toMatchObject({ code: -1, subcode: 2207032 });

    const stale = await create();
    clock += DAY;
    expect(await poll(f, token, stale)).toBe("EXPIRED");
    const publishStale = await graph(f, "POST", `/${IG}/media_publish`, {
      access_token: token,
      creation_id: stale,
    });
    expect(graphErrorOf(publishStale)).toMatchObject({ code: -2, subcode: 2207020 });
    expect(f.state.media).toEqual([]);
  });

  it("rejects media_type VIDEO for feed videos (REELS since 2023) and unfetchable URLs", async () => {
    const f = await start();
    const token = await igToken(f);
    const video = await graph(f, "POST", `/${IG}/media`, {
      access_token: token,
      media_type: "VIDEO",
      video_url: "https://cdn.example/v.mp4",
    });
    expect(graphErrorOf(video)).toMatchObject({ code: 100, subcode: 2207023 });
    const reel = await graph(f, "POST", `/${IG}/media`, {
      access_token: token,
      media_type: "REELS",
      video_url: "https://cdn.example/v.mp4",
    });
    expect(reel.status).toBe(200);
    const local = await graph(f, "POST", `/${IG}/media`, {
      access_token: token,
      image_url: "file:///etc/passwd",
    });
    expect(graphErrorOf(local)).toMatchObject({ code: 9004, subcode: 2207052 });
  });

  it("needs instagram_content_publish and a token that reaches the linked Page", async () => {
    const withoutPublish = ALL_PERMISSIONS.filter((p) => p !== "instagram_content_publish");
    const f = await start({
      users: [
        person({ permissions: withoutPublish }),
        person({
          id: "10002",
          name: "Other",
          permissions: ALL_PERMISSIONS,
          pages: [{ id: "20009", name: "Elsewhere" }],
        }),
      ],
    });
    const token = await longLivedToken(f, ALL_PERMISSIONS);
    const refused = await graph(f, "POST", `/${IG}/media`, {
      access_token: token,
      image_url: "https://cdn.example/a.jpg",
    });
    expect(graphErrorOf(refused)).toMatchObject({ status: 403, code: 10 });
    expect(refused.body.error.message).toContain("instagram_content_publish");

    const stranger = await longLivedToken(f, ALL_PERMISSIONS, "10002");
    const strangerPage = await pageToken(f, stranger, "20009");
    for (const other of [stranger, strangerPage]) {
      const answer = await graph(f, "POST", `/${IG}/media`, {
        access_token: other,
        image_url: "https://cdn.example/a.jpg",
      });
      expect(graphErrorOf(answer)).toMatchObject({ code: 100, subcode: 33 });
    }
    expect(f.state.containers).toEqual([]);
  });

  it("accepts the linked Page's token as well as the user token", async () => {
    const f = await start({ containerReadyAfterPolls: 0 });
    const page = await pageToken(f, await longLivedToken(f));
    const created = await graph(f, "POST", `/${IG}/media`, {
      access_token: page,
      image_url: "https://cdn.example/a.jpg",
    });
    const published = await graph(f, "POST", `/${IG}/media_publish`, {
      access_token: page,
      creation_id: created.body.id,
    });
    expect(published.status).toBe(200);
  });

  it("counts published media in content_publishing_limit against a quota of 50 a day", async () => {
    const f = await start({ containerReadyAfterPolls: 0 });
    const token = await igToken(f);
    const publishOne = async (n: number) => {
      const created = await graph(f, "POST", `/${IG}/media`, {
        access_token: token,
        image_url: `https://cdn.example/${n}.jpg`,
      });
      return graph(f, "POST", `/${IG}/media_publish`, { access_token: token, creation_id: created.body.id });
    };
    for (let n = 0; n < 50; n++) expect((await publishOne(n)).status).toBe(200);
    const limit = await graph(f, "GET", `/${IG}/content_publishing_limit`, {
      access_token: token,
      fields: "quota_usage,config",
    });
    expect(limit.body).toEqual({
      data: [{ quota_usage: 50, config: { quota_total: 50, quota_duration: 86400 } }],
    });
    expect(graphErrorOf(await publishOne(51))).toMatchObject({ code: 9, subcode: 2207042 });
    clock += DAY;
    expect((await publishOne(52)).status).toBe(200);
  });
});

describe("faults and usage headers", () => {
  it("failNext answers the Graph envelope with X-App-Usage, once, then the call succeeds", async () => {
    const f = await start();
    const token = await pageToken(f, await longLivedToken(f));
    f.failNext({ path: /\/feed$/, method: "POST", error: { code: 4 } });
    const throttled = await graph(f, "POST", "/20001/feed", { access_token: token, message: "hi" });
    expect(throttled.body.error).toMatchObject({
      code: 4,
      type: "OAuthException",
      message: "(#4) Application request limit reached",
      fbtrace_id: expect.any(String),
    });
    expect(JSON.parse(throttled.headers.get("x-app-usage") ?? "{}")).toMatchObject({ call_count: 100 });
    expect(f.state.posts).toEqual([]);
    expect((await graph(f, "POST", "/20001/feed", { access_token: token, message: "hi" })).status).toBe(200);
  });

  it("a Page rate limit carries X-Business-Use-Case-Usage with estimated_time_to_regain_access", async () => {
    const f = await start();
    const token = await pageToken(f, await longLivedToken(f));
    f.failNext({ path: /\/20001\/feed$/, error: { code: 32, estimatedTimeToRegainAccess: 17 }, times: 2 });
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await graph(f, "POST", "/20001/feed", { access_token: token, message: "hi" });
      expect(graphErrorOf(answer)).toMatchObject({ code: 32 });
      const usage = JSON.parse(answer.headers.get("x-business-use-case-usage") ?? "{}");
      expect(usage["20001"][0]).toMatchObject({
        type: "pages",
        call_count: 100,
        estimated_time_to_regain_access: 17,
      });
    }
    expect((await graph(f, "POST", "/20001/feed", { access_token: token, message: "hi" })).status).toBe(200);
  });

  it("normal answers carry X-App-Usage percentages, and Page-token calls the Pages BUC header", async () => {
    const f = await start();
    const token = await pageToken(f, await longLivedToken(f));
    const answer = await graph(f, "GET", "/20001", { access_token: token });
    expect(JSON.parse(answer.headers.get("x-app-usage") ?? "null")).toEqual({
      call_count: expect.any(Number),
      total_cputime: expect.any(Number),
      total_time: expect.any(Number),
    });
    const buc = JSON.parse(answer.headers.get("x-business-use-case-usage") ?? "null");
    expect(buc).toEqual({
      "20001": [
        {
          type: "pages",
          call_count: expect.any(Number),
          total_cputime: expect.any(Number),
          total_time: expect.any(Number),
          estimated_time_to_regain_access: 0,
        },
      ],
    });
    expect(answer.headers.get("facebook-api-version")).toBe(V);
  });

  it("injects 368 with its subcode and user texts, and code 2 with the requested HTTP status", async () => {
    const f = await start();
    const token = await shortLivedToken(f);
    f.failNext({
      path: /\/me$/,
      error: { code: 368, subcode: 1390008, userTitle: "Blocked", userMessage: "Slow down" },
    });
    const blocked = await graph(f, "GET", "/me", { access_token: token });
    expect(blocked.body.error).toMatchObject({
      code: 368,
      error_subcode: 1390008,
      error_user_title: "Blocked",
      error_user_msg: "Slow down",
    });
    f.failNext({ error: { code: 2, status: 503 } });
    const down = await graph(f, "GET", "/me", { access_token: token });
    expect(down.status).toBe(503);
    expect(down.body.error).toMatchObject({ code: 2, is_transient: true });
  });

  it("htmlError answers an HTML page with status 500", async () => {
    const f = await start();
    const token = await shortLivedToken(f);
    f.failNext({ path: /\/me$/, htmlError: true });
    const answer = await graph(f, "GET", "/me", { access_token: token });
    expect(answer.status).toBe(500);
    expect(answer.headers.get("content-type")).toMatch(/^text\/html/);
    expect(String(answer.body)).toContain("<html");
  });

  it("timeoutAfterHandling publishes the post but the client sees no response", async () => {
    const f = await start();
    const token = await pageToken(f, await longLivedToken(f));
    f.failNext({ path: /\/feed$/, method: "POST", timeoutAfterHandling: true });
    await expect(
      graph(f, "POST", "/20001/feed", { access_token: token, message: "Did it go?" }),
    ).rejects.toThrow();
    expect(f.state.posts.map((p) => p.message)).toEqual(["Did it go?"]);
    expect(f.calls.at(-1)).toMatchObject({ method: "POST", path: `/${V}/20001/feed`, status: null });
  });

  it("records every request, so a test can count exchanges", async () => {
    const f = await start();
    await longLivedToken(f);
    const exchanges = f.calls.filter(
      (call) => call.path.endsWith("/oauth/access_token") && call.query.grant_type === "fb_exchange_token",
    );
    expect(exchanges).toHaveLength(1);
    expect(exchanges[0]).toMatchObject({ method: "GET", status: 200, at: clock });
    const dialog = f.calls.find((call) => call.path.endsWith("/dialog/oauth"));
    expect(dialog?.status).toBe(302);
  });
});

describe("what publishing adapters read back and clean up", () => {
  const IG = "17841400000001";
  const WITH_COMMENTS = [...ALL_PERMISSIONS, "pages_manage_engagement", "instagram_manage_comments"];

  async function tokens(f: GraphFake, scope = WITH_COMMENTS) {
    const user = await longLivedToken(f, scope);
    return { user, page: await pageToken(f, user) };
  }

  it("lists the Page's posts since a time with their attachments: photo, album ids, video, link", async () => {
    const f = await start();
    const { page } = await tokens(f, ALL_PERMISSIONS);
    await graph(f, "POST", "/20001/feed", { access_token: page, message: "before" });
    clock += HOUR;
    const since = String(Math.floor(clock / 1000));
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const photo = await graph(f, "POST", "/20001/photos", {
        access_token: page,
        url: `https://cdn.example/${n}.jpg`,
        published: "false",
      });
      ids.push(photo.body.id);
    }
    await graph(f, "POST", "/20001/feed", {
      access_token: page,
      message: "album",
      "attached_media[0]": JSON.stringify({ media_fbid: ids[0] }),
      "attached_media[1]": JSON.stringify({ media_fbid: ids[1] }),
    });
    const single = await graph(f, "POST", "/20001/photos", {
      access_token: page,
      url: "https://cdn.example/3.jpg",
    });
    const video = await graph(f, "POST", "/20001/videos", {
      access_token: page,
      file_url: "https://cdn.example/v.mp4",
    });
    await graph(f, "POST", "/20001/feed", {
      access_token: page,
      message: "link",
      link: "https://blog.example/a",
    });

    const listed = await graph(f, "GET", "/20001/posts", {
      access_token: page,
      since,
      fields: "id,message,attachments{media_type,target,subattachments,url}",
    });
    const data: Json[] = listed.body.data;
    expect(data.map((post) => [post.message, post.attachments?.data[0]?.media_type])).toEqual([
      ["link", "link"],
      [undefined, "video"],
      [undefined, "photo"],
      ["album", "album"],
    ]);
    expect(data[3].attachments.data[0].subattachments.data.map((sub: Json) => sub.target.id)).toEqual(ids);
    expect(data[2].attachments.data[0].target.id).toBe(single.body.id);
    expect(data[1].attachments.data[0].target.id).toBe(video.body.id);

    // Page photos: profile pictures by default, uploads with type=uploaded (visible ones only).
    const uploaded = await graph(f, "GET", "/20001/photos", { access_token: page, type: "uploaded" });
    expect(uploaded.body.data.map((p: Json) => p.id)).toEqual([single.body.id, ids[1], ids[0]]);
    expect((await graph(f, "GET", "/20001/photos", { access_token: page })).body.data).toEqual([]);
  });

  it("deletes unpublished photos, which can then not be attached, and videos with their post", async () => {
    const f = await start();
    const { page } = await tokens(f, ALL_PERMISSIONS);
    const photo = await graph(f, "POST", "/20001/photos", {
      access_token: page,
      url: "https://cdn.example/1.jpg",
      published: "false",
    });
    expect((await graph(f, "DELETE", `/${photo.body.id}`, { access_token: page })).body).toEqual({
      success: true,
    });
    const attach = await graph(f, "POST", "/20001/feed", {
      access_token: page,
      "attached_media[0]": JSON.stringify({ media_fbid: photo.body.id }),
    });
    expect(graphErrorOf(attach)).toMatchObject({ code: 100 });
    const video = await graph(f, "POST", "/20001/videos", {
      access_token: page,
      file_url: "https://cdn.example/v.mp4",
    });
    const permalink = await graph(f, "GET", `/${video.body.id}`, {
      access_token: page,
      fields: "permalink_url",
    });
    expect(permalink.body.permalink_url).toBe(`/20001/videos/${video.body.id}/`);
    await graph(f, "DELETE", `/${video.body.id}`, { access_token: page });
    expect(f.state.videos[0]?.deleted).toBe(true);
    expect(f.state.posts.every((p) => p.deleted)).toBe(true);
  });

  it("comments as the Page need its own Page token and pages_manage_engagement", async () => {
    const f = await start({ users: [person({ permissions: WITH_COMMENTS })] });
    const { user, page } = await tokens(f);
    const post = await graph(f, "POST", "/20001/feed", { access_token: page, message: "hello" });
    expect(
      graphErrorOf(await graph(f, "POST", `/${post.body.id}/comments`, { access_token: user, message: "x" })),
    ).toMatchObject({
      code: 100,
      subcode: 33,
    });
    const comment = await graph(f, "POST", `/${post.body.id}/comments`, {
      access_token: page,
      message: "first!",
    });
    expect(comment.body).toEqual({ id: expect.any(String) });
    expect(f.state.comments).toEqual([
      expect.objectContaining({ objectId: post.body.id, message: "first!" }),
    ]);

    await f.close();
    const g = await start();
    const without = await tokens(g, ALL_PERMISSIONS);
    const other = await graph(g, "POST", "/20001/feed", { access_token: without.page, message: "hello" });
    const refused = await graph(g, "POST", `/${other.body.id}/comments`, {
      access_token: without.page,
      message: "x",
    });
    expect(graphErrorOf(refused)).toMatchObject({ code: 200 });
    expect(refused.body.error.message).toContain("pages_manage_engagement");
  });

  it("lists stories apart from media, and takes comments on media but not on stories", async () => {
    const f = await start({ users: [person({ permissions: WITH_COMMENTS })], containerReadyAfterPolls: 0 });
    const { user } = await tokens(f);
    const publish = async (params: Record<string, string>) => {
      const container = await graph(f, "POST", `/${IG}/media`, { access_token: user, ...params });
      return (
        await graph(f, "POST", `/${IG}/media_publish`, { access_token: user, creation_id: container.body.id })
      ).body.id as string;
    };
    const post = await publish({ image_url: "https://cdn.example/a.jpg", caption: "post" });
    const story = await publish({ media_type: "STORIES", image_url: "https://cdn.example/s.jpg" });
    const media = await graph(f, "GET", `/${IG}/media`, { access_token: user, fields: "id" });
    expect(media.body.data).toEqual([{ id: post }]);
    const stories = await graph(f, "GET", `/${IG}/stories`, {
      access_token: user,
      fields: "id,media_product_type",
    });
    expect(stories.body.data).toEqual([{ id: story, media_product_type: "STORY" }]);
    clock += DAY;
    expect((await graph(f, "GET", `/${IG}/stories`, { access_token: user })).body.data).toEqual([]);

    expect((await graph(f, "POST", `/${post}/comments`, { access_token: user, message: "hi" })).status).toBe(
      200,
    );
    expect(
      graphErrorOf(await graph(f, "POST", `/${story}/comments`, { access_token: user, message: "hi" })),
    ).toMatchObject({
      code: 100,
    });
    expect(f.state.comments.map((c) => c.objectId)).toEqual([post]);
  });

  it("finishes containers after a time on the clock, and ends rejected media URLs in ERROR", async () => {
    const f = await start({ containerReadyAfterMs: 30_000 });
    const token = await longLivedToken(f);
    const status = async (id: string) =>
      (await graph(f, "GET", `/${id}`, { access_token: token, fields: "status_code,status" })).body;
    const created = await graph(f, "POST", `/${IG}/media`, {
      access_token: token,
      image_url: "https://cdn.example/a.jpg",
    });
    for (let i = 0; i < 5; i++) expect((await status(created.body.id)).status_code).toBe("IN_PROGRESS");
    clock += 30_000;
    expect((await status(created.body.id)).status_code).toBe("FINISHED");

    f.rejectMediaUrl("https://cdn.example/missing.mp4");
    const bad = await graph(f, "POST", `/${IG}/media`, {
      access_token: token,
      media_type: "REELS",
      video_url: "https://cdn.example/missing.mp4",
    });
    expect(await status(bad.body.id)).toMatchObject({
      status_code: "ERROR",
      status: expect.stringContaining("2207052"),
    });
  });

  it("dropBeforeHandling resets the connection and nothing happens", async () => {
    const f = await start();
    const { page } = await tokens(f, ALL_PERMISSIONS);
    f.failNext({ path: /\/feed$/, method: "POST", dropBeforeHandling: true });
    await expect(graph(f, "POST", "/20001/feed", { access_token: page, message: "lost" })).rejects.toThrow();
    expect(f.state.posts).toEqual([]);
    expect(f.calls.at(-1)).toMatchObject({ method: "POST", status: null });
  });
});
