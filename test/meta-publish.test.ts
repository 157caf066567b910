/**
 * Publishing to Facebook Pages and Instagram over HTTP against the Graph API fake
 * (test/fakes/graph.ts): every kind of post, first comments, reconciliation after a lost answer,
 * Instagram's container flow with polling, resuming and expiry, and Meta's errors mapped to kinds.
 * Assertions read the fake's state (what really exists on the "platform"), not only return values.
 */
import { afterEach, describe, expect, it } from "vitest";
import { facebookProvider } from "../src/providers/facebook.js";
import { type InstagramOptions, instagramProvider } from "../src/providers/instagram.js";
import { GraphClient, metaConnector } from "../src/providers/meta.js";
import {
  type DiscoveredAccount,
  type ProviderAdapter,
  ProviderError,
  type PublishContent,
  type PublishMedia,
  type PublishRequest,
  TransportError,
} from "../src/providers/provider.js";
import { type GraphFake, startGraphFake } from "./fakes/graph.js";
import { capturedLogger } from "./helpers/log-capture.js";

const REDIRECT = "https://herald.example/api/v1/oauth/callback/facebook";
const PAGE = "20001";
const OTHER_PAGE = "20002";
const IG = "17841400000001";
const HOUR = 3_600_000;

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

let fake: GraphFake | undefined;
let clock = Date.UTC(2026, 0, 5, 9, 0, 0);

afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

type Setup = {
  fake: GraphFake;
  facebook: ProviderAdapter;
  instagram: ProviderAdapter;
  accounts: DiscoveredAccount[];
  logs: ReturnType<typeof capturedLogger>;
  /** Every wait the Instagram adapter asked for, in ms (virtual: the clock moves, nothing sleeps). */
  sleeps: number[];
};

async function setup(
  options: { containerReadyAfterPolls?: number; permissions?: string[]; instagram?: InstagramOptions } = {},
): Promise<Setup> {
  clock = Date.UTC(2026, 0, 5, 9, 0, 0);
  const f = await startGraphFake({
    now: () => clock,
    containerReadyAfterPolls: options.containerReadyAfterPolls,
  });
  fake = f;
  f.addUser({
    id: "10001",
    name: "Ana Manager",
    permissions: options.permissions ?? PERMISSIONS,
    pages: [
      { id: PAGE, name: "Bakery", instagram: { id: IG, username: "bakery" } },
      { id: OTHER_PAGE, name: "Florist" },
    ],
  });
  const logs = capturedLogger("debug");
  const meta = {
    appId: f.appId,
    appSecret: f.appSecret,
    graphUrl: f.url,
    dialogUrl: f.url,
    graphVersion: "v26.0",
    log: logs.log,
  };
  const connector = metaConnector(meta);
  const graph = new GraphClient(meta);
  const sleeps: number[] = [];
  const instagram = instagramProvider(graph, connector, {
    pollInitialMs: 1000,
    pollMaxMs: 8000,
    pollDeadlineMs: 60_000,
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    ...options.instagram,
  });
  // Facebook Login as Ana, then the connector's own discovery: page tokens as Herald stores them.
  f.setDialogAnswer({ userId: "10001" });
  const consent = await fetch(
    connector.authorizationUrl({ state: "s", codeChallenge: null, redirectUri: REDIRECT }),
    {
      redirect: "manual",
    },
  );
  const code = new URL(consent.headers.get("location") ?? "").searchParams.get("code") ?? "";
  const accounts = await connector.connect({ code, codeVerifier: null, redirectUri: REDIRECT });
  return { fake: f, facebook: facebookProvider(graph, connector), instagram, accounts, logs, sleeps };
}

/** One target's attempts: each `attempt()` is a new PublishRequest carrying what earlier ones saved. */
function target(s: Setup, platformAccountId: string, content: Partial<PublishContent>) {
  const account = s.accounts.find((a) => a.platformAccountId === platformAccountId);
  if (!account) throw new Error(`no account ${platformAccountId}`);
  const since = new Date(clock);
  const state = { progress: {} as Record<string, unknown>, checkpoints: [] as Record<string, unknown>[] };
  const attempt = (): PublishRequest => ({
    account: { platformAccountId, metadata: account.metadata },
    tokens: account.credential.tokens,
    content: { text: "", media: [], link: null, firstComment: null, format: "post", ...content },
    idempotencyKey: "target-1",
    progress: structuredClone(state.progress),
    async checkpoint(progress) {
      state.progress = structuredClone(progress);
      state.checkpoints.push(state.progress);
    },
    since,
    log: s.logs.log,
  });
  return { attempt, state };
}

let mediaSeq = 0;
function image(url = `https://cdn.example/${++mediaSeq}.jpg`): PublishMedia {
  return {
    id: `m${++mediaSeq}`,
    kind: "image",
    url,
    mimeType: "image/jpeg",
    sizeBytes: 200_000,
    width: 1080,
    height: 1080,
    durationMs: null,
  };
}
function video(url = `https://cdn.example/${++mediaSeq}.mp4`): PublishMedia {
  return {
    id: `m${++mediaSeq}`,
    kind: "video",
    url,
    mimeType: "video/mp4",
    sizeBytes: 5_000_000,
    width: 1080,
    height: 1920,
    durationMs: 12_000,
  };
}

const live = <T extends { deleted: boolean }>(items: T[]) => items.filter((item) => !item.deleted);
const callsTo = (f: GraphFake, method: string, path: RegExp) =>
  f.calls.filter((c) => c.method === method && path.test(c.path));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("Facebook publishing", () => {
  it("publishes a text post to the page feed and returns its permalink", async () => {
    const s = await setup();
    const published = await s.facebook.publish(target(s, PAGE, { text: "Fresh bread at 7" }).attempt());
    expect(s.fake.state.posts).toEqual([
      expect.objectContaining({ pageId: PAGE, message: "Fresh bread at 7", link: null, published: true }),
    ]);
    const [post] = s.fake.state.posts;
    expect(published).toEqual({
      platformPostId: post?.id,
      url: `https://www.facebook.com/${PAGE}/posts/${post?.id.split("_")[1]}`,
    });
  });

  it("publishes a link with its text", async () => {
    const s = await setup();
    await s.facebook.publish(
      target(s, PAGE, { text: "Our menu", link: "https://bakery.example/menu" }).attempt(),
    );
    expect(s.fake.state.posts).toEqual([
      expect.objectContaining({ message: "Our menu", link: "https://bakery.example/menu" }),
    ]);
  });

  it("publishes one photo with its caption through /photos, and returns the post, not the photo", async () => {
    const s = await setup();
    const photo = image();
    const published = await s.facebook.publish(
      target(s, PAGE, { text: "Croissants", media: [photo] }).attempt(),
    );
    expect(s.fake.state.photos).toEqual([
      expect.objectContaining({ url: photo.url, caption: "Croissants", published: true }),
    ]);
    expect(s.fake.state.posts).toHaveLength(1);
    expect(published.platformPostId).toBe(s.fake.state.posts[0]?.id);
    expect(published.platformPostId).toBe(s.fake.state.photos[0]?.postId);
  });

  it("publishes several photos as unpublished uploads attached to one feed post, checkpointing each", async () => {
    const s = await setup();
    const media = [image(), image(), image()];
    const t = target(s, PAGE, { text: "Our week", media });
    const published = await s.facebook.publish(t.attempt());
    const { photos, posts } = s.fake.state;
    expect(photos).toHaveLength(3);
    expect(photos.every((p) => !p.published && p.attachedTo === published.platformPostId)).toBe(true);
    expect(posts).toEqual([
      expect.objectContaining({
        id: published.platformPostId,
        message: "Our week",
        attachedMedia: photos.map((p) => p.id),
      }),
    ]);
    expect(t.state.checkpoints).toHaveLength(3);
    expect(t.state.progress).toEqual({
      facebookPhotos: Object.fromEntries(media.map((m, i) => [m.id, photos[i]?.id])),
    });
  });

  it("a retry after a failed feed call reuses the uploaded photos instead of uploading them again", async () => {
    const s = await setup();
    const t = target(s, PAGE, { text: "Two loaves", media: [image(), image()] });
    s.fake.failNext({ method: "POST", path: /\/feed$/, error: { code: 2 } });
    const error = await rejection(s.facebook.publish(t.attempt()));
    expect(error).toMatchObject({ kind: "unavailable", platformCode: "2" });
    expect(s.fake.state.photos).toHaveLength(2);
    expect(s.fake.state.posts).toHaveLength(0);

    await s.facebook.publish(t.attempt());
    expect(s.fake.state.photos).toHaveLength(2);
    expect(s.fake.state.posts).toHaveLength(1);
    expect(callsTo(s.fake, "POST", /\/photos$/)).toHaveLength(2);
  });

  it("deletes the unpublished photos when the feed call fails for good", async () => {
    const s = await setup();
    const t = target(s, PAGE, { text: "Refused", media: [image(), image(), image()] });
    s.fake.failNext({
      method: "POST",
      path: /\/feed$/,
      error: { code: 100, message: "(#100) Invalid parameter" },
    });
    const error = await rejection(s.facebook.publish(t.attempt()));
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "invalid", platformCode: "100" });
    expect(s.fake.state.photos).toHaveLength(3);
    expect(live(s.fake.state.photos)).toEqual([]);
    expect(s.fake.state.posts).toEqual([]);
    expect(t.state.progress).toEqual({});
  });

  it("publishes a video by URL with its description; the video id is the post's handle", async () => {
    const s = await setup();
    const clip = video();
    const published = await s.facebook.publish(
      target(s, PAGE, { text: "Kneading", media: [clip] }).attempt(),
    );
    expect(s.fake.state.videos).toEqual([
      expect.objectContaining({ id: published.platformPostId, fileUrl: clip.url, description: "Kneading" }),
    ]);
    expect(s.fake.state.posts).toHaveLength(1);
    expect(published.url).toBe(`https://www.facebook.com/${PAGE}/videos/${published.platformPostId}/`);
    expect(callsTo(s.fake, "POST", /\/videos$/)).toHaveLength(1);
  });

  it("adds the first comment as the page", async () => {
    const s = await setup();
    const published = await s.facebook.publish(
      target(s, PAGE, { text: "Open today", firstComment: "Until 6 pm" }).attempt(),
    );
    expect(s.fake.state.comments).toEqual([
      expect.objectContaining({
        objectId: published.platformPostId,
        platform: "facebook",
        message: "Until 6 pm",
      }),
    ]);
  });

  it("a first comment that fails still returns the published post, with a warning", async () => {
    const s = await setup({ permissions: PERMISSIONS.filter((p) => p !== "pages_manage_engagement") });
    const published = await s.facebook.publish(
      target(s, PAGE, { text: "Open", firstComment: "Come by" }).attempt(),
    );
    expect(s.fake.state.posts).toHaveLength(1);
    expect(published.platformPostId).toBe(s.fake.state.posts[0]?.id);
    expect(s.fake.state.comments).toEqual([]);
    const warning = s.logs
      .lines()
      .find((line) => line.msg === "the post is published but its first comment failed");
    expect(warning).toBeDefined();
  });

  it("after a create whose answer was lost, findPublished finds the post and nothing is published twice", async () => {
    const s = await setup();
    const t = target(s, PAGE, { text: "Lost answer" });
    s.fake.failNext({ method: "POST", path: /\/feed$/, timeoutAfterHandling: true });
    const error = await rejection(s.facebook.publish(t.attempt()));
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ sent: true });
    expect(s.fake.state.posts).toHaveLength(1);

    const found = await s.facebook.findPublished?.(t.attempt());
    const [post] = s.fake.state.posts;
    expect(found).toEqual({ platformPostId: post?.id, url: expect.stringContaining(`/${PAGE}/posts/`) });
    expect(s.fake.state.posts).toHaveLength(1);
  });

  it("findPublished finds nothing when the lost request never arrived, and publishing then makes one post", async () => {
    const s = await setup();
    await s.facebook.publish(target(s, PAGE, { text: "Another post" }).attempt());
    const t = target(s, PAGE, { text: "Never arrived" });
    s.fake.failNext({ method: "POST", path: /\/feed$/, dropBeforeHandling: true });
    expect(await rejection(s.facebook.publish(t.attempt()))).toBeInstanceOf(TransportError);
    expect(await s.facebook.findPublished?.(t.attempt())).toBeNull();
    await s.facebook.publish(t.attempt());
    expect(s.fake.state.posts.map((p) => p.message)).toEqual(["Another post", "Never arrived"]);
  });

  it("reconciles a multi-photo post by the photos it checkpointed, and a video by kind and text", async () => {
    const s = await setup();
    const album = target(s, PAGE, { text: "Same words", media: [image(), image()] });
    s.fake.failNext({ method: "POST", path: /\/feed$/, timeoutAfterHandling: true });
    await rejection(s.facebook.publish(album.attempt()));
    const clip = target(s, PAGE, { text: "Same words", media: [video()] });
    s.fake.failNext({ method: "POST", path: /\/videos$/, timeoutAfterHandling: true });
    await rejection(s.facebook.publish(clip.attempt()));

    const albumPost = s.fake.state.posts.find((p) => p.attachedMedia.length === 2);
    const videoPost = s.fake.state.posts.find((p) => p.id === s.fake?.state.videos[0]?.postId);
    expect((await s.facebook.findPublished?.(album.attempt()))?.platformPostId).toBe(albumPost?.id);
    expect((await s.facebook.findPublished?.(clip.attempt()))?.platformPostId).toBe(videoPost?.id);
    // The same text as a plain post was never published.
    expect(await s.facebook.findPublished?.(target(s, PAGE, { text: "Same words" }).attempt())).toBeNull();
  });

  it("findPublished looks only at posts since the first attempt, less a clock margin, and follows paging", async () => {
    const s = await setup();
    await s.facebook.publish(target(s, PAGE, { text: "Old news" }).attempt());
    clock += 2 * HOUR;
    for (let i = 0; i < 120; i++) await s.facebook.publish(target(s, PAGE, { text: `Post ${i}` }).attempt());
    expect(await s.facebook.findPublished?.(target(s, PAGE, { text: "Old news" }).attempt())).toBeNull();
    const early = target(s, PAGE, { text: "Post 0" });
    expect((await s.facebook.findPublished?.(early.attempt()))?.platformPostId).toBe(
      s.fake.state.posts[1]?.id,
    );
    const listing = callsTo(s.fake, "GET", /\/posts$/).at(-1);
    expect(Number(listing?.query.since)).toBe(Math.floor(clock / 1000) - 300);
    expect(callsTo(s.fake, "GET", /\/posts$/).length).toBeGreaterThanOrEqual(3);
  });

  it("deletes a post", async () => {
    const s = await setup();
    const published = await s.facebook.publish(target(s, PAGE, { text: "Oops" }).attempt());
    const account = s.accounts.find((a) => a.platformAccountId === PAGE);
    await s.facebook.deletePost?.({
      account: { platformAccountId: PAGE, metadata: {} },
      tokens: account?.credential.tokens ?? target(s, PAGE, {}).attempt().tokens,
      platformPostId: published.platformPostId,
      log: s.logs.log,
    });
    expect(s.fake.state.posts).toEqual([
      expect.objectContaining({ id: published.platformPostId, deleted: true }),
    ]);
  });

  it("refuses another page's token and a user token, and nothing is published", async () => {
    const s = await setup();
    const other = s.accounts.find((a) => a.platformAccountId === OTHER_PAGE);
    if (!other) throw new Error("no second page");
    const request = {
      ...target(s, PAGE, { text: "Wrong token" }).attempt(),
      tokens: other.credential.tokens,
    };
    expect(await rejection(s.facebook.publish(request))).toMatchObject({
      kind: "invalid",
      platformCode: "100",
      platformSubcode: "33",
    });
    expect(s.fake.state.posts).toEqual([]);
  });
});

describe("Instagram publishing", () => {
  it("publishes a photo: one container, polled with backoff until FINISHED, then media_publish", async () => {
    const s = await setup({ containerReadyAfterPolls: 3 });
    const photo = image();
    const t = target(s, IG, { text: "Croissants #bakery", media: [photo] });
    const published = await s.instagram.publish(t.attempt());
    const [container] = s.fake.state.containers;
    expect(s.fake.state.containers).toHaveLength(1);
    expect(container).toMatchObject({
      mediaType: "IMAGE",
      imageUrl: photo.url,
      caption: "Croissants #bakery",
    });
    expect(s.fake.state.media).toEqual([
      expect.objectContaining({
        id: published.platformPostId,
        containerId: container?.id,
        productType: "FEED",
      }),
    ]);
    expect(published.url).toMatch(/^https:\/\/www\.instagram\.com\/p\/[\w-]+\/$/);
    // Three status reads, waiting 1 s then 2 s between them; the container was saved before any.
    expect(
      callsTo(s.fake, "GET", new RegExp(`/${container?.id}$`)).filter((c) =>
        c.query.fields?.includes("status_code"),
      ),
    ).toHaveLength(3);
    expect(s.sleeps).toEqual([1000, 2000]);
    expect(t.state.checkpoints[0]).toEqual({
      container: { id: container?.id, createdAt: expect.any(Number) },
    });
    expect(callsTo(s.fake, "POST", /\/media_publish$/)).toHaveLength(1);
  });

  it("backs off by doubling up to the cap", async () => {
    const s = await setup({ containerReadyAfterPolls: 7 });
    await s.instagram.publish(target(s, IG, { text: "Slow", media: [video()], format: "reel" }).attempt());
    expect(s.sleeps).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it("publishes a carousel of images and a video: items first, each finished, then the carousel", async () => {
    const s = await setup({ containerReadyAfterPolls: 1 });
    const media = [image(), video(), image()];
    const t = target(s, IG, { text: "Our week", media });
    const published = await s.instagram.publish(t.attempt());
    const { containers } = s.fake.state;
    expect(containers.map((c) => [c.mediaType, c.isCarouselItem])).toEqual([
      ["IMAGE", true],
      ["VIDEO", true],
      ["IMAGE", true],
      ["CAROUSEL", false],
    ]);
    expect(containers[1]?.videoUrl).toBe(media[1]?.url);
    expect(containers[3]?.children).toEqual(containers.slice(0, 3).map((c) => c.id));
    expect(containers[3]?.caption).toBe("Our week");
    expect(containers.slice(0, 3).every((c) => c.caption === null)).toBe(true);
    expect(s.fake.state.media).toEqual([
      expect.objectContaining({ id: published.platformPostId, mediaType: "CAROUSEL_ALBUM" }),
    ]);
  });

  it("publishes a reel (and a feed video) with media_type REELS", async () => {
    const s = await setup({ containerReadyAfterPolls: 1 });
    const reel = await s.instagram.publish(
      target(s, IG, { text: "Reel", media: [video()], format: "reel" }).attempt(),
    );
    await s.instagram.publish(
      target(s, IG, { text: "Feed video", media: [video()], format: "post" }).attempt(),
    );
    expect(s.fake.state.containers.map((c) => c.mediaType)).toEqual(["REELS", "REELS"]);
    expect(s.fake.state.media.map((m) => m.productType)).toEqual(["REELS", "REELS"]);
    expect(reel.url).toMatch(/^https:\/\/www\.instagram\.com\/reel\//);
  });

  it("publishes a story without a caption, and skips its first comment", async () => {
    const s = await setup({ containerReadyAfterPolls: 1 });
    const published = await s.instagram.publish(
      target(s, IG, { text: "ignored", media: [image()], format: "story", firstComment: "hi" }).attempt(),
    );
    expect(s.fake.state.containers).toEqual([
      expect.objectContaining({ mediaType: "STORIES", caption: null }),
    ]);
    expect(s.fake.state.media).toEqual([
      expect.objectContaining({ id: published.platformPostId, productType: "STORY" }),
    ]);
    expect(s.fake.state.comments).toEqual([]);
  });

  it("adds the first comment to the published media", async () => {
    const s = await setup({ containerReadyAfterPolls: 1 });
    const published = await s.instagram.publish(
      target(s, IG, { text: "Bread", media: [image()], firstComment: "#sourdough" }).attempt(),
    );
    expect(s.fake.state.comments).toEqual([
      expect.objectContaining({
        objectId: published.platformPostId,
        platform: "instagram",
        message: "#sourdough",
      }),
    ]);
  });

  it("gives up at the deadline with the container saved; the next attempt goes on polling it", async () => {
    const s = await setup({ containerReadyAfterPolls: 8, instagram: { pollDeadlineMs: 10_000 } });
    const t = target(s, IG, { text: "Big video", media: [video()], format: "reel" });
    const error = await rejection(s.instagram.publish(t.attempt()));
    expect(error).toMatchObject({ kind: "unavailable" });
    expect(s.fake.state.containers).toHaveLength(1);
    expect(s.fake.state.media).toHaveLength(0);
    await s.instagram.publish(t.attempt());
    expect(s.fake.state.containers).toHaveLength(1);
    expect(s.fake.state.media).toHaveLength(1);
  });

  it("resumes after a crash between container and media_publish without a second container", async () => {
    const s = await setup({ containerReadyAfterPolls: 1 });
    const t = target(s, IG, { text: "Resume me", media: [image()] });
    s.fake.failNext({ method: "POST", path: /\/media_publish$/, dropBeforeHandling: true });
    expect(await rejection(s.instagram.publish(t.attempt()))).toBeInstanceOf(TransportError);
    expect(s.fake.state.media).toHaveLength(0);
    const published = await s.instagram.publish(t.attempt());
    expect(s.fake.state.containers).toHaveLength(1);
    expect(s.fake.state.media).toEqual([expect.objectContaining({ id: published.platformPostId })]);
  });

  it("when media_publish went through but its answer was lost, the retry returns that media", async () => {
    const s = await setup({ containerReadyAfterPolls: 1 });
    await s.instagram.publish(target(s, IG, { text: "Earlier post", media: [image()] }).attempt());
    const t = target(s, IG, { text: "Published once", media: [image()] });
    s.fake.failNext({ method: "POST", path: /\/media_publish$/, timeoutAfterHandling: true });
    expect(await rejection(s.instagram.publish(t.attempt()))).toBeInstanceOf(TransportError);
    expect(s.fake.state.media).toHaveLength(2);

    const published = await s.instagram.publish(t.attempt());
    const mine = s.fake.state.media.find((m) => m.caption === "Published once");
    expect(published.platformPostId).toBe(mine?.id);
    expect(published.url).toBe(mine?.permalink);
    expect(s.fake.state.media).toHaveLength(2);
    expect(s.fake.state.containers).toHaveLength(2);
    expect(callsTo(s.fake, "POST", /\/media_publish$/)).toHaveLength(2);
  });

  it("a container that expired (24 hours) is replaced by a new one", async () => {
    const s = await setup({ containerReadyAfterPolls: 1 });
    const t = target(s, IG, { text: "Tomorrow", media: [image()] });
    s.fake.failNext({ method: "POST", path: /\/media_publish$/, error: { code: 2 } });
    expect(await rejection(s.instagram.publish(t.attempt()))).toMatchObject({ kind: "unavailable" });
    clock += 25 * HOUR;
    const published = await s.instagram.publish(t.attempt());
    expect(s.fake.state.containers.map((c) => c.status)).toEqual(["EXPIRED", "PUBLISHED"]);
    expect(s.fake.state.media).toEqual([
      expect.objectContaining({ id: published.platformPostId, containerId: s.fake.state.containers[1]?.id }),
    ]);
  });

  it("a container in ERROR (media Meta cannot fetch) fails as invalid and is forgotten", async () => {
    const s = await setup({ containerReadyAfterPolls: 1 });
    s.fake.rejectMediaUrl(/broken/);
    const t = target(s, IG, { text: "Broken", media: [image("https://cdn.example/broken.jpg")] });
    expect(await rejection(s.instagram.publish(t.attempt()))).toMatchObject({
      kind: "invalid",
      platformSubcode: "2207052",
    });
    expect(s.fake.state.media).toEqual([]);
    expect(t.state.progress).toEqual({});
  });

  it("refuses another page's token: the IG account is reachable only through its own page", async () => {
    const s = await setup();
    const other = s.accounts.find((a) => a.platformAccountId === OTHER_PAGE);
    if (!other) throw new Error("no second page");
    const request = {
      ...target(s, IG, { text: "x", media: [image()] }).attempt(),
      tokens: other.credential.tokens,
    };
    expect(await rejection(s.instagram.publish(request))).toMatchObject({
      kind: "invalid",
      platformSubcode: "33",
    });
    expect(s.fake.state.containers).toEqual([]);
  });
});

describe("Meta errors while publishing", () => {
  const cases: Array<{ code: number; subcode?: number; isTransient?: boolean; kind: string }> = [
    { code: 190, subcode: 463, kind: "auth" },
    { code: 190, subcode: 460, kind: "auth" },
    { code: 102, kind: "auth" },
    { code: 10, kind: "permission" },
    { code: 200, kind: "permission" },
    { code: 283, kind: "permission" },
    { code: 4, kind: "rate_limited" },
    { code: 17, kind: "rate_limited" },
    { code: 32, kind: "rate_limited" },
    { code: 613, kind: "rate_limited" },
    { code: 80001, kind: "rate_limited" },
    { code: 9, subcode: 2207042, kind: "rate_limited" },
    { code: 1, kind: "unavailable" },
    { code: 2, kind: "unavailable" },
    { code: 1609005, isTransient: true, kind: "unavailable" },
    { code: 368, subcode: 1390008, kind: "blocked" },
    { code: 100, subcode: 33, kind: "invalid" },
    { code: 506, kind: "invalid" },
  ];

  it.each(cases)(
    "Graph code $code/$subcode is $kind, code and subcode kept",
    async ({ code, subcode, isTransient, kind }) => {
      const s = await setup();
      s.fake.failNext({ method: "POST", path: /\/feed$/, error: { code, subcode, isTransient } });
      const error = await rejection(s.facebook.publish(target(s, PAGE, { text: "x" }).attempt()));
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({
        platform: "facebook",
        kind,
        platformCode: String(code),
        platformSubcode: subcode === undefined ? null : String(subcode),
      });
      expect(s.fake.state.posts).toEqual([]);
    },
  );

  it("a throttled page says when access returns (X-Business-Use-Case-Usage) as retryAfterSeconds", async () => {
    const s = await setup();
    s.fake.failNext({
      method: "POST",
      path: /\/feed$/,
      error: { code: 32, estimatedTimeToRegainAccess: 12 },
    });
    const error = await rejection(s.facebook.publish(target(s, PAGE, { text: "x" }).attempt()));
    expect(error).toMatchObject({ kind: "rate_limited", retryAfterSeconds: 720 });
  });

  it("a throttled Instagram account does too (80002), on the container call", async () => {
    const s = await setup();
    s.fake.failNext({
      method: "POST",
      path: /\/media$/,
      error: { code: 80002, estimatedTimeToRegainAccess: 3 },
    });
    const error = await rejection(
      s.instagram.publish(target(s, IG, { text: "x", media: [image()] }).attempt()),
    );
    expect(error).toMatchObject({ kind: "rate_limited", platformCode: "80002", retryAfterSeconds: 180 });
    expect(s.fake.state.containers).toEqual([]);
  });

  it("an application limit without an estimate leaves retryAfterSeconds to the worker's backoff", async () => {
    const s = await setup();
    s.fake.failNext({ method: "POST", path: /\/feed$/, error: { code: 4 } });
    const error = await rejection(s.facebook.publish(target(s, PAGE, { text: "x" }).attempt()));
    expect(error).toMatchObject({ kind: "rate_limited", retryAfterSeconds: null });
  });

  it("an HTML error page from Meta's front end is an outage", async () => {
    const s = await setup();
    s.fake.failNext({ method: "POST", path: /\/feed$/, htmlError: true });
    const error = await rejection(s.facebook.publish(target(s, PAGE, { text: "x" }).attempt()));
    expect(error).toMatchObject({ kind: "unavailable", status: 500 });
  });
});
