/**
 * Facebook Pages. Connected through Facebook Login (meta.ts); publishes with the page's token.
 *
 * Publishing (https://developers.facebook.com/docs/pages-api/posts): text and links go to
 * `/{page-id}/feed`, one photo to `/{page-id}/photos`, several photos are uploaded unpublished and
 * attached to one feed post (`attached_media`), a video goes to `/{page-id}/videos`. Facebook has no
 * idempotency key, so after an ambiguous failure Herald looks the post up (`findPublished`) before
 * publishing again.
 */

import { z } from "zod";
import type { Logger } from "../observability/logger.js";
import type { GraphClient } from "./meta.js";
import {
  type Connector,
  type ProviderAdapter,
  ProviderError,
  type Published,
  type PublishMedia,
  type PublishRequest,
  type Tokens,
} from "./provider.js";

const MB = 1024 * 1024;
const MINUTE_MS = 60_000;

/** How far back of `since` reconciliation looks: clocks of Herald and Meta may disagree a little. */
const CLOCK_SKEW_SECONDS = 300;
/** Reconciliation reads at most this many pages of 100 posts (a page rarely posts 1,000 times a day). */
const RECONCILE_PAGES = 10;
/** A page video by URL: Meta fetches the file before it answers, which can take a while. */
const VIDEO_TIMEOUT_MS = 120_000;

const Created = z.object({ id: z.string().min(1) });
const PhotoCreated = z.object({ id: z.string().min(1), post_id: z.string().min(1).optional() });
const Permalink = z.object({ permalink_url: z.string().optional() });

const Attachment = z.object({
  media_type: z.string().optional(),
  url: z.string().optional(),
  target: z.object({ id: z.string() }).optional(),
  subattachments: z
    .object({ data: z.array(z.object({ target: z.object({ id: z.string() }).optional() })) })
    .optional(),
});
const PostsPage = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      message: z.string().optional(),
      created_time: z.string().optional(),
      permalink_url: z.string().optional(),
      attachments: z.object({ data: z.array(Attachment) }).optional(),
    }),
  ),
  paging: z.object({ next: z.string().optional() }).optional(),
});
type ListedPost = z.infer<typeof PostsPage>["data"][number];

/** What `request.progress` holds for Facebook: the unpublished photos of a multi-photo post, by media id. */
const Progress = z.object({ facebookPhotos: z.record(z.string(), z.string()).optional() }).catch({});

type Kind = "text" | "link" | "photo" | "album" | "video";

function unexpected(what: string): ProviderError {
  return new ProviderError("facebook", "unexpected", `Facebook answered ${what} in an unexpected shape.`);
}

function parse<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw unexpected(what);
  return parsed.data;
}

/** Permalinks of videos come back relative to www.facebook.com. */
function absolute(url: string | undefined): string | null {
  if (!url) return null;
  return url.startsWith("/") ? `https://www.facebook.com${url}` : url;
}

/** Failures after which the platform will refuse the same request again: clean up what was made. */
function isPermanent(error: unknown): boolean {
  return error instanceof ProviderError && ["invalid", "permission", "blocked"].includes(error.kind);
}

function kindOf(media: PublishMedia[], link: string | null): Kind {
  if (media.some((item) => item.kind === "video")) return "video";
  if (media.length > 1) return "album";
  if (media.length === 1) return "photo";
  return link ? "link" : "text";
}

export function facebookProvider(graph: GraphClient, connector: Connector): ProviderAdapter {
  const post = (path: string, token: string, form: Record<string, string | undefined>, timeoutMs?: number) =>
    graph.post("facebook", path, token, form, { timeoutMs });

  async function permalink(id: string, token: string): Promise<string | null> {
    const response = await graph.get("facebook", id, token, { fields: "permalink_url" });
    return absolute(parse(Permalink, response.body, "a permalink").permalink_url);
  }

  /** The photos of a multi-photo post, uploaded unpublished and checkpointed one by one. */
  async function uploadPhotos(request: PublishRequest, images: PublishMedia[]): Promise<string[]> {
    const pageId = request.account.platformAccountId;
    const token = request.tokens.accessToken;
    const uploaded: Record<string, string> = { ...Progress.parse(request.progress).facebookPhotos };
    for (const image of images) {
      if (uploaded[image.id]) continue;
      // https://developers.facebook.com/docs/pages-api/posts#publish-a-multi-photo-post
      const response = await post(`${pageId}/photos`, token, { url: image.url, published: "false" });
      uploaded[image.id] = parse(Created, response.body, "a photo upload").id;
      // A retry reuses these instead of uploading (and leaving behind) a second set.
      await request.checkpoint({ ...request.progress, facebookPhotos: uploaded });
    }
    return images.map((image) => uploaded[image.id] ?? "");
  }

  /** Deletes unpublished photos that will never be attached; a failure here only leaves them hidden. */
  async function discardPhotos(request: PublishRequest, photoIds: string[]): Promise<void> {
    for (const photoId of photoIds) {
      try {
        await graph.delete("facebook", photoId, request.tokens.accessToken);
      } catch (error) {
        request.log.warn({ err: error, photoId }, "could not delete an unpublished Facebook photo");
      }
    }
    const { facebookPhotos: _, ...rest } = request.progress;
    await request.checkpoint(rest);
  }

  async function publishAlbum(request: PublishRequest, images: PublishMedia[]): Promise<string> {
    const pageId = request.account.platformAccountId;
    let photoIds: string[] = [];
    try {
      photoIds = await uploadPhotos(request, images);
      const form: Record<string, string> = { message: request.content.text };
      photoIds.forEach((id, index) => {
        form[`attached_media[${index}]`] = JSON.stringify({ media_fbid: id });
      });
      const response = await post(`${pageId}/feed`, request.tokens.accessToken, form);
      return parse(Created, response.body, "a post").id;
    } catch (error) {
      if (isPermanent(error)) {
        const known = Object.values(Progress.parse(request.progress).facebookPhotos ?? {});
        await discardPhotos(request, [...new Set([...photoIds.filter(Boolean), ...known])]);
      }
      throw error;
    }
  }

  async function publishPost(request: PublishRequest): Promise<string> {
    const { content } = request;
    const pageId = request.account.platformAccountId;
    const token = request.tokens.accessToken;
    const videos = content.media.filter((item) => item.kind === "video");
    const kind = kindOf(content.media, content.link);
    if (kind === "video") {
      const [video] = videos;
      if (!video || content.media.length > 1)
        throw new ProviderError("facebook", "invalid", "A Facebook post holds one video, alone.");
      // https://developers.facebook.com/docs/video-api/guides/publishing: the real API serves video
      // uploads from graph-video.facebook.com. Herald uses the configured graph URL for every call
      // (graph.facebook.com accepts file_url uploads too); a deployment that needs the video host
      // points HERALD_FACEBOOK_GRAPH_URL at it.
      const response = await post(
        `${pageId}/videos`,
        token,
        { file_url: video.url, description: content.text || undefined },
        VIDEO_TIMEOUT_MS,
      );
      // The video id is the post's handle: permalink, comments and deletion all work on it.
      return parse(Created, response.body, "a video upload").id;
    }
    if (kind === "album") return publishAlbum(request, content.media);
    if (kind === "photo") {
      const [photo] = content.media;
      // https://developers.facebook.com/docs/graph-api/reference/page/photos#upload
      const response = await post(`${pageId}/photos`, token, {
        url: photo?.url,
        caption: content.text || undefined,
      });
      const created = parse(PhotoCreated, response.body, "a photo");
      return created.post_id ?? created.id;
    }
    // https://developers.facebook.com/docs/pages-api/posts#publish-posts
    const response = await post(`${pageId}/feed`, token, {
      message: content.text || undefined,
      link: content.link ?? undefined,
    });
    return parse(Created, response.body, "a post").id;
  }

  /** The first comment, as the page. The post exists already: a failure is a warning, never a throw. */
  async function firstComment(postId: string, message: string, token: string, log: Logger): Promise<void> {
    try {
      // https://developers.facebook.com/docs/graph-api/reference/object/comments#publish
      await post(`${postId}/comments`, token, { message });
    } catch (error) {
      log.warn({ err: error, platformPostId: postId }, "the post is published but its first comment failed");
    }
  }

  /** The kind of a listed post, read from its attachments. */
  function listedKind(item: ListedPost): Kind {
    const attachment = item.attachments?.data[0];
    const type = attachment?.media_type;
    if (type === "video") return "video";
    if (type === "album") return "album";
    if (type === "photo") return "photo";
    if (type === "link" || type === "share") return "link";
    return "text";
  }

  function photoIdsOf(item: ListedPost): string[] {
    return (item.attachments?.data ?? []).flatMap((attachment) => [
      ...(attachment.target ? [attachment.target.id] : []),
      ...(attachment.subattachments?.data ?? []).flatMap((sub) => (sub.target ? [sub.target.id] : [])),
    ]);
  }

  return {
    platform: "facebook",
    connector,
    capabilities: {
      contentTypes: ["text", "link", "image", "carousel", "video"],
      formats: ["post"],
      // A post's text may be 63,206 characters long (the limit Facebook applies to page posts; Meta
      // does not state it in the Graph reference, it is the composer's limit).
      text: { maxLength: 63_206 },
      media: {
        required: false,
        // Multi-photo posts attach unpublished photos (attached_media); Meta states no maximum for the
        // API, 10 is the limit Herald chose (what the composer shows as one grid without "+N").
        maxCount: 10,
        carousel: { min: 2, max: 10 },
        image: {
          // JPEG, BMP, PNG, GIF and TIFF; "we recommend uploading photos under 4MB"
          // (https://developers.facebook.com/docs/graph-api/photo-uploads). Meta's reference names no
          // hard ceiling; 10 MB is the one publishing tools document for page photos. Herald keeps the
          // hard 10 MB and leaves the 4 MB advice to the media pipeline.
          mimeTypes: ["image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"],
          maxBytes: 10 * MB,
        },
        video: {
          // A video by file_url goes through the non-resumable upload, for files up to 1 GB and
          // 20 minutes (https://developers.facebook.com/docs/video-api/guides/publishing, as the
          // non-resumable section of that page stated; larger files need the resumable protocol,
          // which Herald does not use yet).
          mimeTypes: ["video/mp4", "video/quicktime"],
          maxBytes: 1024 * MB,
          maxDurationMs: 20 * MINUTE_MS,
        },
        // A post is photos or one video, never both (attached_media takes photos only).
        mixed: false,
      },
      link: true,
      firstComment: true,
    },
    // Facebook has no idempotency key: after an ambiguous failure, look the post up first.
    idempotency: "reconcile",
    // Page tokens do not expire; the person's data access does, and only they can renew it.
    refreshWindowSeconds: null,
    // Deviation: Facebook revokes per person and app (DELETE /me/permissions), not per page.
    // Revoking when one page is disconnected would cut every other page and workspace that person
    // connected; disconnecting deletes Herald's copy of the token instead.
    revocable: false,
    /** Asks Meta how the page token stands (validity, expiry, permissions): a forced refresh. */
    refresh: (tokens: Tokens) => graph.tokensFor(tokens.accessToken),
    async revoke() {},

    async publish(request: PublishRequest): Promise<Published> {
      const token = request.tokens.accessToken;
      const postId = await publishPost(request);
      // The post exists from here on: nothing below may throw it away.
      let url: string | null = null;
      try {
        url = await permalink(postId, token);
      } catch (error) {
        request.log.warn(
          { err: error, platformPostId: postId },
          "published, but the permalink could not be read",
        );
      }
      if (request.content.firstComment)
        await firstComment(postId, request.content.firstComment, token, request.log);
      return { platformPostId: postId, url };
    },

    /**
     * The post an earlier attempt made, from the page's posts since the first attempt (less a clock
     * margin): the same kind of post with the same text, and for multi-photo posts one of the photos
     * that attempt checkpointed. Facebook keeps no request key, so two identical posts of the same
     * kind in that window cannot be told apart; the newest is taken.
     * https://developers.facebook.com/docs/graph-api/reference/page/feed#read
     */
    async findPublished(request: PublishRequest): Promise<Published | null> {
      const { content } = request;
      const kind = kindOf(content.media, content.link);
      const photoIds = new Set(Object.values(Progress.parse(request.progress).facebookPhotos ?? {}));
      const since = Math.floor(request.since.getTime() / 1000) - CLOCK_SKEW_SECONDS;
      let response = await graph.get(
        "facebook",
        `${request.account.platformAccountId}/posts`,
        request.tokens.accessToken,
        {
          since: String(since),
          fields: "id,message,created_time,permalink_url,attachments{media_type,url,target,subattachments}",
          limit: "100",
        },
      );
      for (let round = 0; round < RECONCILE_PAGES; round++) {
        const listed = parse(PostsPage, response.body, "the page's posts");
        for (const item of listed.data) {
          if (listedKind(item) !== kind || (item.message ?? "") !== content.text) continue;
          if (kind === "album" && photoIds.size > 0 && !photoIdsOf(item).some((id) => photoIds.has(id)))
            continue;
          return { platformPostId: item.id, url: absolute(item.permalink_url) };
        }
        const next = listed.paging?.next;
        if (!next) return null;
        response = await graph.next("facebook", next);
      }
      request.log.warn({ pages: RECONCILE_PAGES }, "reconciliation stopped after the last page it reads");
      return null;
    },

    /** https://developers.facebook.com/docs/pages-api/posts#delete-a-post */
    async deletePost({ tokens, platformPostId }) {
      await graph.delete("facebook", platformPostId, tokens.accessToken);
    },
  };
}
