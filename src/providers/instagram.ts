/**
 * Instagram professional accounts, through Facebook Login (meta.ts). An Instagram account acts
 * with the token of the Facebook page it is linked to, so it shares that page's credential.
 *
 * Publishing is Meta's container flow
 * (https://developers.facebook.com/docs/instagram-platform/content-publishing): create a container
 * (`POST /{ig-user-id}/media`), wait until its `status_code` is FINISHED, publish it
 * (`POST /{ig-user-id}/media_publish`). Every container id is checkpointed before the flow goes on,
 * so a retry after a crash or an ambiguous failure reuses it; a container publishes at most once, and
 * its status says whether an earlier attempt already published it.
 */

import { z } from "zod";
import type { GraphClient } from "./meta.js";
import {
  type Connector,
  type MediaLimits,
  type PostFormat,
  type ProviderAdapter,
  ProviderError,
  type Published,
  type PublishMedia,
  type PublishRequest,
  type Tokens,
} from "./provider.js";

const MB = 1024 * 1024;
const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;

// Limits from the IG User Media reference
// (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media).
/** Feed images (and carousel images): "Format: JPEG", 8 MB, 4:5 to 1.91:1, 320 to 1440 wide. */
const FEED_IMAGE: MediaLimits = {
  mimeTypes: ["image/jpeg"],
  maxBytes: 8 * MB,
  // Deviation: Meta scales a narrower or wider image to 320 or 1440 itself; Herald still refuses
  // them, so what is published is what the person saw.
  minWidth: 320,
  maxWidth: 1440,
  aspectRatio: { min: 4 / 5, max: 1.91 },
};
/** Reels (and, since VIDEO was retired for the feed, every single video): MOV or MP4, H.264 or HEVC,
 * 3 s to 15 min, 300 MB, at most 1920 wide, aspect ratio 0.01:1 to 10:1 (9:16 recommended). */
const REEL_VIDEO: MediaLimits = {
  mimeTypes: ["video/mp4", "video/quicktime"],
  videoCodecs: ["h264", "hevc"],
  maxBytes: 300 * MB,
  maxWidth: 1920,
  aspectRatio: { min: 0.01, max: 10 },
  minDurationMs: 3 * SECOND_MS,
  maxDurationMs: 15 * MINUTE_MS,
};
/** Story images: JPEG, 8 MB; Meta recommends 9:16 and states no ratio bound for stories. */
const STORY_IMAGE: MediaLimits = { mimeTypes: ["image/jpeg"], maxBytes: 8 * MB };
/** Story videos: MOV or MP4, H.264 or HEVC, 3 to 60 s, 100 MB, 0.1:1 to 10:1. */
const STORY_VIDEO: MediaLimits = {
  mimeTypes: ["video/mp4", "video/quicktime"],
  videoCodecs: ["h264", "hevc"],
  maxBytes: 100 * MB,
  aspectRatio: { min: 0.1, max: 10 },
  minDurationMs: 3 * SECOND_MS,
  maxDurationMs: 60 * SECOND_MS,
};

/**
 * The limits per format. `Capabilities` holds one image and one video limit per adapter, so it
 * declares the feed/reel ones; stories differ (any image ratio, shorter videos), and validation can
 * read this table once the contract carries per-format limits.
 */
export const INSTAGRAM_MEDIA_LIMITS: Record<PostFormat, { image?: MediaLimits; video?: MediaLimits }> = {
  post: { image: FEED_IMAGE, video: REEL_VIDEO },
  reel: { video: REEL_VIDEO },
  story: { image: STORY_IMAGE, video: STORY_VIDEO },
};

export type InstagramOptions = {
  /** Waits between container status reads: the first, then doubling up to the cap. */
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** How long one publish call waits for processing before it gives up (and a retry resumes). */
  pollDeadlineMs?: number;
  /** Injectable for tests: no real sleeping. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
};

// Meta advises reading a container's status "once per minute, for no more than 5 minutes"; images
// are ready within seconds, so Herald starts at one second and backs off to 30.
// https://developers.facebook.com/docs/instagram-platform/content-publishing#troubleshooting
const DEFAULTS = { pollInitialMs: SECOND_MS, pollMaxMs: 30 * SECOND_MS, pollDeadlineMs: 5 * MINUTE_MS };

/** How far before the container's creation a published media's timestamp may be (clock skew). */
const CLOCK_SKEW_MS = 5 * MINUTE_MS;
/** Looking for a media an earlier attempt published: at most this many pages of 50. */
const LOOKUP_PAGES = 4;

const Created = z.object({ id: z.string().min(1) });
const ContainerStatus = z.object({
  status_code: z.enum(["EXPIRED", "ERROR", "FINISHED", "IN_PROGRESS", "PUBLISHED"]),
  status: z.string().optional(),
});
type Status = z.infer<typeof ContainerStatus>["status_code"];
const MediaPage = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      caption: z.string().optional(),
      timestamp: z.string().optional(),
      permalink: z.string().optional(),
    }),
  ),
  paging: z.object({ next: z.string().optional() }).optional(),
});
const MediaPermalink = z.object({ permalink: z.string().optional() });

/** What `request.progress` holds for Instagram. */
const Progress = z
  .object({
    /** The container to publish, and when it was made (ms). */
    container: z.object({ id: z.string(), createdAt: z.number() }).optional(),
    /** Carousel items by Herald media id. */
    children: z.record(z.string(), z.object({ id: z.string(), createdAt: z.number() })).optional(),
    /** The published media, once media_publish answered, and whether its first comment was made. */
    mediaId: z.string().optional(),
    commented: z.boolean().optional(),
  })
  .catch({});
type Progress = z.infer<typeof Progress>;

function parse<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new ProviderError("instagram", "unexpected", `Instagram answered ${what} in an unexpected shape.`);
  return parsed.data;
}

export function instagramProvider(
  graph: GraphClient,
  connector: Connector,
  options: InstagramOptions = {},
): ProviderAdapter {
  const { pollInitialMs, pollMaxMs, pollDeadlineMs } = { ...DEFAULTS, ...options };
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? (() => Date.now());

  /** One publish call: its token, its progress as saved so far, and the processing deadline. */
  type Flow = {
    request: PublishRequest;
    token: string;
    igUserId: string;
    progress: Progress;
    deadline: number;
  };

  async function save(flow: Flow, change: Partial<Progress>): Promise<void> {
    flow.progress = { ...flow.progress, ...change };
    await flow.request.checkpoint({ ...flow.request.progress, ...flow.progress });
  }

  async function status(
    flow: Flow,
    containerId: string,
  ): Promise<{ code: Status; detail: string | undefined }> {
    const response = await graph.get("instagram", containerId, flow.token, { fields: "status_code,status" });
    const parsed = parse(ContainerStatus, response.body, "a container status");
    return { code: parsed.status_code, detail: parsed.status };
  }

  function failed(detail: string | undefined): ProviderError {
    // ERROR: Meta could not fetch or process the media (the subcode is in `status`). The same files
    // would fail again; a new attempt (after the media is fixed) makes a new container.
    const subcode = detail?.match(/\b(\d{7})\b/)?.[1] ?? null;
    return new ProviderError(
      "instagram",
      "invalid",
      `Instagram could not process the media: ${detail ?? "ERROR"}.`,
      {
        platformCode: "ERROR",
        platformSubcode: subcode,
      },
    );
  }

  /** Reads the status with backoff until it is no longer IN_PROGRESS, or the deadline passes. */
  async function settle(
    flow: Flow,
    containerId: string,
  ): Promise<{ code: Status; detail: string | undefined }> {
    let wait = pollInitialMs;
    for (;;) {
      const read = await status(flow, containerId);
      if (read.code !== "IN_PROGRESS") return read;
      if (now() + wait > flow.deadline) {
        // The container stays checkpointed: the next attempt goes on polling it.
        throw new ProviderError("instagram", "unavailable", "Instagram is still processing the media.", {
          retryAfterSeconds: Math.ceil(pollMaxMs / SECOND_MS),
        });
      }
      await sleep(wait);
      wait = Math.min(wait * 2, pollMaxMs);
    }
  }

  async function create(
    flow: Flow,
    form: Record<string, string | undefined>,
  ): Promise<{ id: string; createdAt: number }> {
    const createdAt = now();
    const response = await graph.post("instagram", `${flow.igUserId}/media`, flow.token, form);
    return { id: parse(Created, response.body, "a container").id, createdAt };
  }

  function itemForm(
    item: PublishMedia,
    format: PostFormat,
    carouselItem: boolean,
  ): Record<string, string | undefined> {
    if (carouselItem) {
      // Carousel items keep media_type VIDEO; for single videos it was retired (REELS instead).
      return item.kind === "image"
        ? { image_url: item.url, is_carousel_item: "true" }
        : { media_type: "VIDEO", video_url: item.url, is_carousel_item: "true" };
    }
    if (format === "story") {
      return item.kind === "image"
        ? { media_type: "STORIES", image_url: item.url }
        : { media_type: "STORIES", video_url: item.url };
    }
    // "Beginning November 9, 2023, the VIDEO value for media_type will no longer be supported. Use
    // the REELS media type to publish a video to your feed."
    return item.kind === "image" ? { image_url: item.url } : { media_type: "REELS", video_url: item.url };
  }

  /** A FINISHED container for this target: the checkpointed one when it is still usable, else a new one. */
  async function containerFor(flow: Flow): Promise<{ id: string; published: boolean }> {
    const { content } = flow.request;
    const saved = flow.progress.container;
    if (saved) {
      const read = await settle(flow, saved.id);
      if (read.code === "FINISHED") return { id: saved.id, published: false };
      if (read.code === "PUBLISHED") return { id: saved.id, published: true };
      if (read.code === "ERROR") {
        await save(flow, { container: undefined, children: undefined });
        throw failed(read.detail);
      }
      // EXPIRED: not published within 24 hours; start again with new containers.
      flow.request.log.info({ containerId: saved.id }, "the Instagram container expired; making a new one");
      await save(flow, { container: undefined, children: undefined });
    }

    const caption = content.text || undefined;
    let container: { id: string; createdAt: number };
    if (content.media.length > 1) {
      const children: Record<string, { id: string; createdAt: number }> = { ...flow.progress.children };
      for (const item of content.media) {
        if (!children[item.id]) {
          children[item.id] = await create(flow, itemForm(item, content.format, true));
          await save(flow, { children });
        }
      }
      // A carousel is assembled from items that finished processing.
      for (const item of content.media) {
        const child = children[item.id];
        if (!child) continue;
        const read = await settle(flow, child.id);
        if (read.code === "ERROR" || read.code === "EXPIRED") {
          await save(flow, { children: undefined });
          if (read.code === "ERROR") throw failed(read.detail);
          return containerFor(flow);
        }
      }
      const ids = content.media.map((item) => children[item.id]?.id ?? "");
      container = await create(flow, { media_type: "CAROUSEL", children: ids.join(","), caption });
    } else {
      const [item] = content.media;
      if (!item)
        throw new ProviderError("instagram", "invalid", "An Instagram post needs a photo or a video.");
      const format = content.format === "reel" ? "post" : content.format;
      container = await create(flow, {
        ...itemForm(item, format, false),
        caption: format === "story" ? undefined : caption,
      });
    }
    await save(flow, { container });
    const read = await settle(flow, container.id);
    if (read.code === "ERROR") {
      await save(flow, { container: undefined, children: undefined });
      throw failed(read.detail);
    }
    if (read.code !== "FINISHED") {
      throw new ProviderError("instagram", "unavailable", `Instagram's new container is ${read.code}.`);
    }
    return { id: container.id, published: false };
  }

  /**
   * The media an earlier attempt published from this container. Meta's container status says
   * PUBLISHED but not which media; the account's media (stories have their own edge) are matched on
   * the caption and a timestamp no earlier than the container.
   * https://developers.facebook.com/docs/instagram-platform/content-publishing#troubleshooting
   */
  async function publishedMedia(flow: Flow): Promise<string> {
    const { content } = flow.request;
    const story = content.format === "story";
    const createdAt = flow.progress.container?.createdAt ?? flow.request.since.getTime();
    let response = await graph.get(
      "instagram",
      `${flow.igUserId}/${story ? "stories" : "media"}`,
      flow.token,
      {
        fields: "id,caption,timestamp,permalink",
        limit: "50",
      },
    );
    for (let round = 0; round < LOOKUP_PAGES; round++) {
      const listed = parse(MediaPage, response.body, "the account's media");
      for (const item of listed.data) {
        const at = item.timestamp ? Date.parse(item.timestamp) : Number.NaN;
        if (!Number.isNaN(at) && at < createdAt - CLOCK_SKEW_MS) {
          // Newest first: everything further is older than the container.
          throw notFound();
        }
        if (story || (item.caption ?? "") === content.text) return item.id;
      }
      const next = listed.paging?.next;
      if (!next) break;
      response = await graph.next("instagram", next);
    }
    throw notFound();
  }

  function notFound(): ProviderError {
    // Publishing again would make a duplicate; a person has to look.
    return new ProviderError(
      "instagram",
      "unexpected",
      "Instagram says this post was published, but Herald could not find it on the account.",
    );
  }

  async function permalink(mediaId: string, token: string): Promise<string | null> {
    const response = await graph.get("instagram", mediaId, token, { fields: "permalink" });
    return parse(MediaPermalink, response.body, "a permalink").permalink ?? null;
  }

  return {
    platform: "instagram",
    connector,
    capabilities: {
      contentTypes: ["image", "carousel", "video", "reel", "story"],
      formats: ["post", "reel", "story"],
      // Captions: 2,200 characters, 30 hashtags, 20 @mentions; every post needs media
      // (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media).
      text: { maxLength: 2_200, maxHashtags: 30, maxMentions: 20 },
      media: {
        required: true,
        maxCount: 10,
        // A carousel holds 2 to 10 photos or videos, which may be mixed (same reference, `children`).
        carousel: { min: 2, max: 10 },
        // Feed and reel limits; stories differ (INSTAGRAM_MEDIA_LIMITS above).
        image: FEED_IMAGE,
        video: REEL_VIDEO,
        mixed: true,
        byFormat: INSTAGRAM_MEDIA_LIMITS,
      },
      link: false,
      firstComment: true,
    },
    // The media container is created once per target and reused: its status says whether it was
    // published, and Instagram publishes a container at most once.
    idempotency: "native_key",
    refreshWindowSeconds: null,
    // As for Facebook: revocation is per person and app, never per account.
    revocable: false,
    refresh: (tokens: Tokens) => graph.tokensFor(tokens.accessToken),
    async revoke() {},

    async publish(request: PublishRequest): Promise<Published> {
      const flow: Flow = {
        request,
        token: request.tokens.accessToken,
        igUserId: request.account.platformAccountId,
        progress: Progress.parse(request.progress),
        deadline: now() + pollDeadlineMs,
      };
      let mediaId = flow.progress.mediaId;
      if (!mediaId) {
        const container = await containerFor(flow);
        if (container.published) {
          mediaId = await publishedMedia(flow);
        } else {
          // https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish
          const response = await graph.post("instagram", `${flow.igUserId}/media_publish`, flow.token, {
            creation_id: container.id,
          });
          mediaId = parse(Created, response.body, "a published media").id;
        }
        await save(flow, { mediaId });
      }
      // The media exists from here on: nothing below may throw it away.
      let url: string | null = null;
      try {
        url = await permalink(mediaId, flow.token);
      } catch (error) {
        request.log.warn(
          { err: error, platformPostId: mediaId },
          "published, but the permalink could not be read",
        );
      }
      const comment = request.content.firstComment;
      if (comment && request.content.format === "story") {
        request.log.warn(
          { platformPostId: mediaId },
          "stories take no comments; the first comment was skipped",
        );
      } else if (comment && !flow.progress.commented) {
        try {
          // https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments
          await graph.post("instagram", `${mediaId}/comments`, flow.token, { message: comment });
          await save(flow, { commented: true });
        } catch (error) {
          request.log.warn(
            { err: error, platformPostId: mediaId },
            "the post is published but its first comment failed",
          );
        }
      }
      return { platformPostId: mediaId, url };
    },
    // No deletePost: the Instagram Graph API offers no way to delete media (IG Media: "Deleting: this
    // operation is not supported").
  };
}
