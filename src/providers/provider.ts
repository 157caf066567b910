/**
 * The provider contract: what Herald needs from each social platform, one module per platform
 * behind it (sandbox.ts, facebook.ts, instagram.ts), the shared plumbing outside them (http.ts,
 * oauth.ts).
 *
 * Terminology
 * - connector: one way people connect accounts, i.e. one OAuth flow. It may discover accounts of
 *   several platforms (Facebook Login finds Facebook pages and their Instagram accounts).
 * - credential: the tokens one or more accounts use to act on the platform. Accounts of one grant
 *   may share a credential (see migration 0003).
 * - adapter: what Herald can do with an account of one platform: its capabilities, how to refresh
 *   and revoke its credential, and (with publishing) how to publish exactly once.
 */

import type { Logger } from "../observability/logger.js";

export const PLATFORMS = ["sandbox", "facebook", "instagram"] as const;
export type Platform = (typeof PLATFORMS)[number];

const NAMES: Record<Platform, string> = { sandbox: "Sandbox", facebook: "Facebook", instagram: "Instagram" };

/** How people call the platform, for messages. */
export const platformName = (platform: string): string => NAMES[platform as Platform] ?? platform;

export type ContentType = "text" | "link" | "image" | "carousel" | "video" | "reel" | "story";

/** Limits on one kind of media file; every field is optional (no limit). */
export type MediaLimits = {
  /** MIME types accepted, as probed from the content (never from a file name). */
  mimeTypes: string[];
  maxBytes?: number;
  minWidth?: number;
  maxWidth?: number;
  minHeight?: number;
  maxHeight?: number;
  /** width / height, inclusive bounds (4:5 is 0.8). */
  aspectRatio?: { min: number; max: number };
  minDurationMs?: number;
  maxDurationMs?: number;
  /** Video codecs accepted, as probed (`h264`, `hevc`). */
  videoCodecs?: string[];
};

/** How a post appears on platforms that have several (Instagram: feed post, reel, story). */
export const POST_FORMATS = ["post", "reel", "story"] as const;
export type PostFormat = (typeof POST_FORMATS)[number];

/** What a platform accepts, declared by its adapter; validation (src/publishing/) reads it. */
export type Capabilities = {
  contentTypes: ContentType[];
  /** Formats the adapter can publish; every adapter has "post". */
  formats: PostFormat[];
  text: { maxLength: number; maxHashtags?: number; maxMentions?: number; required?: boolean };
  media: {
    required: boolean;
    maxCount: number;
    /** Several files in one post; absent when only one file at a time is allowed. */
    carousel?: { min: number; max: number };
    image?: MediaLimits;
    video?: MediaLimits;
    /** Whether one post may mix images and videos. */
    mixed: boolean;
    /** Limits of formats that differ from the post's (an Instagram story's image is 9:16). */
    byFormat?: Partial<Record<PostFormat, { image?: MediaLimits; video?: MediaLimits }>>;
  };
  link: boolean;
  firstComment: boolean;
};

/**
 * What a retry may do after an ambiguous failure (a timeout or a reset after the request left):
 * - native_key: the platform deduplicates by a key Herald derives from the target;
 * - reconcile: look the post up on the platform first;
 * - none: never retry the send, mark the target unconfirmed.
 */
export type IdempotencyStrategy = "native_key" | "reconcile" | "none";

export type Tokens = {
  accessToken: string;
  refreshToken: string | null;
  /** When the access token stops working; null: it does not expire. */
  expiresAt: Date | null;
  /** When the grant ends and only the person can renew it (refresh token, data access). */
  grantExpiresAt: Date | null;
  scopes: string[];
};

/** An account a completed OAuth flow found, with the credential it would use. */
export type DiscoveredAccount = {
  platform: Platform;
  platformAccountId: string;
  name: string;
  handle: string | null;
  avatarUrl: string | null;
  /** Permissions this account needs that the person did not grant, by their platform name. */
  missingScopes: string[];
  metadata: Record<string, string>;
  /**
   * The credential it acts with: `platform` names the adapter that refreshes it (an Instagram
   * account acts with its Facebook page's token), `subject` whose tokens they are.
   */
  credential: { platform: Platform; subject: string; tokens: Tokens };
};

export interface Connector {
  id: string;
  /** The platforms whose accounts this flow can find. */
  platforms: Platform[];
  pkce: boolean;
  scopes: string[];
  authorizationUrl(input: { state: string; codeChallenge: string | null; redirectUri: string }): string;
  /** The authorization code → every account the grant reveals, each with its credential. */
  connect(input: {
    code: string;
    codeVerifier: string | null;
    redirectUri: string;
  }): Promise<DiscoveredAccount[]>;
}

/** A media file as a platform fetches it: by a public URL, with what probing found. */
export type PublishMedia = {
  id: string;
  kind: "image" | "video";
  url: string;
  mimeType: string;
  sizeBytes: number;
  width: number | null;
  height: number | null;
  durationMs: number | null;
};

/** What one target publishes, overrides applied. */
export type PublishContent = {
  text: string;
  media: PublishMedia[];
  link: string | null;
  firstComment: string | null;
  format: PostFormat;
};

export type PublishRequest = {
  account: { platformAccountId: string; metadata: Record<string, string> };
  tokens: Tokens;
  content: PublishContent;
  /**
   * Stable for the target across attempts and processes (derived from its id): platforms that
   * deduplicate by a key get this one.
   */
  idempotencyKey: string;
  /** What earlier attempts of this target saved with `checkpoint` (an Instagram container id). */
  progress: Record<string, unknown>;
  /**
   * Saves progress durably before the flow goes on, so that the next attempt (after a crash or a
   * retry) resumes instead of starting again. Plain JSON; no tokens.
   */
  checkpoint(progress: Record<string, unknown>): Promise<void>;
  /** When the target's first attempt started: reconciliation looks for posts made since then. */
  since: Date;
  log: Logger;
};

/** A post that exists on the platform. */
export type Published = { platformPostId: string; url: string | null };

export interface ProviderAdapter {
  platform: Platform;
  connector: Connector;
  capabilities: Capabilities;
  idempotency: IdempotencyStrategy;
  /**
   * Seconds before its expiry at which a credential is refreshed; null when the platform has no
   * refresh (the person reconnects before the grant ends).
   */
  refreshWindowSeconds: number | null;
  /** Whether disconnecting can revoke the grant at the platform without hurting other connections. */
  revocable: boolean;
  refresh(tokens: Tokens): Promise<Tokens>;
  revoke(tokens: Tokens): Promise<void>;
  /**
   * Publishes the content. Throws ProviderError (the platform answered no) or TransportError (no
   * answer: it may or may not have been published). Multi-step flows checkpoint each step.
   */
  publish(request: PublishRequest): Promise<Published>;
  /**
   * For the `reconcile` strategy: the post an earlier, ambiguous attempt of this request made, or
   * null when the platform shows none (then publishing again is safe).
   */
  findPublished?(request: PublishRequest): Promise<Published | null>;
  /** Removes a published post (where the platform allows it). */
  deletePost?(input: {
    account: PublishRequest["account"];
    tokens: Tokens;
    platformPostId: string;
    log: Logger;
  }): Promise<void>;
}

/** Failures of a platform call, in the arctic style: transport, protocol, unexpected shape. */
export type ProviderErrorKind =
  | "auth" // the token is expired, revoked or invalid
  | "permission" // the grant lacks a permission
  | "rate_limited"
  | "invalid" // the request was wrong (bad code, bad parameter)
  | "blocked" // the platform refuses this account for now
  | "unavailable" // a 5xx or a temporary failure
  | "unexpected"; // an answer Herald cannot read (HTML error page, garbage)

export class ProviderError extends Error {
  readonly platform: string;
  readonly kind: ProviderErrorKind;
  readonly status: number | null;
  /** The platform's own error code and subcode, kept as they were. */
  readonly platformCode: string | null;
  readonly platformSubcode: string | null;
  readonly retryAfterSeconds: number | null;

  constructor(
    platform: string,
    kind: ProviderErrorKind,
    message: string,
    options: {
      status?: number | null;
      platformCode?: string | number | null;
      platformSubcode?: string | number | null;
      retryAfterSeconds?: number | null;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ProviderError";
    this.platform = platform;
    this.kind = kind;
    this.status = options.status ?? null;
    this.platformCode =
      options.platformCode === undefined || options.platformCode === null
        ? null
        : String(options.platformCode);
    this.platformSubcode =
      options.platformSubcode === undefined || options.platformSubcode === null
        ? null
        : String(options.platformSubcode);
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }

  /** Whether a retry may succeed: rate limits and outages pass, the rest needs a person. */
  get retryable(): boolean {
    return this.kind === "rate_limited" || this.kind === "unavailable";
  }
}

/** The request may or may not have reached the platform (timeout, reset): an ambiguous failure. */
export class TransportError extends Error {
  constructor(
    readonly platform: string,
    message: string,
    readonly sent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "TransportError";
  }
}
