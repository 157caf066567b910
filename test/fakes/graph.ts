/**
 * A protocol-faithful fake of Meta's Graph API for Facebook Pages and for Instagram through Facebook
 * Login: the OAuth dialog (www.facebook.com) and graph.facebook.com on one loopback HTTP server.
 *
 * It enforces the platform's rules instead of echoing what a test wants: single-use authorization
 * codes bound to their redirect_uri, short- and long-lived token lifetimes on an injectable clock,
 * granted permissions, Page tasks, the Instagram container state machine, the publishing quota, the
 * Graph error envelope and the usage headers. Every behaviour cites the page it comes from; where Meta
 * documents nothing, the comment says so and names the choice made.
 *
 * Tests drive the real adapters against `url` and steer the fake through the control API
 * (`addUser`, `setDialogAnswer`, `failNext`, `expireToken`, `setContainerStatus`, `rejectMediaUrl`)
 * and inspect what happened through `calls` and `state`.
 */
import { createHmac, randomBytes } from "node:crypto";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { z } from "zod";

// ---------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------

export type FakePage = {
  id: string;
  name: string;
  category?: string;
  /** Tasks the user can perform on the Page; default all of them. Without CREATE_CONTENT nothing can be published. */
  tasks?: string[];
  instagram?: { id: string; username: string; name?: string };
};

export type FakeUser = { id: string; name: string; permissions: string[]; pages: FakePage[] };

export type GraphErrorSpec = {
  code: number;
  message?: string;
  subcode?: number;
  type?: string;
  /** HTTP status; default the one the real API uses for that code (400 for most). */
  status?: number;
  userTitle?: string;
  userMessage?: string;
  isTransient?: boolean;
  /** Minutes, for Business Use Case rate limits (codes 32, 80001, 80002); default 5. */
  estimatedTimeToRegainAccess?: number;
};

/**
 * A fault for the next matching call(s): answer a Graph error, an HTML 500, or drop the connection
 * after the request took effect (`timeoutAfterHandling`: the post exists, the caller sees a reset)
 * or before it did (`dropBeforeHandling`: nothing happened, the caller sees the same reset).
 */
export type FailRule = { path?: RegExp; method?: string; times?: number } & (
  | { error: GraphErrorSpec }
  | { htmlError: true }
  | { timeoutAfterHandling: true }
  | { dropBeforeHandling: true }
);

export type RecordedCall = {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  at: number;
  /** The status sent, or null when the socket was destroyed without an answer. */
  status: number | null;
};

export type ContainerStatus = "IN_PROGRESS" | "FINISHED" | "ERROR" | "EXPIRED" | "PUBLISHED";

export type FakePost = {
  id: string;
  pageId: string;
  message: string | null;
  link: string | null;
  attachedMedia: string[];
  published: boolean;
  createdTime: number;
  deleted: boolean;
};
export type FakePhoto = {
  id: string;
  pageId: string;
  url: string | null;
  caption: string | null;
  published: boolean;
  postId: string | null;
  attachedTo: string | null;
  createdTime: number;
  deleted: boolean;
};
export type FakeVideo = {
  id: string;
  pageId: string;
  fileUrl: string | null;
  description: string | null;
  postId: string;
  deleted: boolean;
};
/** A comment on a Page post, photo or video, or on Instagram media. */
export type FakeComment = {
  id: string;
  /** The post, photo, video or IG media commented on. */
  objectId: string;
  platform: "facebook" | "instagram";
  message: string;
  createdTime: number;
};
export type FakeContainer = {
  id: string;
  igUserId: string;
  mediaType: "IMAGE" | "VIDEO" | "REELS" | "STORIES" | "CAROUSEL";
  imageUrl: string | null;
  videoUrl: string | null;
  caption: string | null;
  isCarouselItem: boolean;
  children: string[];
  status: ContainerStatus;
  polls: number;
  createdAt: number;
  mediaId: string | null;
};
export type FakeMedia = {
  id: string;
  igUserId: string;
  containerId: string;
  mediaType: "IMAGE" | "VIDEO" | "CAROUSEL_ALBUM";
  productType: "FEED" | "REELS" | "STORY";
  caption: string | null;
  permalink: string;
  timestamp: number;
};

export type GraphFake = {
  url: string;
  appId: string;
  appSecret: string;
  addUser(user: FakeUser): void;
  setDialogAnswer(answer: { userId: string } | { error: "access_denied" }): void;
  failNext(rule: FailRule): void;
  expireToken(token: string): void;
  /** Moves a container to ERROR or EXPIRED (or FINISHED), as Instagram's processing would. */
  setContainerStatus(containerId: string, status: "ERROR" | "EXPIRED" | "FINISHED"): void;
  /**
   * Media URLs Instagram "cannot fetch": a container made from one ends in ERROR when processed
   * (its `status` carries 2207052), as the real API reports an unreachable or unreadable file.
   */
  rejectMediaUrl(pattern: string | RegExp): void;
  calls: RecordedCall[];
  /** Every access token the fake has issued (user and Page tokens), to prove none leaks anywhere. */
  readonly issuedTokens: string[];
  /** Snapshots: every object ever created, deleted ones included (flagged), for counting duplicates. */
  readonly state: {
    posts: FakePost[];
    photos: FakePhoto[];
    videos: FakeVideo[];
    containers: FakeContainer[];
    media: FakeMedia[];
    comments: FakeComment[];
  };
  close(): Promise<void>;
};

export type GraphFakeOptions = {
  appId?: string;
  appSecret?: string;
  now?: () => number;
  /** Status reads after which a container finishes processing (default 2). */
  containerReadyAfterPolls?: number;
  /** Or: milliseconds on the `now` clock after which a container finishes processing. */
  containerReadyAfterMs?: number;
  /** The app's "Valid OAuth Redirect URIs"; when set, the dialog refuses any other redirect_uri. */
  redirectUris?: string[];
};

// ---------------------------------------------------------------------------------------------------
// Documented numbers
// ---------------------------------------------------------------------------------------------------

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The version this fake was written against; paths may carry any vNN.N. */
export const CURRENT_GRAPH_VERSION = "v26.0";

// "Short-lived tokens usually have a lifetime of about an hour or two" and Page tokens listed from a
// short-lived user token "are valid for 1 hour".
// https://developers.facebook.com/docs/facebook-login/guides/access-tokens
// https://developers.facebook.com/documentation/business-sdk/common-scenarios/token-switch
const SHORT_LIVED_TOKEN_LIFETIME = 1 * HOUR;
// "A long-lived token generally lasts about 60 days"; the sample answer says expires_in 5183944.
// https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
const LONG_LIVED_TOKEN_LIFETIME = 60 * DAY;
// Data access expires 90 days after the person last used the app.
// https://developers.facebook.com/docs/facebook-login/auth-vs-data
const DATA_ACCESS_LIFETIME = 90 * DAY;
// Meta does not publish the code lifetime; observed codes die within minutes ("This authorization
// code has expired.", 100/36007). Ten minutes is the common OAuth figure (RFC 6749 §4.1.2).
const AUTHORIZATION_CODE_LIFETIME = 10 * MINUTE;
// "Containers expire after 24 hours"; "EXPIRED — The container was not published within 24 hours".
// https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/media
const CONTAINER_LIFETIME = 24 * HOUR;
// "An Instagram professional account can only publish 50 posts within a 24 hour moving period";
// content_publishing_limit answers config {quota_total: 50, quota_duration: 86400}.
// https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/media_publish
// https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit
const PUBLISHING_QUOTA = 50;
const PUBLISHING_QUOTA_WINDOW = DAY;
// Carousels take 2 to 10 children (100/2207028).
// https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes
const CAROUSEL_MIN = 2;
const CAROUSEL_MAX = 10;
const CAPTION_MAX = 2200;
const MENTIONS_MAX = 20;
// "Calls within one hour = 200 * Number of Users" (platform limit) and "Calls within 24 hours = 4800 *
// Number of Engaged Users" (Pages BUC). The fake counts one engaged user per Page.
// https://developers.facebook.com/docs/graph-api/overview/rate-limiting/
const APP_CALLS_PER_USER_PER_HOUR = 200;
const PAGE_CALLS_PER_DAY = 4800;
// /me/accounts and edges page by 25 unless `limit` says otherwise.
const DEFAULT_PAGE_SIZE = 25;
const MAX_PAGE_SIZE = 100;

const ALL_PAGE_TASKS = ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"];

// ---------------------------------------------------------------------------------------------------
// The Graph error envelope
// https://developers.facebook.com/docs/graph-api/guides/error-handling
// {error: {message, type, code, error_subcode?, error_user_title?, error_user_msg?, fbtrace_id}}
// ---------------------------------------------------------------------------------------------------

type GraphErrorBody = {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  error_user_title?: string;
  error_user_msg?: string;
  is_transient?: boolean;
};

class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly body: GraphErrorBody,
  ) {
    super(body.message);
  }
}

/** Default message, type and HTTP status per code, from the error-handling and rate-limiting pages. */
const ERROR_DEFAULTS: Record<number, { message: string; status: number; transient?: boolean }> = {
  1: { message: "An unknown error occurred", status: 500, transient: true },
  2: {
    message: "An unexpected error has occurred. Please retry your request later.",
    status: 500,
    transient: true,
  },
  4: { message: "(#4) Application request limit reached", status: 400, transient: true },
  10: { message: "(#10) Application does not have permission for this action", status: 403 },
  17: { message: "(#17) User request limit reached", status: 400, transient: true },
  32: { message: "(#32) Page request limit reached", status: 400, transient: true },
  100: { message: "(#100) Invalid parameter", status: 400 },
  190: { message: "Invalid OAuth access token - Cannot parse access token", status: 400 },
  200: { message: "(#200) Permissions error", status: 403 },
  368: {
    message: "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
    status: 400,
  },
  506: { message: "(#506) Duplicate status message", status: 400 },
  613: { message: "(#613) Calls to this api have exceeded the rate limit.", status: 400, transient: true },
  9007: { message: "Media ID is not available", status: 400 },
  80001: {
    message: "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
    status: 400,
    transient: true,
  },
  80002: {
    message: "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.",
    status: 400,
    transient: true,
  },
};

function graphError(
  code: number,
  message: string,
  extra: { subcode?: number; status?: number; type?: string; userTitle?: string; userMessage?: string } = {},
): GraphError {
  const body: GraphErrorBody = { message, type: extra.type ?? "OAuthException", code };
  if (extra.subcode !== undefined) body.error_subcode = extra.subcode;
  if (extra.userTitle !== undefined) body.error_user_title = extra.userTitle;
  if (extra.userMessage !== undefined) body.error_user_msg = extra.userMessage;
  return new GraphError(extra.status ?? ERROR_DEFAULTS[code]?.status ?? 400, body);
}

/** "Not found" and "no access" are one answer on the Graph API: 100/33, GraphMethodException. */
function unsupportedRequest(method: string, id: string): GraphError {
  const verb = method === "DELETE" ? "delete" : method === "POST" ? "post" : "get";
  return graphError(
    100,
    `Unsupported ${verb} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
    { subcode: 33, type: "GraphMethodException" },
  );
}

function invalidParameter(message: string, subcode?: number): GraphError {
  return graphError(100, message.startsWith("(#100)") ? message : `(#100) ${message}`, { subcode });
}

// ---------------------------------------------------------------------------------------------------
// Internal records
// ---------------------------------------------------------------------------------------------------

type TokenRecord = {
  value: string;
  kind: "USER" | "PAGE";
  userId: string;
  pageId: string | null;
  issuedAt: number;
  /** 0 = never expires. */
  expiresAt: number;
  longLived: boolean;
  /** The user's grant epoch when issued; revoking the app's permissions bumps it. */
  epoch: number;
  forcedExpiryAt: number | null;
};

type UserRecord = {
  user: FakeUser;
  granted: string[];
  declined: string[];
  epoch: number;
  authorizedAt: number;
};

type CodeRecord = {
  value: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  issuedAt: number;
  used: boolean;
};

type PageRecord = { page: FakePage; managers: Map<string, string[]> };
type IgUserRecord = { id: string; username: string; name: string; pageId: string };

type Outcome =
  | { kind: "json"; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: "html"; status: number; html: string }
  | { kind: "redirect"; location: string };

type Params = Record<string, unknown>;

type ApiContext = {
  method: string;
  version: string;
  segments: string[];
  params: Params;
  token: TokenRecord;
  rawToken: string;
  /** The Page or IG user whose Business Use Case budget the call spends. */
  buc: { id: string; type: "pages" | "instagram" } | null;
};

// ---------------------------------------------------------------------------------------------------
// Parameter validation (inputs arrive as query strings, form fields or JSON; the real API takes all)
// ---------------------------------------------------------------------------------------------------

const boolParam = z.preprocess((value) => {
  if (value === "true" || value === "1" || value === 1) return true;
  if (value === "false" || value === "0" || value === 0) return false;
  return value;
}, z.boolean());

const stringParam = z.preprocess((value) => (typeof value === "number" ? String(value) : value), z.string());

function readParams<T extends z.ZodType>(schema: T, params: Params): z.infer<T> {
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const name = issue?.path.join(".") ?? "?";
  throw invalidParameter(`(#100) The parameter ${name} is invalid or missing`);
}

const CodeExchangeParams = z.object({
  client_id: stringParam.optional(),
  client_secret: stringParam.optional(),
  redirect_uri: stringParam.optional(),
  code: stringParam.optional(),
  grant_type: stringParam.optional(),
  fb_exchange_token: stringParam.optional(),
});

const DialogParams = z.object({
  client_id: stringParam.optional(),
  redirect_uri: stringParam.optional(),
  state: stringParam.optional(),
  scope: stringParam.optional(),
  response_type: stringParam.optional(),
});

const PagingParams = z.object({
  limit: z.coerce.number().int().min(1).optional(),
  after: stringParam.optional(),
  before: stringParam.optional(),
  fields: stringParam.optional(),
});

const FeedPostParams = z.object({
  message: stringParam.optional(),
  link: stringParam.optional(),
  published: boolParam.optional(),
});

const PhotoParams = z.object({
  url: stringParam.optional(),
  caption: stringParam.optional(),
  message: stringParam.optional(),
  published: boolParam.optional(),
  source: z.unknown().optional(),
});

const VideoParams = z.object({
  file_url: stringParam.optional(),
  description: stringParam.optional(),
  title: stringParam.optional(),
  source: z.unknown().optional(),
});

const ContainerParams = z.object({
  image_url: stringParam.optional(),
  video_url: stringParam.optional(),
  media_type: stringParam.optional(),
  is_carousel_item: boolParam.optional(),
  caption: stringParam.optional(),
});

const PublishParams = z.object({ creation_id: stringParam });

const AttachedMedia = z.object({ media_fbid: stringParam });

const TimeParam = z.preprocess((value) => {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return value;
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : Math.floor(ms / 1000);
}, z.number());

const FeedReadParams = PagingParams.extend({ since: TimeParam.optional(), until: TimeParam.optional() });

// ---------------------------------------------------------------------------------------------------
// Field selection: `fields=id,name,instagram_business_account{id,username},picture.type(large)`
// https://developers.facebook.com/docs/graph-api/guides/field-expansion
// ---------------------------------------------------------------------------------------------------

type Selection = Map<string, Selection | null>;

function parseFields(text: string): Selection {
  let position = 0;
  const fail = (): never => {
    throw invalidParameter(`(#100) Syntax error in fields near position ${position}: ${text}`);
  };
  const list = (): Selection => {
    const selection: Selection = new Map();
    for (;;) {
      const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(position));
      if (!match?.[1]) return fail();
      position += match[0].length;
      // Modifiers such as .limit(5) or .type(large) shape the answer; the fake accepts and ignores them.
      for (;;) {
        const modifier = /^\.[A-Za-z_]+\([^)]*\)/.exec(text.slice(position));
        if (!modifier) break;
        position += modifier[0].length;
      }
      let nested: Selection | null = null;
      if (text[position] === "{") {
        position += 1;
        nested = list();
        if (text[position] !== "}") fail();
        position += 1;
      }
      selection.set(match[1], nested);
      while (text[position] === " ") position += 1;
      if (text[position] !== ",") return selection;
      position += 1;
    }
  };
  const selection = list();
  if (position !== text.length) fail();
  return selection;
}

type Resolver = (nested: Selection | null) => unknown;
type GraphNode = { type: string; defaults: string[]; fields: Record<string, Resolver> };

/** Only the requested fields, in the order asked; absent values are left out, as the real API does. */
function render(node: GraphNode, selection: Selection | null): Record<string, unknown> {
  const wanted: Selection = selection ?? new Map(node.defaults.map((name) => [name, null]));
  const out: Record<string, unknown> = {};
  for (const [name, nested] of wanted) {
    const resolve = node.fields[name];
    if (!resolve)
      throw invalidParameter(
        `(#100) Tried accessing nonexisting field (${name}) on node type (${node.type})`,
      );
    const value = resolve(nested);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function selectionOf(params: Params): Selection | null {
  const fields = params.fields;
  if (typeof fields !== "string" || fields.trim() === "") return null;
  return parseFields(fields);
}

// ---------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------

function opaque(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString("base64url");
}

/** Graph's datetime format: 2026-01-02T03:04:05+0000. */
function graphTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+0000");
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** "Tuesday, 01-Dec-25 06:00:00 UTC", the shape of the real "Session has expired on ..." text. */
function sessionTime(ms: number): string {
  const date = new Date(ms);
  const weekday = date.toLocaleString("en-US", { weekday: "long", timeZone: "UTC" });
  const month = date.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${weekday}, ${pad(date.getUTCDate())}-${month}-${pad(date.getUTCFullYear() % 100)} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} UTC`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function htmlPage(title: string, text: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;
}

function cursor(id: string): string {
  return Buffer.from(id).toString("base64url");
}

function uncursor(value: string): string {
  return Buffer.from(value, "base64url").toString();
}

/** Parses a body of any content type the Graph API accepts into plain fields. */
async function parseBody(request: FastifyRequest): Promise<unknown> {
  const raw = request.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) return undefined;
  const type = String(request.headers["content-type"] ?? "").toLowerCase();
  if (type.startsWith("application/json")) {
    try {
      return JSON.parse(raw.toString("utf8"));
    } catch {
      return { __unparseable: raw.toString("utf8") };
    }
  }
  if (type.startsWith("application/x-www-form-urlencoded")) {
    return Object.fromEntries(new URLSearchParams(raw.toString("utf8")));
  }
  if (type.startsWith("multipart/form-data")) {
    // undici's Response parses multipart bodies, so no extra dependency is needed.
    const form = await new Response(raw, { headers: { "content-type": type } }).formData();
    const fields: Record<string, unknown> = {};
    for (const [name, value] of form.entries()) {
      fields[name] =
        typeof value === "string" ? value : { filename: value.name, type: value.type, size: value.size };
    }
    return fields;
  }
  return raw.toString("utf8");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Values like attached_media may arrive as JSON text inside a form field. */
function jsonish(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const trimmed = value.trim();
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return value;
  try {
    return JSON.parse(trimmed);
  } catch {
    return value;
  }
}

/** `name[0]=a&name[1]=b`, `name=[...]`, a JSON array, or `name=a,b` (children) into one list. */
function listParam(params: Params, name: string, splitCommas: boolean): unknown[] {
  const out: unknown[] = [];
  const direct = jsonish(params[name]);
  if (Array.isArray(direct)) out.push(...direct);
  else if (typeof direct === "string" && splitCommas) out.push(...direct.split(",").map((s) => s.trim()));
  else if (direct !== undefined) out.push(direct);
  const indexed = Object.keys(params)
    .map((key) => ({ key, index: new RegExp(`^${name}\\[(\\d+)\\]$`).exec(key)?.[1] }))
    .filter((entry): entry is { key: string; index: string } => entry.index !== undefined)
    .sort((a, b) => Number(a.index) - Number(b.index));
  for (const entry of indexed) out.push(jsonish(params[entry.key]));
  return out.filter((value) => value !== "");
}

// ---------------------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------------------

export async function startGraphFake(options: GraphFakeOptions = {}): Promise<GraphFake> {
  const appId = options.appId ?? "test-app-id";
  const appSecret = options.appSecret ?? "test-app-secret";
  const appName = "Herald Test App";
  const now = options.now ?? (() => Date.now());
  const readyAfterMs = options.containerReadyAfterMs;
  // With only a time given, polls alone never finish a container.
  const readyAfterPolls =
    options.containerReadyAfterPolls ?? (readyAfterMs === undefined ? 2 : Number.POSITIVE_INFINITY);

  const users = new Map<string, UserRecord>();
  const pages = new Map<string, PageRecord>();
  const igUsers = new Map<string, IgUserRecord>();
  const tokens = new Map<string, TokenRecord>();
  /** One Page token per (user token, Page): /me/accounts answers the same token each time. */
  const pageTokenFor = new Map<string, string>();
  const codes = new Map<string, CodeRecord>();
  const posts = new Map<string, FakePost>();
  const photos = new Map<string, FakePhoto>();
  const videos = new Map<string, FakeVideo>();
  const containers = new Map<string, FakeContainer>();
  const media = new Map<string, FakeMedia>();
  const containerForced = new Map<string, "ERROR" | "EXPIRED" | "FINISHED">();
  const comments = new Map<string, FakeComment>();
  const rejectedMediaUrls: Array<string | RegExp> = [];
  const failRules: Array<FailRule & { remaining: number }> = [];
  const calls: RecordedCall[] = [];
  const appCallTimes: number[] = [];
  const bucCallTimes = new Map<string, number[]>();
  let dialogAnswer: { userId: string } | { error: "access_denied" } | null = null;
  let lastId = 100_000_000_000_000;
  const nextId = () => String(++lastId);

  // -------------------------------------------------------------------------------------------------
  // Tokens
  // -------------------------------------------------------------------------------------------------

  function issueUserToken(userId: string, longLived: boolean): TokenRecord {
    const record = users.get(userId);
    if (!record) throw new Error(`unknown user ${userId}`);
    const issuedAt = now();
    const token: TokenRecord = {
      // Opaque random strings, like Meta's "EAA..." tokens; nothing can be read out of them.
      value: opaque("EAA", 48),
      kind: "USER",
      userId,
      pageId: null,
      issuedAt,
      expiresAt: issuedAt + (longLived ? LONG_LIVED_TOKEN_LIFETIME : SHORT_LIVED_TOKEN_LIFETIME),
      longLived,
      epoch: record.epoch,
      forcedExpiryAt: null,
    };
    tokens.set(token.value, token);
    return token;
  }

  /**
   * "If you used a long-lived User access token, the Page access token has no expiration date";
   * one from a short-lived user token lives as long as that token.
   * https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived#long-lived-page-token
   */
  function pageTokenOf(userToken: TokenRecord, pageId: string): TokenRecord {
    const key = `${userToken.value}:${pageId}`;
    const existing = pageTokenFor.get(key);
    const found = existing ? tokens.get(existing) : undefined;
    if (found) return found;
    const token: TokenRecord = {
      value: opaque("EAA", 48),
      kind: "PAGE",
      userId: userToken.userId,
      pageId,
      issuedAt: now(),
      expiresAt: userToken.longLived ? 0 : userToken.expiresAt,
      longLived: userToken.longLived,
      epoch: userToken.epoch,
      forcedExpiryAt: null,
    };
    tokens.set(token.value, token);
    pageTokenFor.set(key, token.value);
    return token;
  }

  function effectiveExpiry(token: TokenRecord): number {
    if (token.forcedExpiryAt !== null) return token.forcedExpiryAt;
    return token.expiresAt;
  }

  /** Why a token no longer works, as the real API says it, or null when it is valid. */
  function tokenProblem(token: TokenRecord): { message: string; subcode: number } | null {
    const record = users.get(token.userId);
    if (!record || record.epoch !== token.epoch) {
      // After DELETE /me/permissions the app is no longer authorized: 190/458 ("App Not Installed").
      // https://developers.facebook.com/docs/graph-api/guides/error-handling#authentication-error-subcodes
      return {
        message: `Error validating access token: The user has not authorized application ${appId}.`,
        subcode: 458,
      };
    }
    const expiry = effectiveExpiry(token);
    if (expiry !== 0 && now() >= expiry) {
      return {
        message: `Error validating access token: Session has expired on ${sessionTime(expiry)}. The current time is ${sessionTime(now())}.`,
        subcode: 463,
      };
    }
    return null;
  }

  function authenticate(value: string): TokenRecord {
    const token = tokens.get(value);
    if (!token)
      throw graphError(190, "Invalid OAuth access token - Cannot parse access token", { subcode: 467 });
    const problem = tokenProblem(token);
    if (problem) throw graphError(190, problem.message, { subcode: problem.subcode });
    return token;
  }

  function grantedScopes(token: TokenRecord): string[] {
    return users.get(token.userId)?.granted ?? [];
  }

  function hasScopes(token: TokenRecord, scopes: string[]): string[] {
    const granted = grantedScopes(token);
    return scopes.filter((scope) => !granted.includes(scope));
  }

  // -------------------------------------------------------------------------------------------------
  // Pages and Instagram accounts the token can reach
  // -------------------------------------------------------------------------------------------------

  function managedPages(userId: string): FakePage[] {
    const out: FakePage[] = [];
    for (const record of pages.values()) if (record.managers.has(userId)) out.push(record.page);
    return out;
  }

  function canReachPage(token: TokenRecord, pageId: string): boolean {
    if (token.kind === "PAGE") return token.pageId === pageId;
    return pages.get(pageId)?.managers.has(token.userId) ?? false;
  }

  function tasksOn(token: TokenRecord, pageId: string): string[] {
    return pages.get(pageId)?.managers.get(token.userId) ?? [];
  }

  function igUserOfPage(pageId: string): IgUserRecord | undefined {
    for (const ig of igUsers.values()) if (ig.pageId === pageId) return ig;
    return undefined;
  }

  /**
   * Instagram through Facebook Login: the documented token is the app user's User token, for someone
   * who can perform tasks on the Page linked to the IG account. The token of that linked Page is
   * accepted too, as the real API does (the seed plugin published with it). Any other token gets the
   * "does not exist or missing permissions" answer.
   * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
   */
  function canReachIgUser(token: TokenRecord, igUserId: string): boolean {
    const ig = igUsers.get(igUserId);
    return ig !== undefined && canReachPage(token, ig.pageId);
  }

  function requireScopes(token: TokenRecord, scopes: string[], code: 10 | 200 = 10): void {
    const missing = hasScopes(token, scopes);
    if (missing.length === 0) return;
    const names = missing.map((scope) => `'${scope}'`).join(" and ");
    throw graphError(
      code,
      `(#${code}) This endpoint requires the ${names} permission${missing.length > 1 ? "s" : ""}`,
    );
  }

  /**
   * Publishing as a Page needs a Page token with pages_manage_posts and pages_read_engagement from
   * someone who can perform CREATE_CONTENT on it; otherwise the API answers this exact 200.
   * https://developers.facebook.com/docs/pages-api/posts
   */
  function requirePagePublisher(ctx: ApiContext, pageId: string, extraScopes: string[] = []): void {
    if (!canReachPage(ctx.token, pageId)) throw unsupportedRequest("POST", pageId);
    const missing = hasScopes(ctx.token, ["pages_read_engagement", "pages_manage_posts", ...extraScopes]);
    const tasks = tasksOn(ctx.token, pageId);
    if (ctx.token.kind !== "PAGE" || missing.length > 0 || !tasks.includes("CREATE_CONTENT")) {
      const extra = extraScopes.length > 0 ? ` and ${extraScopes.join(" and ")}` : "";
      throw graphError(
        200,
        `(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts${extra} as an admin with sufficient administrative permission`,
        missing.length > 0 ? { userMessage: `Missing permission: ${missing.join(", ")}` } : {},
      );
    }
  }

  /** Instagram content publishing: instagram_basic, instagram_content_publish, pages_read_engagement. */
  function requireIgPublisher(ctx: ApiContext, igUserId: string): IgUserRecord {
    const ig = igUsers.get(igUserId);
    if (!ig || !canReachIgUser(ctx.token, igUserId)) throw unsupportedRequest(ctx.method, igUserId);
    // https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
    requireScopes(ctx.token, ["instagram_basic", "instagram_content_publish", "pages_read_engagement"]);
    ctx.buc = { id: igUserId, type: "instagram" };
    return ig;
  }

  // -------------------------------------------------------------------------------------------------
  // Graph nodes
  // -------------------------------------------------------------------------------------------------

  function pictureOf(id: string) {
    return () => ({
      data: {
        height: 50,
        width: 50,
        is_silhouette: false,
        url: `https://scontent.example/${id}/picture.jpg`,
      },
    });
  }

  function userNode(user: FakeUser): GraphNode {
    return {
      type: "User",
      defaults: ["id", "name"],
      fields: { id: () => user.id, name: () => user.name, picture: pictureOf(user.id) },
    };
  }

  function igUserNode(ig: IgUserRecord): GraphNode {
    const published = [...media.values()].filter((m) => m.igUserId === ig.id);
    return {
      type: "IGUser",
      defaults: ["id"],
      fields: {
        id: () => ig.id,
        username: () => ig.username,
        name: () => ig.name,
        profile_picture_url: () => `https://scontent.example/${ig.id}/profile.jpg`,
        biography: () => "",
        website: () => "",
        followers_count: () => 0,
        follows_count: () => 0,
        media_count: () => published.length,
      },
    };
  }

  function pageNode(page: FakePage, ctx: ApiContext): GraphNode {
    const ig = igUserOfPage(page.id);
    const igField = (nested: Selection | null) =>
      ig ? render(igUserNode(ig), nested ?? new Map([["id", null]])) : undefined;
    return {
      type: "Page",
      defaults: ["id", "name"],
      fields: {
        id: () => page.id,
        name: () => page.name,
        category: () => page.category ?? "Local business",
        category_list: () => [{ id: "2500", name: page.category ?? "Local business" }],
        link: () => `https://www.facebook.com/${page.id}`,
        fan_count: () => 0,
        followers_count: () => 0,
        picture: pictureOf(page.id),
        instagram_business_account: igField,
        connected_instagram_account: igField,
        tasks: () => tasksOn(ctx.token, page.id),
        // A Page token is handed out only against a user token of someone who manages the Page.
        access_token: () =>
          ctx.token.kind === "USER" && canReachPage(ctx.token, page.id)
            ? pageTokenOf(ctx.token, page.id).value
            : undefined,
      },
    };
  }

  function postPermalink(post: FakePost): string {
    const local = post.id.split("_")[1] ?? post.id;
    return `https://www.facebook.com/${post.pageId}/posts/${local}`;
  }

  function postNode(post: FakePost): GraphNode {
    const page = pages.get(post.pageId)?.page;
    return {
      type: "Post",
      defaults: ["created_time", "message", "id"],
      fields: {
        id: () => post.id,
        message: () => post.message ?? undefined,
        created_time: () => graphTime(post.createdTime),
        updated_time: () => graphTime(post.createdTime),
        permalink_url: () => postPermalink(post),
        is_published: () => post.published,
        status_type: () =>
          post.attachedMedia.length > 0
            ? "added_photos"
            : post.link
              ? "shared_story"
              : "mobile_status_update",
        from: () => ({ id: post.pageId, name: page?.name ?? "" }),
        link: () => post.link ?? undefined,
        attachments: () => attachmentsOf(post),
      },
    };
  }

  /**
   * A post's attachments: the photo, the album of attached photos with their ids as
   * `subattachments[].target.id`, the video, or the shared link. The fake answers the whole
   * attachment whatever nested fields are asked.
   * https://developers.facebook.com/docs/graph-api/reference/story-attachment/
   */
  function attachmentsOf(post: FakePost): { data: Array<Record<string, unknown>> } | undefined {
    const photoUrl = (id: string) => `https://www.facebook.com/photo/?fbid=${id}`;
    const video = [...videos.values()].find((v) => v.postId === post.id);
    if (video) {
      const url = `https://www.facebook.com${videoPermalink(video)}`;
      return { data: [{ media_type: "video", type: "video_inline", target: { id: video.id, url }, url }] };
    }
    const [only, ...more] = post.attachedMedia;
    if (only !== undefined && more.length === 0) {
      return { data: [{ media_type: "photo", type: "photo", target: { id: only, url: photoUrl(only) } }] };
    }
    if (only !== undefined) {
      const subattachments = post.attachedMedia.map((id) => ({
        media_type: "photo",
        type: "photo",
        target: { id, url: photoUrl(id) },
      }));
      return { data: [{ media_type: "album", type: "album", subattachments: { data: subattachments } }] };
    }
    if (post.link) return { data: [{ media_type: "link", type: "share", url: post.link }] };
    return undefined;
  }

  /** Video permalinks come back relative to www.facebook.com, as the real API answers them. */
  function videoPermalink(video: FakeVideo): string {
    return `/${video.pageId}/videos/${video.id}/`;
  }

  function photoNode(photo: FakePhoto): GraphNode {
    return {
      type: "Photo",
      defaults: ["id"],
      fields: {
        id: () => photo.id,
        name: () => photo.caption ?? undefined,
        created_time: () => graphTime(photo.createdTime),
        page_story_id: () => photo.postId ?? undefined,
        link: () => `https://www.facebook.com/photo/?fbid=${photo.id}`,
      },
    };
  }

  function videoNode(video: FakeVideo): GraphNode {
    return {
      type: "Video",
      defaults: ["id"],
      fields: {
        id: () => video.id,
        description: () => video.description ?? undefined,
        permalink_url: () => videoPermalink(video),
        post_id: () => video.postId,
        status: () => ({ video_status: "ready" }),
      },
    };
  }

  function containerStatus(container: FakeContainer): ContainerStatus {
    if (container.mediaId) return "PUBLISHED";
    const forced = containerForced.get(container.id);
    if (forced) return forced;
    if (now() - container.createdAt >= CONTAINER_LIFETIME) return "EXPIRED";
    // Meta fetches the media while processing; a file it cannot fetch or read ends the container in ERROR.
    const urls = [container.imageUrl, container.videoUrl].filter((url): url is string => url !== null);
    const rejected = (url: string) =>
      rejectedMediaUrls.some((pattern) =>
        typeof pattern === "string" ? pattern === url : pattern.test(url),
      );
    if (urls.some(rejected)) return "ERROR";
    const byTime = readyAfterMs !== undefined && now() - container.createdAt >= readyAfterMs;
    return byTime || container.polls >= readyAfterPolls ? "FINISHED" : "IN_PROGRESS";
  }

  /**
   * status_code is one of EXPIRED, ERROR, FINISHED, IN_PROGRESS, PUBLISHED; when it is ERROR, `status`
   * carries the error subcode. The human texts of `status` are as observed, not documented.
   * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
   */
  function containerNode(container: FakeContainer): GraphNode {
    const statusText: Record<ContainerStatus, string> = {
      IN_PROGRESS: "In Progress: Media is still being processed.",
      FINISHED: "Finished: Media has been uploaded and it is ready to be published.",
      PUBLISHED: "Published: Media has been successfully published.",
      EXPIRED: "Expired: Media was not published within 24 hours.",
      ERROR: "Error: Media upload has failed with error code 2207052",
    };
    return {
      type: "IGContainer",
      defaults: ["id"],
      fields: {
        id: () => container.id,
        status_code: () => containerStatus(container),
        status: () => statusText[containerStatus(container)],
      },
    };
  }

  function mediaNode(item: FakeMedia): GraphNode {
    const ig = igUsers.get(item.igUserId);
    return {
      type: "IGMedia",
      defaults: ["id"],
      fields: {
        id: () => item.id,
        caption: () => item.caption ?? undefined,
        media_type: () => item.mediaType,
        media_product_type: () => item.productType,
        permalink: () => item.permalink,
        shortcode: () => item.permalink.split("/").filter(Boolean).pop(),
        timestamp: () => graphTime(item.timestamp),
        username: () => ig?.username,
        owner: () => ({ id: item.igUserId }),
      },
    };
  }

  // -------------------------------------------------------------------------------------------------
  // Paging: cursor-based, `limit` default 25, `next` only while more remain.
  // https://developers.facebook.com/docs/graph-api/results
  // -------------------------------------------------------------------------------------------------

  function pageOf<T extends { id: string }>(
    ctx: ApiContext,
    items: T[],
    toJson: (item: T) => Record<string, unknown>,
    basePath: string,
  ): Record<string, unknown> {
    const paging = readParams(PagingParams, ctx.params);
    const limit = Math.min(paging.limit ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    let start = 0;
    if (paging.after !== undefined) {
      const index = items.findIndex((item) => item.id === uncursor(paging.after ?? ""));
      if (index < 0) throw invalidParameter("(#100) The after cursor is invalid");
      start = index + 1;
    } else if (paging.before !== undefined) {
      const index = items.findIndex((item) => item.id === uncursor(paging.before ?? ""));
      if (index < 0) throw invalidParameter("(#100) The before cursor is invalid");
      start = Math.max(0, index - limit);
    }
    const slice = items.slice(start, start + limit);
    const data = slice.map(toJson);
    if (slice.length === 0) return { data };
    const first = slice[0];
    const last = slice[slice.length - 1];
    const cursors = { before: cursor(first?.id ?? ""), after: cursor(last?.id ?? "") };
    const link = (key: "after" | "before", value: string) => {
      const query = new URLSearchParams();
      query.set("access_token", ctx.rawToken);
      if (typeof ctx.params.fields === "string") query.set("fields", ctx.params.fields);
      query.set("limit", String(limit));
      for (const extra of ["since", "until"]) {
        const v = ctx.params[extra];
        if (typeof v === "string" || typeof v === "number") query.set(extra, String(v));
      }
      query.set(key, value);
      return `${server.url}/${ctx.version}/${basePath}?${query}`;
    };
    const pagingOut: Record<string, unknown> = { cursors };
    if (start > 0) pagingOut.previous = link("before", cursors.before);
    if (start + limit < items.length) pagingOut.next = link("after", cursors.after);
    return { data, paging: pagingOut };
  }

  // -------------------------------------------------------------------------------------------------
  // OAuth: the Login dialog, code exchange, long-lived exchange, debug_token
  // https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
  // -------------------------------------------------------------------------------------------------

  function dialog(params: Params): Outcome {
    const input = readParams(DialogParams, params);
    if (input.client_id !== appId) {
      // An unknown app gets Facebook's error page, never a redirect to a caller-chosen URL.
      return {
        kind: "html",
        status: 200,
        html: htmlPage("Invalid App ID", "The provided app ID does not look like a valid app ID."),
      };
    }
    const redirectUri = input.redirect_uri;
    let redirect: URL | null = null;
    try {
      redirect = redirectUri ? new URL(redirectUri) : null;
    } catch {
      redirect = null;
    }
    if (!redirect || !redirectUri) {
      return { kind: "html", status: 200, html: htmlPage("Error", "Invalid redirect_uri parameter.") };
    }
    if (options.redirectUris && !options.redirectUris.includes(redirectUri)) {
      return {
        kind: "html",
        status: 200,
        html: htmlPage(
          "URL blocked",
          "This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.",
        ),
      };
    }
    if (input.response_type !== undefined && input.response_type !== "code") {
      return {
        kind: "html",
        status: 200,
        html: htmlPage("Error", "This fake only answers response_type=code."),
      };
    }
    const answer = dialogAnswer;
    dialogAnswer = null;
    if (!answer) {
      return {
        kind: "html",
        status: 200,
        html: htmlPage(
          "Log in to Facebook",
          "Nobody is logged in: call setDialogAnswer() before opening the dialog.",
        ),
      };
    }
    const query = new URLSearchParams(redirect.search);
    if ("error" in answer) {
      // "YOUR_REDIRECT_URI?error_reason=user_denied&error=access_denied&error_description=Permissions+error"
      query.set("error", "access_denied");
      query.set("error_code", "200");
      query.set("error_description", "Permissions error");
      query.set("error_reason", "user_denied");
    } else {
      const record = users.get(answer.userId);
      if (!record) throw new Error(`the dialog answer names an unknown user ${answer.userId}`);
      // The person grants what was asked and what they hold: the intersection. A permission the app
      // asked for but the person does not grant is "declined". public_profile is always granted.
      const requested = (input.scope ?? "")
        .split(/[\s,]+/)
        .map((s) => s.trim())
        .filter(Boolean);
      for (const scope of ["public_profile", ...requested]) {
        const holds = scope === "public_profile" || record.user.permissions.includes(scope);
        if (holds && !record.granted.includes(scope)) record.granted.push(scope);
        if (!holds && !record.declined.includes(scope)) record.declined.push(scope);
        if (holds) record.declined = record.declined.filter((d) => d !== scope);
      }
      record.authorizedAt = now();
      const code: CodeRecord = {
        value: opaque("AQ", 96),
        clientId: appId,
        userId: record.user.id,
        redirectUri,
        issuedAt: now(),
        used: false,
      };
      codes.set(code.value, code);
      query.set("code", code.value);
    }
    if (input.state !== undefined) query.set("state", input.state);
    redirect.search = query.toString();
    return { kind: "redirect", location: redirect.toString() };
  }

  function checkClient(clientId: string | undefined, clientSecret: string | undefined): void {
    if (clientId === undefined) throw graphError(101, "Missing client_id parameter.");
    if (clientId !== appId) throw graphError(101, "Error validating application. Invalid application ID.");
    // "Error validating client secret." is code 1 on the real API.
    if (clientSecret !== appSecret) throw graphError(1, "Error validating client secret.", { status: 400 });
  }

  function tokenEndpoint(params: Params): Outcome {
    const input = readParams(CodeExchangeParams, params);
    checkClient(input.client_id, input.client_secret);

    if (input.grant_type === "client_credentials") {
      return {
        kind: "json",
        status: 200,
        body: { access_token: `${appId}|${appSecret}`, token_type: "bearer" },
      };
    }

    if (input.grant_type === "fb_exchange_token") {
      // https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
      if (!input.fb_exchange_token) throw invalidParameter("Missing fb_exchange_token parameter");
      const source = authenticate(input.fb_exchange_token);
      // The documented input is a User token. Exchanging a Page token is not a documented path (the
      // seed plugin "refreshed" Page tokens this way); the fake refuses it so the mistake shows.
      if (source.kind !== "USER") {
        throw invalidParameter("(#100) fb_exchange_token must be a User access token");
      }
      const token = issueUserToken(source.userId, true);
      return {
        kind: "json",
        status: 200,
        body: {
          access_token: token.value,
          token_type: "bearer",
          expires_in: seconds(token.expiresAt - now()),
        },
      };
    }

    if (input.grant_type !== undefined && input.grant_type !== "authorization_code") {
      throw invalidParameter(`(#100) Unsupported grant_type ${input.grant_type}`);
    }
    if (!input.code) throw invalidParameter("Missing code parameter.");
    const code = codes.get(input.code);
    if (!code || code.clientId !== input.client_id)
      throw invalidParameter("Invalid verification code format.");
    if (code.used) throw graphError(100, "This authorization code has been used.", { subcode: 36009 });
    if (now() - code.issuedAt > AUTHORIZATION_CODE_LIFETIME) {
      throw graphError(100, "This authorization code has expired.", { subcode: 36007 });
    }
    // The redirect_uri must be byte-for-byte the one the dialog saw.
    if (input.redirect_uri !== code.redirectUri) {
      throw graphError(
        100,
        "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
        { subcode: 36008 },
      );
    }
    code.used = true;
    const token = issueUserToken(code.userId, false);
    return {
      kind: "json",
      status: 200,
      body: { access_token: token.value, token_type: "bearer", expires_in: seconds(token.expiresAt - now()) },
    };
  }

  /**
   * debug_token with an app token (APP_ID|APP_SECRET) or a valid token of the same app. An invalid
   * input token is still a 200 answer, with is_valid:false and an `error` object inside `data`.
   * https://developers.facebook.com/docs/facebook-login/guides/access-tokens/debugging
   */
  function debugToken(params: Params, rawAccessToken: string | undefined): Outcome {
    if (!rawAccessToken) throw graphError(104, "An access token is required to request this resource.");
    if (rawAccessToken !== `${appId}|${appSecret}`) {
      if (rawAccessToken.includes("|")) throw graphError(190, "Invalid OAuth access token signature.");
      authenticate(rawAccessToken);
    }
    const inputToken = params.input_token;
    if (typeof inputToken !== "string" || inputToken === "") {
      throw invalidParameter("(#100) The parameter input_token is required");
    }
    const token = tokens.get(inputToken);
    if (!token) {
      return {
        kind: "json",
        status: 200,
        body: {
          data: {
            error: { code: 190, message: "Invalid OAuth access token - Cannot parse access token" },
            is_valid: false,
            scopes: [],
          },
        },
      };
    }
    const record = users.get(token.userId);
    const problem = tokenProblem(token);
    const scopes = problem?.subcode === 458 ? [] : grantedScopes(token);
    const pageIds = managedPages(token.userId).map((page) => page.id);
    const igIds = pageIds.map((id) => igUserOfPage(id)?.id).filter((id): id is string => id !== undefined);
    const granular = scopes
      .filter(
        (scope) =>
          scope.startsWith("pages_") || scope.startsWith("instagram_") || scope === "business_management",
      )
      .map((scope) => ({ scope, target_ids: scope.startsWith("instagram_") ? igIds : pageIds }));
    const data: Record<string, unknown> = {
      app_id: appId,
      type: token.kind,
      application: appName,
      data_access_expires_at: seconds((record?.authorizedAt ?? token.issuedAt) + DATA_ACCESS_LIFETIME),
      expires_at: effectiveExpiry(token) === 0 ? 0 : seconds(effectiveExpiry(token)),
      is_valid: problem === null,
      scopes,
      granular_scopes: granular,
      user_id: token.userId,
    };
    // "For long-lived access tokens the issued_at field is also returned."
    if (token.longLived) data.issued_at = seconds(token.issuedAt);
    if (token.kind === "PAGE") data.profile_id = token.pageId;
    if (problem) data.error = { code: 190, message: problem.message, subcode: problem.subcode };
    return { kind: "json", status: 200, body: { data } };
  }

  // -------------------------------------------------------------------------------------------------
  // The API proper
  // -------------------------------------------------------------------------------------------------

  function api(ctx: ApiContext): Outcome {
    const [head, edge, ...rest] = ctx.segments;
    if (!head) throw graphError(100, "(#100) Missing object id", {});
    const token = ctx.token;
    const isMe = head === "me";
    const meId = token.kind === "PAGE" ? (token.pageId ?? "") : token.userId;
    const id = isMe ? meId : head;
    const ok = (body: unknown): Outcome => ({ kind: "json", status: 200, body });

    // --- the user -----------------------------------------------------------------------------------
    const userRecord = users.get(id);
    if (userRecord && token.kind === "USER" && token.userId === id) {
      if (edge === undefined && ctx.method === "GET")
        return ok(render(userNode(userRecord.user), selectionOf(ctx.params)));
      if (edge === "accounts" && ctx.method === "GET") return ok(listAccounts(ctx, userRecord));
      if (edge === "permissions") return ok(permissions(ctx, userRecord, rest[0]));
    }

    // --- a Page -------------------------------------------------------------------------------------
    const pageRecord = pages.get(id);
    if (pageRecord && canReachPage(token, id)) {
      const page = pageRecord.page;
      if (token.kind === "PAGE") ctx.buc = { id, type: "pages" };
      if (edge === undefined && ctx.method === "GET")
        return ok(render(pageNode(page, ctx), selectionOf(ctx.params)));
      if (edge === "feed" && ctx.method === "POST") return ok(publishFeedPost(ctx, page.id));
      if (edge === "feed" && ctx.method === "GET") return ok(readFeed(ctx, page.id));
      if (edge === "posts" && ctx.method === "GET") return ok(readFeed(ctx, page.id, "posts"));
      if (edge === "photos" && ctx.method === "POST") return ok(publishPhoto(ctx, page.id));
      if (edge === "photos" && ctx.method === "GET") return ok(readPhotos(ctx, page.id));
      if (edge === "videos" && ctx.method === "POST") return ok(publishVideo(ctx, page.id));
      if (edge !== undefined)
        throw graphError(2500, `Unknown path components: /${[edge, ...rest].join("/")}`);
    }

    // --- an Instagram professional account ----------------------------------------------------------
    const ig = igUsers.get(id);
    if (ig && canReachIgUser(token, id)) {
      ctx.buc = { id, type: "instagram" };
      if (edge === undefined && ctx.method === "GET") {
        requireScopes(token, ["instagram_basic"]);
        return ok(render(igUserNode(ig), selectionOf(ctx.params)));
      }
      if (edge === "media" && ctx.method === "POST") return ok(createContainer(ctx, id));
      if (edge === "media" && ctx.method === "GET") return ok(listMedia(ctx, id, "media"));
      if (edge === "stories" && ctx.method === "GET") return ok(listMedia(ctx, id, "stories"));
      if (edge === "media_publish" && ctx.method === "POST") return ok(publishContainer(ctx, id));
      if (edge === "content_publishing_limit" && ctx.method === "GET") return ok(publishingLimit(ctx, id));
      if (edge !== undefined)
        throw graphError(2500, `Unknown path components: /${[edge, ...rest].join("/")}`);
    }

    // --- a Page post, photo or video ----------------------------------------------------------------
    const post = posts.get(id);
    if (post && !post.deleted && canReachPage(token, post.pageId)) {
      if (token.kind === "PAGE") ctx.buc = { id: post.pageId, type: "pages" };
      if (edge === undefined && ctx.method === "GET") {
        requireScopes(token, ["pages_read_engagement"]);
        return ok(render(postNode(post), selectionOf(ctx.params)));
      }
      if (edge === undefined && ctx.method === "DELETE") {
        // https://developers.facebook.com/docs/pages-api/posts#delete-a-post
        requirePagePublisher(ctx, post.pageId);
        post.deleted = true;
        // The photos of a deleted post go with it.
        for (const photoId of post.attachedMedia) {
          const attached = photos.get(photoId);
          if (attached) attached.deleted = true;
        }
        return ok({ success: true });
      }
      if (edge === "comments" && ctx.method === "POST") return ok(commentAsPage(ctx, post.pageId, post.id));
    }
    const photo = photos.get(id);
    if (photo && !photo.deleted && canReachPage(token, photo.pageId)) {
      if (token.kind === "PAGE") ctx.buc = { id: photo.pageId, type: "pages" };
      if (edge === undefined && ctx.method === "GET")
        return ok(render(photoNode(photo), selectionOf(ctx.params)));
      if (edge === undefined && ctx.method === "DELETE") {
        // "You can delete a Photo": with a Page token of someone who can CREATE_CONTENT, published or not.
        // https://developers.facebook.com/docs/graph-api/reference/photo/#Deleting
        requirePagePublisher(ctx, photo.pageId);
        photo.deleted = true;
        return ok({ success: true });
      }
      if (edge === "comments" && ctx.method === "POST" && photo.published) {
        return ok(commentAsPage(ctx, photo.pageId, photo.id));
      }
    }
    const video = videos.get(id);
    if (video && !video.deleted && canReachPage(token, video.pageId)) {
      if (token.kind === "PAGE") ctx.buc = { id: video.pageId, type: "pages" };
      if (edge === undefined && ctx.method === "GET")
        return ok(render(videoNode(video), selectionOf(ctx.params)));
      if (edge === undefined && ctx.method === "DELETE") {
        // https://developers.facebook.com/docs/graph-api/reference/video/#Deleting
        requirePagePublisher(ctx, video.pageId);
        video.deleted = true;
        const videoPost = posts.get(video.postId);
        if (videoPost) videoPost.deleted = true;
        return ok({ success: true });
      }
      if (edge === "comments" && ctx.method === "POST") return ok(commentAsPage(ctx, video.pageId, video.id));
    }

    // --- an Instagram container or media ------------------------------------------------------------
    const container = containers.get(id);
    if (
      container &&
      canReachIgUser(token, container.igUserId) &&
      edge === undefined &&
      ctx.method === "GET"
    ) {
      requireScopes(token, ["instagram_basic"]);
      ctx.buc = { id: container.igUserId, type: "instagram" };
      const selection = selectionOf(ctx.params);
      // A poll is a read of the container's status; processing finishes after enough of them.
      if (selection?.has("status_code") || selection?.has("status")) container.polls += 1;
      return ok(render(containerNode(container), selection));
    }
    const item = media.get(id);
    if (item && canReachIgUser(token, item.igUserId)) {
      ctx.buc = { id: item.igUserId, type: "instagram" };
      if (edge === undefined && ctx.method === "GET") {
        requireScopes(token, ["instagram_basic"]);
        return ok(render(mediaNode(item), selectionOf(ctx.params)));
      }
      if (edge === "comments" && ctx.method === "POST") return ok(commentOnMedia(ctx, item));
    }

    throw unsupportedRequest(ctx.method, id);
  }

  /** GET /me/accounts: the Pages the person manages, with Page tokens; needs pages_show_list. */
  function listAccounts(ctx: ApiContext, record: UserRecord): Record<string, unknown> {
    // https://developers.facebook.com/docs/pages-api/getting-started
    requireScopes(ctx.token, ["pages_show_list"]);
    const selection =
      selectionOf(ctx.params) ??
      new Map(
        ["access_token", "category", "category_list", "name", "id", "tasks"].map((name) => [name, null]),
      );
    return pageOf(
      ctx,
      managedPages(record.user.id),
      (page) => render(pageNode(page, ctx), selection),
      `${record.user.id}/accounts`,
    );
  }

  /**
   * GET /me/permissions lists granted and declined permissions; DELETE revokes one or all. After a
   * full revoke every token of that person for this app fails with 190.
   * https://developers.facebook.com/docs/facebook-login/guides/permissions/request-revoke
   */
  function permissions(ctx: ApiContext, record: UserRecord, single: string | undefined): unknown {
    if (ctx.method === "GET") {
      return {
        data: [
          ...record.granted.map((permission) => ({ permission, status: "granted" })),
          ...record.declined.map((permission) => ({ permission, status: "declined" })),
        ],
      };
    }
    if (ctx.method !== "DELETE") throw unsupportedRequest(ctx.method, "permissions");
    if (single) {
      record.granted = record.granted.filter((scope) => scope !== single);
      return { success: true };
    }
    record.granted = [];
    record.declined = [];
    record.epoch += 1;
    return { success: true };
  }

  /**
   * POST /{page-id}/feed: message, link, attached_media[i]={"media_fbid": ...}, published.
   * https://developers.facebook.com/docs/pages-api/posts
   * https://developers.facebook.com/docs/graph-api/reference/page/feed#publish
   */
  function publishFeedPost(ctx: ApiContext, pageId: string): Record<string, unknown> {
    requirePagePublisher(ctx, pageId);
    const input = readParams(FeedPostParams, ctx.params);
    const attached = listParam(ctx.params, "attached_media", false).map((entry) => {
      const parsed = AttachedMedia.safeParse(entry);
      if (!parsed.success)
        throw invalidParameter("(#100) param attached_media must be an array of {media_fbid}");
      return parsed.data.media_fbid;
    });
    for (const mediaId of attached) {
      const photo = photos.get(mediaId);
      // Only this Page's own unpublished photos can be attached, each once.
      if (
        !photo ||
        photo.deleted ||
        photo.pageId !== pageId ||
        photo.published ||
        photo.attachedTo !== null
      ) {
        throw invalidParameter(`(#100) param attached_media has an invalid media_fbid ${mediaId}`);
      }
    }
    if (!input.message && !input.link && attached.length === 0) {
      throw invalidParameter("(#100) Missing message or attachment");
    }
    // "Duplicate posts cannot be published consecutively" (506): a blind retry of a text post that
    // already went through is refused rather than doubled.
    // https://developers.facebook.com/docs/graph-api/guides/error-handling
    const previous = [...posts.values()].filter((p) => p.pageId === pageId && !p.deleted).pop();
    if (
      previous &&
      input.message &&
      !input.link &&
      attached.length === 0 &&
      previous.message === input.message &&
      previous.link === null &&
      previous.attachedMedia.length === 0
    ) {
      throw graphError(506, "(#506) Duplicate status message");
    }
    const post: FakePost = {
      id: `${pageId}_${nextId()}`,
      pageId,
      message: input.message ?? null,
      link: input.link ?? null,
      attachedMedia: attached,
      published: input.published ?? true,
      createdTime: now(),
      deleted: false,
    };
    posts.set(post.id, post);
    for (const mediaId of attached) {
      const photo = photos.get(mediaId);
      if (photo) photo.attachedTo = post.id;
    }
    return { id: post.id };
  }

  /**
   * POST /{page-id}/photos: url (or a `source` upload), caption/message, published. published=false
   * makes an unpublished photo whose id goes into attached_media.
   * https://developers.facebook.com/docs/graph-api/reference/page/photos#upload
   */
  function publishPhoto(ctx: ApiContext, pageId: string): Record<string, unknown> {
    requirePagePublisher(ctx, pageId);
    const input = readParams(PhotoParams, ctx.params);
    if (!input.url && input.source === undefined)
      throw invalidParameter("(#100) No photo url or source given");
    if (input.url !== undefined && !/^https?:\/\//.test(input.url)) {
      throw invalidParameter("(#100) url should represent a valid URL");
    }
    const published = input.published ?? true;
    const photo: FakePhoto = {
      id: nextId(),
      pageId,
      url: input.url ?? null,
      caption: input.caption ?? input.message ?? null,
      published,
      postId: null,
      attachedTo: null,
      createdTime: now(),
      deleted: false,
    };
    photos.set(photo.id, photo);
    if (!published) return { id: photo.id };
    const post: FakePost = {
      id: `${pageId}_${nextId()}`,
      pageId,
      message: photo.caption,
      link: null,
      attachedMedia: [photo.id],
      published: true,
      createdTime: now(),
      deleted: false,
    };
    posts.set(post.id, post);
    photo.postId = post.id;
    return { id: photo.id, post_id: post.id };
  }

  /**
   * POST /{page-id}/videos with file_url (or source) and description; also needs publish_video.
   * https://developers.facebook.com/docs/video-api/guides/publishing
   */
  function publishVideo(ctx: ApiContext, pageId: string): Record<string, unknown> {
    requirePagePublisher(ctx, pageId, ["publish_video"]);
    const input = readParams(VideoParams, ctx.params);
    if (!input.file_url && input.source === undefined)
      throw invalidParameter("(#100) No file_url or source given");
    const post: FakePost = {
      id: `${pageId}_${nextId()}`,
      pageId,
      message: input.description ?? null,
      link: null,
      attachedMedia: [],
      published: true,
      createdTime: now(),
      deleted: false,
    };
    const video: FakeVideo = {
      id: nextId(),
      pageId,
      fileUrl: input.file_url ?? null,
      description: input.description ?? null,
      postId: post.id,
      deleted: false,
    };
    posts.set(post.id, post);
    videos.set(video.id, video);
    return { id: video.id };
  }

  /**
   * GET /{page-id}/feed and /{page-id}/posts: the Page's published posts, newest first; `since` and
   * `until` in Unix seconds or any strtotime() text. The fake's Pages have only their own posts, so
   * both edges answer the same list (/feed would add visitors' posts).
   * https://developers.facebook.com/docs/graph-api/reference/page/feed#read
   */
  function readFeed(
    ctx: ApiContext,
    pageId: string,
    edge: "feed" | "posts" = "feed",
  ): Record<string, unknown> {
    requireScopes(ctx.token, ["pages_read_engagement"]);
    const input = readParams(FeedReadParams, ctx.params);
    const selection = selectionOf(ctx.params);
    const items = [...posts.values()]
      .filter((post) => post.pageId === pageId && post.published && !post.deleted)
      .filter((post) => input.since === undefined || seconds(post.createdTime) >= input.since)
      .filter((post) => input.until === undefined || seconds(post.createdTime) <= input.until)
      .reverse();
    return pageOf(ctx, items, (post) => render(postNode(post), selection), `${pageId}/${edge}`);
  }

  /**
   * GET /{page-id}/photos: profile pictures by default, every photo the Page uploaded with
   * type=uploaded. The fake has no profile pictures, and lists uploaded photos once they are visible
   * (published, or attached to a post); unpublished ones are not listed.
   * https://developers.facebook.com/docs/graph-api/reference/page/photos#read
   */
  function readPhotos(ctx: ApiContext, pageId: string): Record<string, unknown> {
    requireScopes(ctx.token, ["pages_read_engagement"]);
    const selection = selectionOf(ctx.params);
    const uploaded = ctx.params.type === "uploaded";
    const items = uploaded
      ? [...photos.values()]
          .filter((p) => p.pageId === pageId && !p.deleted && (p.published || p.attachedTo !== null))
          .reverse()
      : [];
    return pageOf(ctx, items, (photo) => render(photoNode(photo), selection), `${pageId}/photos`);
  }

  /**
   * POST /{object-id}/comments as the Page: a Page token and pages_manage_engagement.
   * https://developers.facebook.com/docs/graph-api/reference/object/comments#publish
   */
  function commentAsPage(ctx: ApiContext, pageId: string, objectId: string): Record<string, unknown> {
    if (ctx.token.kind !== "PAGE" || ctx.token.pageId !== pageId) throw unsupportedRequest("POST", objectId);
    requireScopes(ctx.token, ["pages_manage_engagement", "pages_read_engagement"], 200);
    const message = readParams(z.object({ message: stringParam.optional() }), ctx.params).message;
    if (!message) throw invalidParameter("(#100) The parameter message is required");
    const comment: FakeComment = {
      id: `${objectId.split("_").pop()}_${nextId()}`,
      objectId,
      platform: "facebook",
      message,
      createdTime: now(),
    };
    comments.set(comment.id, comment);
    return { id: comment.id };
  }

  /**
   * POST /{ig-media-id}/comments: instagram_basic, instagram_manage_comments, pages_read_engagement.
   * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments
   * Stories take no comments (replies to a story are direct messages); Meta documents no error for
   * trying, so the fake answers a plain 100.
   */
  function commentOnMedia(ctx: ApiContext, item: FakeMedia): Record<string, unknown> {
    requireScopes(ctx.token, ["instagram_basic", "instagram_manage_comments", "pages_read_engagement"]);
    const message = readParams(z.object({ message: stringParam.optional() }), ctx.params).message;
    if (!message) throw invalidParameter("(#100) The parameter message is required");
    if (item.productType === "STORY") throw invalidParameter("(#100) Comments are not supported on stories");
    const comment: FakeComment = {
      id: nextId(),
      objectId: item.id,
      platform: "instagram",
      message,
      createdTime: now(),
    };
    comments.set(comment.id, comment);
    return { id: comment.id };
  }

  /**
   * POST /{ig-user-id}/media: an image (image_url), a reel (media_type=REELS, video_url), a story
   * (media_type=STORIES), a carousel item (is_carousel_item=true) or a carousel (media_type=CAROUSEL,
   * children). media_type=VIDEO is only for carousel items since November 9, 2023.
   * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
   * https://developers.facebook.com/docs/graph-api/changelog/out-of-cycle-changes/june-28-2022
   */
  function createContainer(ctx: ApiContext, igUserId: string): Record<string, unknown> {
    requireIgPublisher(ctx, igUserId);
    const input = readParams(ContainerParams, ctx.params);
    const mediaType = input.media_type?.toUpperCase();
    const isItem = input.is_carousel_item ?? false;
    let kind: FakeContainer["mediaType"];
    if (mediaType === undefined || mediaType === "IMAGE") kind = "IMAGE";
    else if (mediaType === "REELS" || mediaType === "STORIES" || mediaType === "CAROUSEL") kind = mediaType;
    else if (mediaType === "VIDEO" && isItem) kind = "VIDEO";
    else throw graphError(100, `The media type ${mediaType} is unknown.`, { subcode: 2207023 });

    const url =
      kind === "IMAGE"
        ? input.image_url
        : kind === "CAROUSEL"
          ? undefined
          : (input.video_url ?? input.image_url);
    if (kind === "IMAGE" && !input.image_url)
      throw invalidParameter("(#100) The parameter image_url is required");
    if ((kind === "REELS" || kind === "VIDEO") && !input.video_url) {
      throw invalidParameter("(#100) The parameter video_url is required");
    }
    if (kind === "STORIES" && !input.image_url && !input.video_url) {
      throw invalidParameter("(#100) The parameter image_url or video_url is required");
    }
    if (url !== undefined && !/^https?:\/\//.test(url)) {
      // Meta fetches the media itself; a URL it cannot fetch fails with 9004/2207052.
      throw graphError(9004, `The media could not be fetched from this uri: ${url}`, { subcode: 2207052 });
    }
    if (isItem && input.caption) {
      throw invalidParameter("(#100) Carousel items do not take a caption; set it on the carousel container");
    }
    if (input.caption && input.caption.length > CAPTION_MAX) {
      throw graphError(
        36004,
        `The submitted image's caption was ${input.caption.length} characters long. The maximum number of characters permitted for a caption is ${CAPTION_MAX}. Please submit media with a shorter caption.`,
        { subcode: 2207010 },
      );
    }
    if (input.caption && (input.caption.match(/@\w+/g) ?? []).length > MENTIONS_MAX) {
      throw graphError(100, `Cannot use more than ${MENTIONS_MAX} tags per created media.`, {
        subcode: 2207040,
      });
    }
    let children: string[] = [];
    if (kind === "CAROUSEL") {
      children = listParam(ctx.params, "children", true).map((child) => String(child));
      if (children.length < CAROUSEL_MIN || children.length > CAROUSEL_MAX) {
        throw graphError(
          100,
          "Your post won't work as a carousel. Carousels need at least 2 photos/videos and no more than 10 photos/videos.",
          { subcode: 2207028 },
        );
      }
      for (const childId of children) {
        const child = containers.get(childId);
        if (!child || child.igUserId !== igUserId || !child.isCarouselItem) {
          throw invalidParameter(
            `(#100) Invalid children: ${childId} is not a carousel item of this account`,
          );
        }
        // A carousel can only be assembled from children that finished processing.
        if (containerStatus(child) !== "FINISHED") {
          throw graphError(9007, "Media ID is not available", {
            subcode: 2207027,
            userTitle: "Media not ready",
            userMessage: "The media is not ready for publishing, please wait for a moment",
          });
        }
      }
    }
    const container: FakeContainer = {
      id: nextId(),
      igUserId,
      mediaType: kind,
      imageUrl: input.image_url ?? null,
      videoUrl: input.video_url ?? null,
      caption: input.caption ?? null,
      isCarouselItem: isItem,
      children,
      status: "IN_PROGRESS",
      polls: 0,
      createdAt: now(),
      mediaId: null,
    };
    containers.set(container.id, container);
    return { id: container.id };
  }

  function publishedWithinQuota(igUserId: string): number {
    const since = now() - PUBLISHING_QUOTA_WINDOW;
    return [...media.values()].filter((m) => m.igUserId === igUserId && m.timestamp > since).length;
  }

  /**
   * POST /{ig-user-id}/media_publish with creation_id. Only a FINISHED container publishes, once.
   * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish
   * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes
   */
  function publishContainer(ctx: ApiContext, igUserId: string): Record<string, unknown> {
    const ig = requireIgPublisher(ctx, igUserId);
    const { creation_id: creationId } = readParams(PublishParams, ctx.params);
    const container = containers.get(creationId);
    if (!container || container.igUserId !== igUserId) {
      throw graphError(24, `The media with ${creationId} cannot be found`, { subcode: 2207006 });
    }
    if (container.isCarouselItem) {
      throw invalidParameter("(#100) A carousel item cannot be published on its own; publish the carousel");
    }
    const status = containerStatus(container);
    if (status === "PUBLISHED") {
      // Meta documents no error for publishing a container twice. The fake answers as for a consumed
      // media builder (24/2207008) and never makes a second media; check status_code (PUBLISHED).
      throw graphError(
        24,
        `The media builder with creation id = ${creationId} does not exist or has been expired.`,
        {
          subcode: 2207008,
        },
      );
    }
    if (status === "IN_PROGRESS") {
      throw graphError(9007, "Media ID is not available", {
        subcode: 2207027,
        userTitle: "Media not ready",
        userMessage: "The media is not ready for publishing, please wait for a moment",
      });
    }
    if (status === "EXPIRED") {
      throw graphError(-2, "The media you are trying to access has expired. Please try to upload again.", {
        subcode: 2207020,
      });
    }
    if (status === "ERROR") {
      throw graphError(-1, "Create media fail, please try to re-create media", { subcode: 2207032 });
    }
    if (publishedWithinQuota(igUserId) >= PUBLISHING_QUOTA) {
      throw graphError(
        9,
        "You reached maximum number of posts that is allowed to be published by Content Publishing API.",
        { subcode: 2207042 },
      );
    }
    const shortcode = randomBytes(8).toString("base64url").slice(0, 11);
    const productType =
      container.mediaType === "REELS" ? "REELS" : container.mediaType === "STORIES" ? "STORY" : "FEED";
    const permalink =
      productType === "REELS"
        ? `https://www.instagram.com/reel/${shortcode}/`
        : productType === "STORY"
          ? `https://www.instagram.com/stories/${ig.username}/${shortcode}/`
          : `https://www.instagram.com/p/${shortcode}/`;
    const item: FakeMedia = {
      id: nextId(),
      igUserId,
      containerId: container.id,
      mediaType:
        container.mediaType === "CAROUSEL"
          ? "CAROUSEL_ALBUM"
          : container.mediaType === "IMAGE" ||
              (container.mediaType === "STORIES" && container.videoUrl === null)
            ? "IMAGE"
            : "VIDEO",
      productType,
      caption: container.caption,
      permalink,
      timestamp: now(),
    };
    media.set(item.id, item);
    container.mediaId = item.id;
    container.status = "PUBLISHED";
    return { id: item.id };
  }

  /**
   * GET /{ig-user-id}/media: published media, newest first, stories excluded; GET
   * /{ig-user-id}/stories: the stories of the last 24 hours.
   * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media#reading
   * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/stories
   */
  function listMedia(ctx: ApiContext, igUserId: string, edge: "media" | "stories"): Record<string, unknown> {
    requireScopes(ctx.token, ["instagram_basic"]);
    const selection = selectionOf(ctx.params);
    const items = [...media.values()]
      .filter((m) => m.igUserId === igUserId)
      .filter((m) =>
        edge === "stories"
          ? m.productType === "STORY" && now() - m.timestamp < DAY
          : m.productType !== "STORY",
      )
      .reverse();
    return pageOf(ctx, items, (item) => render(mediaNode(item), selection), `${igUserId}/${edge}`);
  }

  /**
   * GET /{ig-user-id}/content_publishing_limit: quota_usage by default; config on request.
   * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit
   */
  function publishingLimit(ctx: ApiContext, igUserId: string): Record<string, unknown> {
    requireIgPublisher(ctx, igUserId);
    const selection = selectionOf(ctx.params);
    const node: GraphNode = {
      type: "ContentPublishingLimitResponse",
      defaults: ["quota_usage"],
      fields: {
        quota_usage: () => publishedWithinQuota(igUserId),
        config: () => ({ quota_total: PUBLISHING_QUOTA, quota_duration: seconds(PUBLISHING_QUOTA_WINDOW) }),
        rate_limit_settings: () => ({
          quota_total: PUBLISHING_QUOTA,
          quota_duration: seconds(PUBLISHING_QUOTA_WINDOW),
        }),
      },
    };
    return { data: [render(node, selection)] };
  }

  // -------------------------------------------------------------------------------------------------
  // Usage headers
  // https://developers.facebook.com/docs/graph-api/overview/rate-limiting/
  // X-App-Usage: {"call_count":N,"total_cputime":N,"total_time":N} (percentages of the hourly budget).
  // X-Business-Use-Case-Usage: {"<id>":[{"type":"pages","call_count":N,"total_cputime":N,"total_time":N,
  //   "estimated_time_to_regain_access":MINUTES}]} for Page-token and Instagram calls.
  // -------------------------------------------------------------------------------------------------

  function recent(times: number[], window: number): number {
    const since = now() - window;
    while (times.length > 0 && (times[0] ?? 0) <= since) times.shift();
    return times.length;
  }

  function appUsage(forcedFull: boolean): string {
    const budget = APP_CALLS_PER_USER_PER_HOUR * Math.max(1, users.size);
    const percent = forcedFull ? 100 : Math.min(100, Math.floor((recent(appCallTimes, HOUR) * 100) / budget));
    return JSON.stringify({
      call_count: percent,
      total_cputime: Math.floor(percent / 2),
      total_time: Math.floor(percent / 2),
    });
  }

  function bucUsage(buc: { id: string; type: string }, regainMinutes: number | null): string {
    const times = bucCallTimes.get(buc.id) ?? [];
    const percent =
      regainMinutes !== null
        ? 100
        : Math.min(100, Math.floor((recent(times, DAY) * 100) / PAGE_CALLS_PER_DAY));
    return JSON.stringify({
      [buc.id]: [
        {
          type: buc.type,
          call_count: percent,
          total_cputime: Math.floor(percent / 2),
          total_time: Math.floor(percent / 2),
          estimated_time_to_regain_access: regainMinutes ?? 0,
        },
      ],
    });
  }

  // -------------------------------------------------------------------------------------------------
  // HTTP
  // -------------------------------------------------------------------------------------------------

  function takeRule(method: string, path: string): (FailRule & { remaining: number }) | undefined {
    const index = failRules.findIndex(
      (rule) =>
        (rule.method === undefined || rule.method.toUpperCase() === method) &&
        (rule.path === undefined || rule.path.test(path)),
    );
    const rule = failRules[index];
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) failRules.splice(index, 1);
    return rule;
  }

  function errorOutcome(error: GraphError): Outcome {
    const headers: Record<string, string> = {};
    if (error.body.code === 190) {
      // RFC 6750 challenge, as graph.facebook.com sends with invalid tokens.
      headers["www-authenticate"] =
        `OAuth "Facebook Platform" "invalid_token" "${error.body.message.replace(/"/g, "'")}"`;
    }
    return {
      kind: "json",
      status: error.status,
      body: { error: { ...error.body, fbtrace_id: opaque("A", 16) } },
      headers,
    };
  }

  function injectedError(spec: GraphErrorSpec): GraphError {
    const defaults = ERROR_DEFAULTS[spec.code];
    const body: GraphErrorBody = {
      message: spec.message ?? defaults?.message ?? `(#${spec.code}) Error`,
      type: spec.type ?? "OAuthException",
      code: spec.code,
    };
    if (spec.subcode !== undefined) body.error_subcode = spec.subcode;
    if (spec.userTitle !== undefined) body.error_user_title = spec.userTitle;
    if (spec.userMessage !== undefined) body.error_user_msg = spec.userMessage;
    const transient = spec.isTransient ?? defaults?.transient;
    if (transient !== undefined) body.is_transient = transient;
    return new GraphError(spec.status ?? defaults?.status ?? 400, body);
  }

  function tokenFrom(request: FastifyRequest, params: Params): string | undefined {
    const header = request.headers.authorization;
    if (typeof header === "string") {
      const match = /^(?:Bearer|OAuth)\s+(.+)$/i.exec(header.trim());
      if (match?.[1]) return match[1];
    }
    return typeof params.access_token === "string" && params.access_token !== ""
      ? params.access_token
      : undefined;
  }

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = new URL(request.url, "http://graph.invalid");
    const query = Object.fromEntries(url.searchParams);
    const body = await parseBody(request);
    const call: RecordedCall = {
      method: request.method,
      path: url.pathname,
      query,
      body,
      at: now(),
      status: null,
    };
    calls.push(call);

    const params: Params = { ...query, ...(isRecord(body) ? body : {}) };
    const segments = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    // Any vNN.N is accepted; an unversioned path is served too, as graph.facebook.com does.
    const version =
      segments[0] && /^v\d+\.\d+$/.test(segments[0])
        ? (segments.shift() ?? CURRENT_GRAPH_VERSION)
        : CURRENT_GRAPH_VERSION;
    // Graph honours a `method` parameter (GET ?method=delete), which some clients use.
    const override = typeof params.method === "string" ? params.method.toUpperCase() : undefined;
    const method = override === "POST" || override === "DELETE" ? override : request.method;
    const isDialog = segments[0] === "dialog" && segments[1] === "oauth";

    const rule = takeRule(request.method, url.pathname);
    const headers: Record<string, string> = {};
    let outcome: Outcome;
    let buc: ApiContext["buc"] = null;
    let regainMinutes: number | null = null;
    let appFull = false;

    if (rule && "dropBeforeHandling" in rule) {
      // The connection dies before the request is handled: nothing changes.
      reply.hijack();
      request.raw.socket.destroy();
      return;
    }
    if (rule && "htmlError" in rule) {
      // What a proxy or Facebook's front end serves when something below it breaks.
      outcome = {
        kind: "html",
        status: 500,
        html: htmlPage(
          "Sorry, something went wrong.",
          "We're working on it and we'll get it fixed as soon as we can.",
        ),
      };
    } else if (rule && "error" in rule) {
      const spec = rule.error;
      outcome = errorOutcome(injectedError(spec));
      if ([32, 80001, 80002].includes(spec.code)) {
        const target = segments[0] === "me" || segments[0] === undefined ? "0" : segments[0];
        buc = { id: target, type: spec.code === 80002 ? "instagram" : "pages" };
        regainMinutes = spec.estimatedTimeToRegainAccess ?? 5;
      }
      if (spec.code === 4 || spec.code === 17) appFull = true;
    } else {
      try {
        if (isDialog && request.method === "GET") outcome = dialog(params);
        else if (segments[0] === "oauth" && segments[1] === "access_token" && segments.length === 2)
          outcome = tokenEndpoint(params);
        else if (segments[0] === "debug_token" && segments.length === 1)
          outcome = debugToken(params, tokenFrom(request, params));
        else {
          const rawToken = tokenFrom(request, params);
          if (!rawToken) {
            if (segments[0] === "me") {
              throw graphError(
                2500,
                "An active access token must be used to query information about the current user.",
              );
            }
            throw graphError(104, "An access token is required to request this resource.");
          }
          if (rawToken === `${appId}|${appSecret}` && segments[0] === "me") {
            throw graphError(
              2500,
              "An active access token must be used to query information about the current user.",
            );
          }
          const token = authenticate(rawToken);
          // appsecret_proof = HMAC-SHA256(access_token, app_secret); checked whenever it is sent.
          // https://developers.facebook.com/docs/graph-api/securing-requests
          const proof = params.appsecret_proof;
          if (
            proof !== undefined &&
            proof !== createHmac("sha256", appSecret).update(rawToken).digest("hex")
          ) {
            throw graphError(100, "Invalid appsecret_proof provided in the API argument");
          }
          const ctx: ApiContext = { method, version, segments, params, token, rawToken, buc: null };
          try {
            outcome = api(ctx);
          } finally {
            buc = ctx.buc;
          }
        }
      } catch (error) {
        if (!(error instanceof GraphError)) throw error;
        outcome = errorOutcome(error);
      }
    }

    if (!isDialog) {
      appCallTimes.push(now());
      headers["x-app-usage"] = appUsage(appFull);
      if (buc) {
        const times = bucCallTimes.get(buc.id) ?? [];
        times.push(now());
        bucCallTimes.set(buc.id, times);
        headers["x-business-use-case-usage"] = bucUsage(buc, regainMinutes);
      }
      headers["facebook-api-version"] = version;
      headers["x-fb-trace-id"] = opaque("", 8);
    }

    if (rule && "timeoutAfterHandling" in rule) {
      // The request took effect; the client never hears about it.
      reply.hijack();
      request.raw.socket.destroy();
      return;
    }

    call.status = outcome.kind === "redirect" ? 302 : outcome.status;
    reply.headers(headers);
    if (outcome.kind === "redirect") {
      await reply.redirect(outcome.location, 302);
      return;
    }
    if (outcome.kind === "html") {
      await reply.code(outcome.status).type("text/html; charset=utf-8").send(outcome.html);
      return;
    }
    reply.headers(outcome.headers ?? {});
    await reply
      .code(outcome.status)
      .type("application/json; charset=UTF-8")
      .send(JSON.stringify(outcome.body));
  }

  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, payload, done) => done(null, payload));
  app.route({ method: ["GET", "POST", "DELETE"], url: "/*", handler: handle });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === "string") throw new Error("the Graph fake has no TCP address");
  const server = { url: `http://127.0.0.1:${address.port}` };

  return {
    url: server.url,
    appId,
    appSecret,
    calls,
    addUser(user) {
      users.set(user.id, { user, granted: [], declined: [], epoch: 0, authorizedAt: now() });
      for (const page of user.pages) {
        const record = pages.get(page.id) ?? { page, managers: new Map<string, string[]>() };
        record.managers.set(user.id, page.tasks ?? ALL_PAGE_TASKS);
        pages.set(page.id, record);
        if (page.instagram) {
          igUsers.set(page.instagram.id, {
            id: page.instagram.id,
            username: page.instagram.username,
            name: page.instagram.name ?? page.name,
            pageId: page.id,
          });
        }
      }
    },
    setDialogAnswer(answer) {
      if ("userId" in answer && !users.has(answer.userId)) {
        throw new Error(`setDialogAnswer: add user ${answer.userId} first`);
      }
      dialogAnswer = answer;
    },
    failNext(rule) {
      failRules.push({ ...rule, remaining: rule.times ?? 1 });
    },
    expireToken(value) {
      const token = tokens.get(value);
      if (!token) throw new Error("expireToken: the fake never issued this token");
      token.forcedExpiryAt = now();
    },
    setContainerStatus(containerId, status) {
      if (!containers.has(containerId)) throw new Error(`setContainerStatus: no container ${containerId}`);
      containerForced.set(containerId, status);
    },
    rejectMediaUrl(pattern) {
      rejectedMediaUrls.push(pattern);
    },
    get issuedTokens() {
      return [...tokens.keys()];
    },
    get state() {
      const snapshot = <T>(values: Iterable<T>): T[] => structuredClone([...values]);
      return {
        posts: snapshot(posts.values()),
        photos: snapshot(photos.values()),
        videos: snapshot(videos.values()),
        containers: snapshot([...containers.values()].map((c) => ({ ...c, status: containerStatus(c) }))),
        media: snapshot(media.values()),
        comments: snapshot(comments.values()),
      };
    },
    async close() {
      await app.close();
    },
  };
}
