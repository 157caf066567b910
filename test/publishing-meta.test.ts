/**
 * Facebook and Instagram publishing end to end: Herald's API (in-process) and a real worker on the
 * test database, against the Graph API fake (test/fakes/graph.ts) on a loopback port. Meta's rules
 * checked at `POST /posts`, posts published by the worker, exactly once when an answer is lost,
 * Meta's errors kept and retried as announced. Assertions read the fake's state (what exists on
 * the "platform"), not only Herald's answers.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { LightMyRequestResponse } from "fastify";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../src/observability/logger.js";
import { facebookProvider } from "../src/providers/facebook.js";
import { instagramProvider } from "../src/providers/instagram.js";
import { GraphClient, metaConnector } from "../src/providers/meta.js";
import { registryOf } from "../src/providers/registry.js";
import { startWorker, type WorkerHandle } from "../src/worker/worker.js";
import { type GraphFake, startGraphFake } from "./fakes/graph.js";
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
import { asOwner } from "./helpers/database.js";
import { eventually } from "./helpers/eventually.js";
import { expectProblem } from "./helpers/problems.js";

// http: with https, the session cookie gets the __Secure- prefix that helpers/app.ts does not read.
const PUBLIC_URL = "http://herald.example.com";
const PERMISSIONS = [
  "pages_show_list",
  "pages_read_engagement",
  "pages_manage_posts",
  "pages_manage_engagement",
  "publish_video",
  "instagram_basic",
  "instagram_content_publish",
  "instagram_manage_comments",
  "business_management",
];
const USER_ID = "10001";
const PAGE_ID = "20001";
const IG_ID = "17841400000001";
const log = createLogger("silent");

let fake: GraphFake;
let t: TestApp;
let worker: WorkerHandle;
let dataDir: string;
let owner: Session;
let workspaceId: string;
let clientId: string;
/** Herald's ids of the connected Facebook page and Instagram account. */
let facebook: string;
let instagram: string;
/** Every API answer of this file, searched for tokens at the end. */
const answers: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "herald-publishing-meta-"));
  fake = await startGraphFake();
  fake.addUser({
    id: USER_ID,
    name: "Ana Manager",
    permissions: PERMISSIONS,
    pages: [
      { id: PAGE_ID, name: "Bakery", instagram: { id: IG_ID, username: "bakery", name: "The Bakery" } },
    ],
  });
  // The registry of production, with the Instagram adapter polling containers every few ms
  // instead of every second (createRegistry takes no polling options).
  const meta = {
    appId: fake.appId,
    appSecret: fake.appSecret,
    graphUrl: fake.url,
    dialogUrl: fake.url,
    graphVersion: "v26.0",
    log,
  };
  const connector = metaConnector(meta);
  const graph = new GraphClient(meta);
  const registry = registryOf([
    facebookProvider(graph, connector),
    instagramProvider(graph, connector, { pollInitialMs: 5, pollMaxMs: 20, pollDeadlineMs: 10_000 }),
  ]);
  t = await startTestApp(
    {
      HERALD_FACEBOOK_APP_ID: fake.appId,
      HERALD_FACEBOOK_APP_SECRET: fake.appSecret,
      HERALD_FACEBOOK_GRAPH_URL: fake.url,
      HERALD_FACEBOOK_DIALOG_URL: fake.url,
      HERALD_PUBLIC_URL: PUBLIC_URL,
      HERALD_DATA_DIR: dataDir,
      HERALD_WORKER_POLL_MS: "100",
      HERALD_PUBLISH_MAX_ATTEMPTS: "10",
    },
    { registry },
  );
  owner = await signUp(t.app);
  workspaceId = await createWorkspace(t.app, owner);
  clientId = await createClient(t.app, owner, workspaceId, { name: "Bakery" });

  // Facebook Login as Ana: the page and its Instagram account, both linked to the client.
  const url = await authorize(t.app, owner, workspaceId, "facebook", [clientId]);
  fake.setDialogAnswer({ userId: USER_ID });
  const { message } = await land(t.app, owner, await consentRedirect(url));
  if (!message.ok) throw new Error(`Facebook Login failed: ${JSON.stringify(message)}`);
  const accounts = await confirm(t.app, owner, workspaceId, message.pendingId, { clientIds: [clientId] });
  const byPlatformId = new Map(accounts.map((account) => [account.platformAccountId, account.id]));
  facebook = byPlatformId.get(PAGE_ID) ?? "";
  instagram = byPlatformId.get(IG_ID) ?? "";
  expect(facebook).not.toBe("");
  expect(instagram).not.toBe("");

  worker = await startWorker({
    pool: t.pool,
    concurrency: 4,
    version: "test",
    log,
    vault: t.vault,
    registry,
    config: t.config,
    crontab: "",
  });
});

afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await fake?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const api = (p: string) => `/api/v1/workspaces/${workspaceId}${p}`;
const unique = (words: string) => `${words} ${randomBytes(4).toString("hex")}`;

/** Calls the API as the owner, keeping the answer for the token search. */
async function request(
  method: "GET" | "POST" | "PATCH" | "DELETE",
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  const response = await call(t.app, owner, method, api(p), body, headers);
  answers.push(response.body);
  return response;
}

type Attempt = {
  attempt: number;
  outcome: string | null;
  platformCode: string | null;
  platformSubcode: string | null;
  message: string | null;
};
type TargetJson = {
  id: string;
  status: string;
  attempts: number;
  nextAttemptAt: string | null;
  platformPostId: string | null;
  platformUrl: string | null;
  error: { code: string | null; message: string } | null;
  attemptLog: Attempt[];
};
type PostJson = { id: string; status: string; targets: TargetJson[] };
type MediaJson = { id: string; url: string; jpegUrl: string | null; mimeType: string };

async function createPost(body: Record<string, unknown>): Promise<PostJson> {
  const response = await request("POST", "/posts", { clientId, ...body });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

async function detail(postId: string): Promise<PostJson> {
  const response = await request("GET", `/posts/${postId}`);
  expect(response.statusCode).toBe(200);
  return response.json();
}

const FINAL = new Set(["published", "failed", "unconfirmed", "cancelled"]);
/** The post once every target is final, read through the API. */
async function settled(postId: string): Promise<PostJson> {
  return eventually(async () => {
    const post = await detail(postId);
    return post.targets.every((target) => FINAL.has(target.status)) ? post : undefined;
  }, `the targets of post ${postId} are final`);
}

function only<T>(items: T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

// ---------------------------------------------------------------------------------------------------
// Media
// ---------------------------------------------------------------------------------------------------

async function imageFile(width: number, height: number, format: "jpeg" | "png" = "jpeg"): Promise<Buffer> {
  const shade = () => Math.floor(Math.random() * 256);
  const image = sharp({
    create: { width, height, channels: 3, background: { r: shade(), g: shade(), b: shade() } },
  });
  return format === "png" ? image.png().toBuffer() : image.jpeg().toBuffer();
}

/** Uploads a file through the media API (multipart, field `file`). */
async function upload(data: Buffer, filename: string): Promise<MediaJson> {
  const boundary = `----herald${randomBytes(8).toString("hex")}`;
  const payload = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const response = await request("POST", "/media", payload, {
    "content-type": `multipart/form-data; boundary=${boundary}`,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

const uploadJpeg = async (width = 1080, height = 1080) => upload(await imageFile(width, height), "photo.jpg");

// ---------------------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------------------

const FEED = new RegExp(`/${PAGE_ID}/feed$`);
const MEDIA_PUBLISH = new RegExp(`/${IG_ID}/media_publish$`);
const callsTo = (method: string, pattern: RegExp, where: (body: Record<string, unknown>) => boolean) =>
  fake.calls.filter(
    (c) =>
      c.method === method &&
      pattern.test(c.path) &&
      typeof c.body === "object" &&
      c.body !== null &&
      where(c.body as Record<string, unknown>),
  );
const livePostsWith = (message: string) =>
  fake.state.posts.filter((post) => post.message === message && !post.deleted);

/** Makes a retry that waits for a later time due now (the target's time and its job's). */
async function makeDue(targetId: string): Promise<void> {
  await asOwner(t.db.url, async (client) => {
    await client.query("update post_targets set next_attempt_at = now() where id = $1", [targetId]);
    const { rowCount } = await client.query(
      "update graphile_worker._private_jobs set run_at = now() where key = $1",
      [`publish:${targetId}`],
    );
    expect(rowCount).toBe(1);
  });
}

// ---------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------

describe("Meta's rules at POST /posts", () => {
  it("an Instagram target without media is refused with media_required, naming the account; the Facebook one is fine", async () => {
    const body = {
      clientId,
      content: { text: "Fresh bread at 7" },
      targets: [{ accountId: facebook }, { accountId: instagram }],
      publishNow: true,
    };
    const problem = expectProblem(await request("POST", "/posts", body), 422, "HERALD_POST_INVALID");
    expect(problem.errors).toEqual([
      {
        path: "body.targets.1.mediaIds",
        rule: "media_required",
        message: "Instagram account “The Bakery”: Instagram needs an image or a video.",
      },
    ]);

    const validation = await request("POST", "/posts/validate", body);
    expect(validation.statusCode).toBe(200);
    expect(validation.json()).toMatchObject({
      valid: false,
      errors: problem.errors,
      targets: [
        { accountId: facebook, platform: "facebook", valid: true, text: { maxLength: 63_206 } },
        { accountId: instagram, platform: "instagram", valid: false, text: { maxLength: 2_200 } },
      ],
    });
    const stored = await asOwner(t.db.url, (c) =>
      c.query("select 1 from posts where content->>'text' = 'Fresh bread at 7'"),
    );
    expect(stored.rows).toEqual([]);
  });

  it("a Facebook text over 63,206 characters is text_too_long, with the limit in the message; 63,206 is fine", async () => {
    const body = (text: string) => ({
      clientId,
      content: { text },
      targets: [{ accountId: facebook }],
      publishNow: true,
    });
    const tooLong = "x".repeat(63_207);
    const problem = expectProblem(await request("POST", "/posts", body(tooLong)), 422, "HERALD_POST_INVALID");
    expect(problem.errors).toEqual([
      {
        path: "body.targets.0.text",
        rule: "text_too_long",
        message:
          "Facebook account “Bakery”: Facebook allows at most 63,206 characters; this text has 63,207.",
      },
    ]);
    const validation = (await request("POST", "/posts/validate", body(tooLong))).json();
    expect(validation).toMatchObject({
      valid: false,
      errors: problem.errors,
      targets: [{ valid: false, text: { length: 63_207, maxLength: 63_206 } }],
    });
    const atLimit = (await request("POST", "/posts/validate", body("x".repeat(63_206)))).json();
    expect(atLimit).toMatchObject({ valid: true, errors: [] });
  });

  it("an Instagram carousel of 11 images is too_many_media", async () => {
    const media = await Promise.all(Array.from({ length: 11 }, () => uploadJpeg(400, 400)));
    const problem = expectProblem(
      await request("POST", "/posts", {
        clientId,
        content: { text: "Our week", mediaIds: media.map((m) => m.id) },
        targets: [{ accountId: instagram }],
        publishNow: true,
      }),
      422,
      "HERALD_POST_INVALID",
    );
    expect(problem.errors).toEqual([
      {
        path: "body.targets.0.mediaIds",
        rule: "too_many_media",
        message: "Instagram account “The Bakery”: Instagram takes at most 10 files; this post has 11.",
      },
    ]);
  });

  it("a 1:3 tall image on an Instagram feed post breaks aspect_ratio", async () => {
    const tall = await uploadJpeg(400, 1200);
    const problem = expectProblem(
      await request("POST", "/posts", {
        clientId,
        content: { text: "Tall", mediaIds: [tall.id] },
        targets: [{ accountId: instagram }],
        publishNow: true,
      }),
      422,
      "HERALD_POST_INVALID",
    );
    expect(problem.errors).toEqual([
      expect.objectContaining({ path: "body.targets.0.mediaIds.0", rule: "aspect_ratio" }),
    ]);
    expect(problem.errors?.[0]?.message).toContain("between 0.80 and 1.91; this one is 0.33");
  });

  it("a link on Instagram is link_unsupported", async () => {
    const photo = await uploadJpeg();
    const problem = expectProblem(
      await request("POST", "/posts", {
        clientId,
        content: { text: "Our menu", mediaIds: [photo.id], link: "https://bakery.example/menu" },
        targets: [{ accountId: instagram }],
        publishNow: true,
      }),
      422,
      "HERALD_POST_INVALID",
    );
    expect(problem.errors).toEqual([
      {
        path: "body.targets.0.link",
        rule: "link_unsupported",
        message:
          "Instagram account “The Bakery”: Instagram does not publish links; put the link in the text.",
      },
    ]);
  });
});

describe("publishing through the worker", () => {
  it("a Facebook text post ends published with the fake's post id and permalink, one post on the page", async () => {
    const text = unique("Fresh bread at 7");
    const post = await createPost({
      content: { text },
      targets: [{ accountId: facebook }],
      publishNow: true,
    });
    const done = await settled(post.id);
    expect(done.status).toBe("published");
    const onPage = only(livePostsWith(text));
    expect(onPage).toMatchObject({ pageId: PAGE_ID, link: null, published: true });
    const target = only(done.targets);
    expect(target).toMatchObject({
      status: "published",
      attempts: 1,
      platformPostId: onPage.id,
      platformUrl: `https://www.facebook.com/${PAGE_ID}/posts/${onPage.id.split("_")[1]}`,
      error: null,
    });
    expect(target.attemptLog.map((a) => a.outcome)).toEqual(["published"]);
  });

  it("a Facebook photo post sends the media's public URL to /photos and ends published with the post", async () => {
    const photo = await uploadJpeg();
    expect(photo.url).toMatch(new RegExp(`^${PUBLIC_URL}/media/files/[0-9a-f]{32}\\.jpg$`));
    const text = unique("Croissants");
    const post = await createPost({
      content: { text, mediaIds: [photo.id] },
      targets: [{ accountId: facebook }],
      publishNow: true,
    });
    const target = only((await settled(post.id)).targets);
    const uploaded = only(fake.state.photos.filter((p) => p.caption === text));
    expect(uploaded).toMatchObject({ pageId: PAGE_ID, url: photo.url, published: true });
    const onPage = only(livePostsWith(text));
    expect(onPage).toMatchObject({ id: uploaded.postId, attachedMedia: [uploaded.id] });
    expect(target).toMatchObject({
      status: "published",
      platformPostId: onPage.id,
      platformUrl: `https://www.facebook.com/${PAGE_ID}/posts/${onPage.id.split("_")[1]}`,
    });
  });

  it("an Instagram photo post makes one container and one media, and keeps its permalink", async () => {
    const photo = await uploadJpeg();
    const caption = unique("Croissants #bakery");
    const post = await createPost({
      content: { text: caption, mediaIds: [photo.id] },
      targets: [{ accountId: instagram }],
      publishNow: true,
    });
    const target = only((await settled(post.id)).targets);
    const container = only(fake.state.containers.filter((c) => c.caption === caption));
    expect(container).toMatchObject({ igUserId: IG_ID, mediaType: "IMAGE", imageUrl: photo.url });
    const published = only(fake.state.media.filter((m) => m.caption === caption));
    expect(published).toMatchObject({ containerId: container.id, productType: "FEED" });
    expect(target).toMatchObject({
      status: "published",
      platformPostId: published.id,
      platformUrl: published.permalink,
    });
    expect(published.permalink).toMatch(/^https:\/\/www\.instagram\.com\/p\/[\w-]+\/$/);
  });

  it("a PNG goes to Instagram as its JPEG rendition: the container gets the rendition's URL", async () => {
    const png = await upload(await imageFile(1080, 1080, "png"), "photo.png");
    expect(png.mimeType).toBe("image/png");
    expect(png.jpegUrl).toMatch(new RegExp(`^${PUBLIC_URL}/media/files/[0-9a-f]{32}\\.jpg$`));
    expect(png.jpegUrl).not.toBe(png.url);
    const caption = unique("Transparent croissant");
    const body = {
      content: { text: caption, mediaIds: [png.id] },
      targets: [{ accountId: instagram }],
      publishNow: true,
    };
    expect((await request("POST", "/posts/validate", { clientId, ...body })).json()).toMatchObject({
      valid: true,
    });
    const post = await createPost(body);
    const target = only((await settled(post.id)).targets);
    expect(target.status).toBe("published");
    const container = only(fake.state.containers.filter((c) => c.caption === caption));
    expect(container.imageUrl).toBe(png.jpegUrl);
    expect(container.imageUrl).toMatch(/\/[0-9a-f]{32}\.jpg$/);
    expect(only(fake.state.media.filter((m) => m.caption === caption)).id).toBe(target.platformPostId);
  });

  it("post_published in the audit trail carries the platform id and URL, and no token is anywhere", async () => {
    const text = unique("Audited");
    const post = await createPost({
      content: { text },
      targets: [{ accountId: facebook }],
      publishNow: true,
    });
    const target = only((await settled(post.id)).targets);
    expect(target.status).toBe("published");
    const events = await asOwner(t.db.url, async (client) => {
      const { rows } = await client.query<{ action: string; target_id: string; details: unknown }>(
        "select action, target_id, details from audit_events where workspace_id = $1 order by created_at",
        [workspaceId],
      );
      return rows;
    });
    const published = only(events.filter((e) => e.action === "post_published" && e.target_id === target.id));
    expect(published.details).toMatchObject({
      postId: post.id,
      targetId: target.id,
      accountId: facebook,
      platform: "facebook",
      platformPostId: target.platformPostId,
      url: target.platformUrl,
    });

    // Every token Meta issued in this file, against every audit event and every API answer.
    await request("GET", "/accounts");
    await request("GET", "/posts");
    const tokens = fake.issuedTokens;
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    const audit = JSON.stringify(events);
    // ...and what Herald keeps about the publishing itself: targets (progress, errors) and attempts.
    const kept = await asOwner(t.db.url, async (client) => {
      const targets = await client.query("select * from post_targets where workspace_id = $1", [workspaceId]);
      const attempts = await client.query("select * from publish_attempts where workspace_id = $1", [
        workspaceId,
      ]);
      return JSON.stringify([targets.rows, attempts.rows]);
    });
    const leaks = tokens.filter(
      (token) => audit.includes(token) || kept.includes(token) || answers.some((a) => a.includes(token)),
    );
    expect(leaks).toEqual([]);
    expect(audit).not.toContain(fake.appSecret);
    expect(answers.some((a) => a.includes(fake.appSecret))).toBe(false);
  });
});

describe("exactly once under ambiguity", () => {
  it("a Facebook post created but whose answer was lost is found by reconciliation, not published twice", async () => {
    const text = unique("Lost answer");
    fake.failNext({ method: "POST", path: FEED, timeoutAfterHandling: true });
    const post = await createPost({
      content: { text },
      targets: [{ accountId: facebook }],
      publishNow: true,
    });
    const target = only((await settled(post.id)).targets);
    const onPage = only(livePostsWith(text));
    expect(target).toMatchObject({ status: "published", attempts: 2, platformPostId: onPage.id });
    expect(target.platformUrl).toContain(`/${PAGE_ID}/posts/`);
    expect(target.attemptLog.map((a) => a.outcome)).toEqual(["ambiguous", "already_published"]);
    // One create, whose answer was lost; the retry looked the page's posts up instead.
    expect(callsTo("POST", FEED, (b) => b.message === text)).toHaveLength(1);
    expect(fake.calls.some((c) => c.method === "GET" && c.path.endsWith(`/${PAGE_ID}/posts`))).toBe(true);
  });

  it("a Facebook create dropped before it was handled is published once by the retry", async () => {
    const text = unique("Never arrived");
    fake.failNext({ method: "POST", path: FEED, dropBeforeHandling: true });
    const post = await createPost({
      content: { text },
      targets: [{ accountId: facebook }],
      publishNow: true,
    });
    const target = only((await settled(post.id)).targets);
    const onPage = only(livePostsWith(text));
    expect(target).toMatchObject({ status: "published", attempts: 2, platformPostId: onPage.id });
    expect(target.attemptLog.map((a) => a.outcome)).toEqual(["ambiguous", "published"]);
    const creates = callsTo("POST", FEED, (b) => b.message === text);
    expect(creates.map((c) => c.status)).toEqual([null, 200]);
    // Between them, reconciliation read the page's posts and found nothing.
    const between = fake.calls.filter(
      (c) =>
        c.method === "GET" &&
        c.path.endsWith(`/${PAGE_ID}/posts`) &&
        c.at >= (creates[0]?.at ?? 0) &&
        c.at <= (creates[1]?.at ?? 0),
    );
    expect(between.length).toBeGreaterThanOrEqual(1);
  });

  it("an Instagram media_publish whose answer was lost resumes from the saved container: one media", async () => {
    const photo = await uploadJpeg();
    const caption = unique("Published once");
    fake.failNext({ method: "POST", path: MEDIA_PUBLISH, timeoutAfterHandling: true });
    const post = await createPost({
      content: { text: caption, mediaIds: [photo.id] },
      targets: [{ accountId: instagram }],
      publishNow: true,
    });
    const target = only((await settled(post.id)).targets);
    const container = only(fake.state.containers.filter((c) => c.caption === caption));
    const published = only(fake.state.media.filter((m) => m.caption === caption));
    expect(published.containerId).toBe(container.id);
    expect(container.status).toBe("PUBLISHED");
    expect(target).toMatchObject({
      status: "published",
      attempts: 2,
      platformPostId: published.id,
      platformUrl: published.permalink,
    });
    expect(target.attemptLog.map((a) => a.outcome)).toEqual(["ambiguous", "published"]);
    expect(callsTo("POST", MEDIA_PUBLISH, (b) => b.creation_id === container.id)).toHaveLength(1);
  });
});

describe("Meta's errors", () => {
  it.each([
    { code: 100, kind: "invalid parameter", words: "Facebook: (#100) Invalid parameter" },
    // Meta sends a message meant for people with a block (error_user_msg); Herald shows that one.
    {
      code: 368,
      subcode: 1390008,
      kind: "blocked",
      userMessage: "You can't post this right now because it looks like spam.",
      words: "Facebook: You can't post this right now because it looks like spam.",
    },
  ])(
    "a permanent Graph error ($kind, $code) fails the target after one attempt, the platform's code kept",
    async ({ code, subcode, userMessage, words }) => {
      const text = unique(`Refused ${code}`);
      fake.failNext({ method: "POST", path: FEED, error: { code, subcode, userMessage } });
      const post = await createPost({
        content: { text },
        targets: [{ accountId: facebook }],
        publishNow: true,
      });
      const done = await settled(post.id);
      expect(done.status).toBe("failed");
      const target = only(done.targets);
      expect(target).toMatchObject({
        status: "failed",
        attempts: 1,
        nextAttemptAt: null,
        platformPostId: null,
        error: { code: `FACEBOOK_${code}` },
      });
      expect(target.error?.message).toBe(words);
      expect(target.error?.message).not.toMatch(/[{}]/);
      expect(only(target.attemptLog)).toMatchObject({
        outcome: "failed",
        platformCode: String(code),
        platformSubcode: subcode === undefined ? null : String(subcode),
      });
      expect(callsTo("POST", FEED, (b) => b.message === text)).toHaveLength(1);
      expect(livePostsWith(text)).toEqual([]);
      const jobs = await asOwner(t.db.url, (c) =>
        c.query("select 1 from graphile_worker.jobs where key = $1", [`publish:${target.id}`]),
      );
      expect(jobs.rows).toEqual([]);
    },
  );

  it("a photo Instagram cannot fetch ends its container in ERROR and fails the target, subcode 2207052 kept", async () => {
    const photo = await uploadJpeg();
    fake.rejectMediaUrl(photo.url);
    const caption = unique("Unreachable");
    const post = await createPost({
      content: { text: caption, mediaIds: [photo.id] },
      targets: [{ accountId: instagram }],
      publishNow: true,
    });
    const target = only((await settled(post.id)).targets);
    expect(target).toMatchObject({ status: "failed", attempts: 1, error: { code: "INSTAGRAM_ERROR" } });
    expect(target.error?.message).toContain("Instagram could not process the media");
    expect(only(target.attemptLog)).toMatchObject({ platformCode: "ERROR", platformSubcode: "2207052" });
    expect(only(fake.state.containers.filter((c) => c.caption === caption)).status).toBe("ERROR");
    expect(fake.state.media.filter((m) => m.caption === caption)).toEqual([]);
  });

  it("a throttled page (code 32) is retried after the delay Meta announces, then published once", async () => {
    const text = unique("Throttled");
    // X-Business-Use-Case-Usage: estimated_time_to_regain_access = 1 minute.
    fake.failNext({ method: "POST", path: FEED, error: { code: 32, estimatedTimeToRegainAccess: 1 } });
    const before = Date.now();
    const post = await createPost({
      content: { text },
      targets: [{ accountId: facebook }],
      publishNow: true,
    });
    const waiting = await eventually(async () => {
      const [target] = (await detail(post.id)).targets;
      return target?.status === "scheduled" && target.attempts === 1 ? target : undefined;
    }, "the first attempt was throttled");
    expect(only(waiting.attemptLog)).toMatchObject({ outcome: "retry", platformCode: "32" });
    const retryAt = Date.parse(waiting.nextAttemptAt ?? "");
    expect(retryAt).toBeGreaterThanOrEqual(before + 59_000);
    expect(retryAt).toBeLessThanOrEqual(Date.now() + 61_000);
    const job = await asOwner(t.db.url, (c) =>
      c.query<{ run_at: Date }>("select run_at from graphile_worker.jobs where key = $1", [
        `publish:${waiting.id}`,
      ]),
    );
    expect(only(job.rows).run_at.getTime()).toBe(retryAt);
    expect(livePostsWith(text)).toEqual([]);

    // A minute later (made now): the retry publishes.
    await makeDue(waiting.id);
    const target = only((await settled(post.id)).targets);
    const onPage = only(livePostsWith(text));
    expect(target).toMatchObject({ status: "published", attempts: 2, platformPostId: onPage.id });
    expect(target.attemptLog.map((a) => a.outcome)).toEqual(["retry", "published"]);
    expect(callsTo("POST", FEED, (b) => b.message === text)).toHaveLength(2);
  });
});
