/**
 * Validation of one target's content against its adapter's declared capabilities (provider.ts).
 * Pure: it reads the capabilities and the probed media, and returns every problem at once, each
 * with the path of the field to fix and the rule it breaks.
 */
import type { FieldError } from "../errors.js";
import type { MediaRecord } from "../media/media.service.js";
import { type Capabilities, type MediaLimits, type PostFormat, platformName } from "../providers/provider.js";

export type PostContent = { text?: string; mediaIds?: string[]; link?: string | null };
export type TargetOverrides = PostContent & { firstComment?: string; format?: PostFormat };

/** What one target publishes once its overrides are applied. */
export type EffectiveContent = {
  text: string;
  mediaIds: string[];
  link: string | null;
  firstComment: string | null;
  format: PostFormat;
};

export function effectiveContent(content: PostContent, overrides: TargetOverrides): EffectiveContent {
  return {
    text: overrides.text ?? content.text ?? "",
    mediaIds: overrides.mediaIds ?? content.mediaIds ?? [],
    link: overrides.link !== undefined ? overrides.link : (content.link ?? null),
    firstComment: overrides.firstComment ?? null,
    format: overrides.format ?? "post",
  };
}

/** Characters as people count them: code points, not UTF-16 units. */
export const textLength = (text: string): number => [...text].length;

const HASHTAG = /(^|[^\p{L}\p{N}_&])#[\p{L}\p{N}_]+/gu;
const MENTION = /(^|[^\p{L}\p{N}_])@[\p{L}\p{N}_.]+/gu;
const count = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].length;

export type TargetToValidate = {
  /** `body.targets.3`: problems are reported under it. */
  path: string;
  /** "Facebook page Contoso": who the messages are about. */
  label: string;
  platform: string;
  capabilities: Capabilities;
  content: PostContent;
  overrides: TargetOverrides;
};

export function validateTarget(target: TargetToValidate, media: Map<string, MediaRecord>): FieldError[] {
  const { capabilities: caps, path, label } = target;
  const name = platformName(target.platform);
  const problems: FieldError[] = [];
  const problem = (field: string, rule: string, message: string) =>
    problems.push({ path: `${path}.${field}`, rule, message: `${label}: ${message}` });
  const effective = effectiveContent(target.content, target.overrides);
  const textField = target.overrides.text !== undefined ? "overrides.text" : "text";
  const mediaField = target.overrides.mediaIds !== undefined ? "overrides.mediaIds" : "mediaIds";

  const length = textLength(effective.text);
  if (length > caps.text.maxLength) {
    problem(
      textField,
      "text_too_long",
      `${name} allows at most ${caps.text.maxLength.toLocaleString("en")} characters; this text has ${length.toLocaleString("en")}.`,
    );
  }
  if (caps.text.required && effective.text.trim().length === 0)
    problem(textField, "text_required", `${name} needs text.`);
  if (caps.text.maxHashtags !== undefined) {
    const hashtags = count(effective.text, HASHTAG);
    if (hashtags > caps.text.maxHashtags)
      problem(
        textField,
        "too_many_hashtags",
        `${name} allows at most ${caps.text.maxHashtags} hashtags; this text has ${hashtags}.`,
      );
  }
  if (caps.text.maxMentions !== undefined) {
    const mentions = count(effective.text, MENTION);
    if (mentions > caps.text.maxMentions)
      problem(
        textField,
        "too_many_mentions",
        `${name} allows at most ${caps.text.maxMentions} @mentions; this text has ${mentions}.`,
      );
  }

  if (!caps.formats.includes(effective.format))
    problem("overrides.format", "format_unsupported", `${name} cannot publish a ${effective.format}.`);
  if (effective.link !== null && !caps.link) {
    const field = target.overrides.link !== undefined ? "overrides.link" : "link";
    problem(field, "link_unsupported", `${name} does not publish links; put the link in the text.`);
  }
  if (effective.firstComment !== null && !caps.firstComment)
    problem("overrides.firstComment", "first_comment_unsupported", `${name} has no first comment.`);

  const items = effective.mediaIds.map((id) => media.get(id));
  effective.mediaIds.forEach((id, index) => {
    if (!media.has(id))
      problem(`${mediaField}.${index}`, "media_not_found", `media ${id} does not exist in this workspace.`);
  });
  const found = items.filter((item): item is MediaRecord => item !== undefined);
  const n = effective.mediaIds.length;

  if (caps.media.required && n === 0)
    problem(mediaField, "media_required", `${name} needs an image or a video.`);
  if (n > caps.media.maxCount) {
    problem(
      mediaField,
      "too_many_media",
      `${name} takes at most ${caps.media.maxCount} files; this post has ${n}.`,
    );
  } else if (n > 1 && effective.format === "post") {
    const carousel = caps.media.carousel;
    if (!carousel) problem(mediaField, "carousel_unsupported", `${name} takes one file per post.`);
    else if (n < carousel.min || n > carousel.max)
      problem(
        mediaField,
        "carousel_size",
        `${name} takes ${carousel.min} to ${carousel.max} files in one post.`,
      );
  }
  if (effective.format === "reel" && (n !== 1 || found[0]?.kind !== "video"))
    problem(mediaField, "reel_needs_one_video", `a ${name} reel is exactly one video.`);
  if (effective.format === "story" && n !== 1)
    problem(mediaField, "story_needs_one_file", `a ${name} story is exactly one image or video.`);
  if (!caps.media.mixed && new Set(found.map((item) => item.kind)).size > 1)
    problem(mediaField, "mixed_media_unsupported", `${name} cannot mix images and videos in one post.`);

  effective.mediaIds.forEach((id, index) => {
    const item = media.get(id);
    if (!item) return;
    const forFormat = caps.media.byFormat?.[effective.format];
    const limits =
      item.kind === "image"
        ? forFormat
          ? forFormat.image
          : caps.media.image
        : forFormat
          ? forFormat.video
          : caps.media.video;
    const field = `${mediaField}.${index}`;
    if (!limits) {
      problem(field, "media_type_unsupported", `${name} does not publish ${item.kind}s.`);
      return;
    }
    for (const [rule, message] of mediaProblems(item, limits)) problem(field, rule, `${name} ${message}`);
  });
  return problems;
}

/** How a file breaks a platform's limits, as [rule, message] pairs. */
function mediaProblems(item: MediaRecord, limits: MediaLimits): [string, string][] {
  const found: [string, string][] = [];
  // An image in another format is fine where a JPEG is accepted: Herald made a JPEG rendition.
  const typeOk =
    limits.mimeTypes.includes(item.mimeType) ||
    (item.jpegUrl !== null && limits.mimeTypes.includes("image/jpeg"));
  if (!typeOk)
    found.push(["media_type_unsupported", `accepts ${limits.mimeTypes.join(", ")}, not ${item.mimeType}.`]);
  if (limits.maxBytes !== undefined && item.sizeBytes > limits.maxBytes)
    found.push([
      "media_too_large",
      `accepts files up to ${megabytes(limits.maxBytes)}; this one is ${megabytes(item.sizeBytes)}.`,
    ]);
  const { width, height } = item;
  if (width !== null && height !== null) {
    if (limits.minWidth !== undefined && width < limits.minWidth)
      found.push([
        "media_too_small",
        `needs at least ${limits.minWidth} px of width; this one has ${width}.`,
      ]);
    if (limits.maxWidth !== undefined && width > limits.maxWidth)
      found.push([
        "media_too_wide",
        `accepts at most ${limits.maxWidth} px of width; this one has ${width}.`,
      ]);
    if (limits.minHeight !== undefined && height < limits.minHeight)
      found.push([
        "media_too_small",
        `needs at least ${limits.minHeight} px of height; this one has ${height}.`,
      ]);
    if (limits.maxHeight !== undefined && height > limits.maxHeight)
      found.push([
        "media_too_tall",
        `accepts at most ${limits.maxHeight} px of height; this one has ${height}.`,
      ]);
    const ratio = width / height;
    if (
      limits.aspectRatio &&
      (ratio < limits.aspectRatio.min - 0.005 || ratio > limits.aspectRatio.max + 0.005)
    )
      found.push([
        "aspect_ratio",
        `accepts width/height between ${limits.aspectRatio.min.toFixed(2)} and ${limits.aspectRatio.max.toFixed(2)}; this one is ${ratio.toFixed(2)}.`,
      ]);
  }
  if (item.durationMs !== null) {
    if (limits.minDurationMs !== undefined && item.durationMs < limits.minDurationMs)
      found.push([
        "video_too_short",
        `needs videos of at least ${seconds(limits.minDurationMs)}; this one lasts ${seconds(item.durationMs)}.`,
      ]);
    if (limits.maxDurationMs !== undefined && item.durationMs > limits.maxDurationMs)
      found.push([
        "video_too_long",
        `accepts videos up to ${seconds(limits.maxDurationMs)}; this one lasts ${seconds(item.durationMs)}.`,
      ]);
  }
  if (limits.videoCodecs && item.videoCodec !== null && !limits.videoCodecs.includes(item.videoCodec))
    found.push([
      "video_codec_unsupported",
      `accepts ${limits.videoCodecs.join(", ")} video, not ${item.videoCodec}.`,
    ]);
  return found;
}

const megabytes = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(bytes < 10 * 1024 ** 2 ? 1 : 0)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
