/**
 * Facebook Login for Facebook Pages and Instagram professional accounts (one flow finds both).
 *
 * Flow (https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow):
 * code → short-lived user token → long-lived user token (`fb_exchange_token`, about 60 days,
 * https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived) →
 * `debug_token` for the permissions really granted → `/me/accounts` (paginated) for each page and
 * its page token → each page's `instagram_business_account`.
 *
 * Page tokens obtained with a long-lived user token do not expire; what ends is the person's data
 * access (`data_access_expires_at`, 90 days after they last used the app), which only they can
 * renew by connecting again. `debug_token` on each page token records both, as they really are.
 */
import { createHmac } from "node:crypto";
import { z } from "zod";
import type { Logger } from "../observability/logger.js";
import { callPlatform, retryAfter } from "./http.js";
import {
  type Connector,
  type DiscoveredAccount,
  ProviderError,
  type ProviderErrorKind,
  platformName,
  type Tokens,
} from "./provider.js";

export type MetaOptions = {
  appId: string;
  appSecret: string;
  graphUrl: string;
  dialogUrl: string;
  graphVersion: string;
  log: Logger;
};

/**
 * Permissions each kind of account needs, publishing first, then insights. Page posts need
 * pages_manage_posts AND pages_read_engagement (https://developers.facebook.com/docs/pages-api/posts),
 * page videos also publish_video; Instagram publishing needs pages_read_engagement too
 * (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container).
 */
export const FACEBOOK_SCOPES = [
  "pages_show_list",
  "pages_read_engagement",
  "pages_manage_posts",
  "publish_video",
  "read_insights",
];
export const INSTAGRAM_SCOPES = [
  "instagram_basic",
  "instagram_content_publish",
  "pages_read_engagement",
  "instagram_manage_insights",
];
// business_management: pages owned through a Business portfolio are only listed with it
// (https://developers.facebook.com/docs/permissions#business_management).
// A first comment needs pages_manage_engagement on a page post
// (https://developers.facebook.com/docs/graph-api/reference/object/comments#publish) and
// instagram_manage_comments on Instagram media
// (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments).
// They are asked for but not required: without them the post is published and its first comment
// is skipped with a warning.
const FIRST_COMMENT_SCOPES = ["pages_manage_engagement", "instagram_manage_comments"];
const REQUESTED = [
  ...new Set([...FACEBOOK_SCOPES, ...INSTAGRAM_SCOPES, "business_management", ...FIRST_COMMENT_SCOPES]),
];

const GraphErrorBody = z.object({
  error: z.object({
    message: z.string(),
    type: z.string().optional(),
    code: z.coerce.number(),
    error_subcode: z.coerce.number().optional(),
    error_user_msg: z.string().optional(),
    is_transient: z.boolean().optional(),
    fbtrace_id: z.string().optional(),
  }),
});

/** Instagram's "media not ready" (9007/2207027): the container is still processing. */
const MEDIA_NOT_READY = { code: 9007, subcode: 2207027 };
/** Instagram's publishing quota, 50 posts in 24 hours (9/2207042). */
const PUBLISHING_QUOTA = { code: 9, subcode: 2207042 };

/**
 * What a Graph error means for Herald, by code
 * (https://developers.facebook.com/docs/graph-api/guides/error-handling,
 * https://developers.facebook.com/docs/graph-api/overview/rate-limiting,
 * https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes):
 * 190 and 102 (and subcodes 463, 467 of any code) the token; 10 and 200-299 permissions; 4, 17, 32,
 * 613, 80001-80014 and Instagram's daily publishing quota rate limits; 1, 2 and anything Meta marks
 * `is_transient` temporary; 368 a temporary block; the rest (100 and every other 4xx) a bad request.
 */
export function graphErrorKind(error: {
  code: number;
  subcode?: number;
  transient?: boolean;
}): ProviderErrorKind {
  const { code, subcode } = error;
  if (code === 190 || code === 102 || subcode === 463 || subcode === 467) return "auth";
  if (code === 10 || (code >= 200 && code <= 299)) return "permission";
  if ([4, 17, 32, 613].includes(code) || (code >= 80001 && code <= 80014)) return "rate_limited";
  if (code === PUBLISHING_QUOTA.code && subcode === PUBLISHING_QUOTA.subcode) return "rate_limited";
  if (code === 368) return "blocked";
  if (code === 1 || code === 2) return "unavailable";
  if (code === MEDIA_NOT_READY.code && subcode === MEDIA_NOT_READY.subcode) return "unavailable";
  // After the specific codes: a 4 or 17 is transient too, but it is a rate limit first.
  if (error.transient) return "unavailable";
  return "invalid";
}

/** Reads the Graph error envelope into a ProviderError, the code and subcode kept as they were. */
export function graphError(platform: string) {
  return (status: number, body: unknown, headers: Headers): ProviderError | undefined => {
    const parsed = GraphErrorBody.safeParse(body);
    if (!parsed.success) return undefined;
    const { code, error_subcode: subcode, message, error_user_msg: userMessage } = parsed.data.error;
    const kind = graphErrorKind({ code, subcode, transient: parsed.data.error.is_transient });
    return new ProviderError(platform, kind, `${platformName(platform)}: ${userMessage ?? message}`, {
      status,
      platformCode: code,
      platformSubcode: subcode ?? null,
      retryAfterSeconds: kind === "rate_limited" ? (usageRetryAfter(headers) ?? retryAfter(headers)) : null,
    });
  };
}

const Regain = z.object({ estimated_time_to_regain_access: z.coerce.number() });
const UsageHeader = z.union([Regain, z.record(z.string(), z.array(z.unknown()))]);

/**
 * Meta's usage headers carry no Retry-After. `X-Business-Use-Case-Usage` (`{"<id>":[{...}]}`) and
 * `X-Page-Usage` / `X-App-Usage` (`{...}`) may say how many minutes until access is regained
 * (`estimated_time_to_regain_access`,
 * https://developers.facebook.com/docs/graph-api/overview/rate-limiting); the longest wins.
 */
export function usageRetryAfter(headers: Headers): number | null {
  const minutes: number[] = [];
  for (const name of ["x-business-use-case-usage", "x-page-usage", "x-app-usage"]) {
    const raw = headers.get(name);
    if (!raw) continue;
    let usage: unknown;
    try {
      usage = JSON.parse(raw);
    } catch {
      continue;
    }
    const parsed = UsageHeader.safeParse(usage);
    if (!parsed.success) continue;
    const entries =
      "estimated_time_to_regain_access" in parsed.data ? [parsed.data] : Object.values(parsed.data).flat();
    for (const entry of entries) {
      const regain = Regain.safeParse(entry);
      if (regain.success) minutes.push(regain.data.estimated_time_to_regain_access);
    }
  }
  const longest = Math.max(0, ...minutes);
  return longest > 0 ? longest * 60 : null;
}

const TokenBody = z.object({ access_token: z.string().min(1), expires_in: z.coerce.number().optional() });

const DebugToken = z.object({
  data: z.object({
    is_valid: z.boolean(),
    expires_at: z.coerce.number().optional(),
    data_access_expires_at: z.coerce.number().optional(),
    scopes: z.array(z.string()).optional(),
  }),
});

const Page = z.object({
  id: z.string(),
  name: z.string(),
  access_token: z.string().min(1),
  tasks: z.array(z.string()).optional(),
  picture: z.object({ data: z.object({ url: z.string() }) }).optional(),
  instagram_business_account: z
    .object({
      id: z.string(),
      username: z.string().optional(),
      name: z.string().optional(),
      profile_picture_url: z.string().optional(),
    })
    .optional(),
});

const PagesResponse = z.object({
  data: z.array(Page),
  paging: z
    .object({ next: z.string().optional(), cursors: z.object({ after: z.string().optional() }).optional() })
    .optional(),
});

/** Meta's calls, with the app secret proof every call made with a user or page token can carry. */
export class GraphClient {
  constructor(readonly options: MetaOptions) {}

  get base(): string {
    return `${this.options.graphUrl}/${this.options.graphVersion}`;
  }

  /** `appsecret_proof` (https://developers.facebook.com/docs/graph-api/securing-requests). */
  proof(accessToken: string): string {
    return createHmac("sha256", this.options.appSecret).update(accessToken).digest("hex");
  }

  async get(
    platform: string,
    path: string,
    accessToken: string,
    query: Record<string, string> = {},
    options: { timeoutMs?: number } = {},
  ) {
    return callPlatform({
      platform,
      method: "GET",
      url: `${this.base}/${path}`,
      query: { ...query, access_token: accessToken, appsecret_proof: this.proof(accessToken) },
      readError: graphError(platform),
      log: this.options.log,
      timeoutMs: options.timeoutMs,
    });
  }

  /** Follows a `paging.next` URL as given: it carries the cursor and the token already. */
  async next(platform: string, url: string) {
    return callPlatform({
      platform,
      method: "GET",
      url,
      readError: graphError(platform),
      log: this.options.log,
    });
  }

  async post(
    platform: string,
    path: string,
    accessToken: string,
    form: Record<string, string | undefined>,
    options: { timeoutMs?: number } = {},
  ) {
    return callPlatform({
      platform,
      method: "POST",
      url: `${this.base}/${path}`,
      form: { ...form, access_token: accessToken, appsecret_proof: this.proof(accessToken) },
      readError: graphError(platform),
      log: this.options.log,
      timeoutMs: options.timeoutMs,
    });
  }

  async delete(platform: string, path: string, accessToken: string) {
    return callPlatform({
      platform,
      method: "DELETE",
      url: `${this.base}/${path}`,
      query: { access_token: accessToken, appsecret_proof: this.proof(accessToken) },
      readError: graphError(platform),
      log: this.options.log,
    });
  }

  /** What Meta says about a token: validity, expiry, data access expiry and granted permissions. */
  async inspect(token: string): Promise<z.infer<typeof DebugToken>["data"]> {
    const { appId, appSecret } = this.options;
    const response = await callPlatform({
      platform: "facebook",
      method: "GET",
      url: `${this.base}/debug_token`,
      query: { input_token: token, access_token: `${appId}|${appSecret}` },
      readError: graphError("facebook"),
      log: this.options.log,
    });
    const parsed = DebugToken.safeParse(response.body);
    if (!parsed.success)
      throw new ProviderError("facebook", "unexpected", "Facebook described a token in an unexpected shape.");
    return parsed.data.data;
  }

  /** A page token's credential as Meta describes it now. */
  async tokensFor(accessToken: string): Promise<Tokens> {
    const info = await this.inspect(accessToken);
    if (!info.is_valid)
      throw new ProviderError("facebook", "auth", "Facebook says this access is no longer valid.");
    const at = (seconds: number | undefined) => (seconds ? new Date(seconds * 1000) : null);
    return {
      accessToken,
      refreshToken: null,
      // 0 means the token itself never expires.
      expiresAt: at(info.expires_at),
      grantExpiresAt: at(info.data_access_expires_at),
      scopes: info.scopes ?? [],
    };
  }
}

export function metaConnector(options: MetaOptions): Connector {
  const graph = new GraphClient(options);
  const { appId, appSecret, log } = options;

  async function exchange(query: Record<string, string>) {
    const response = await callPlatform({
      platform: "facebook",
      method: "GET",
      url: `${graph.base}/oauth/access_token`,
      query: { client_id: appId, client_secret: appSecret, ...query },
      readError: graphError("facebook"),
      log,
    });
    const parsed = TokenBody.safeParse(response.body);
    if (!parsed.success)
      throw new ProviderError(
        "facebook",
        "unexpected",
        "Facebook answered the token request with an unexpected body.",
      );
    return parsed.data.access_token;
  }

  async function pages(userToken: string): Promise<z.infer<typeof Page>[]> {
    const found: z.infer<typeof Page>[] = [];
    let response = await graph.get("facebook", "me/accounts", userToken, {
      fields:
        "id,name,access_token,tasks,picture{url},instagram_business_account{id,username,name,profile_picture_url}",
      limit: "100",
    });
    // Bounded: 50 pages of 100 is more pages than anyone manages through one login.
    for (let round = 0; round < 50; round++) {
      const parsed = PagesResponse.safeParse(response.body);
      if (!parsed.success)
        throw new ProviderError("facebook", "unexpected", "Facebook listed pages in an unexpected shape.");
      found.push(...parsed.data.data);
      const next = parsed.data.paging?.next;
      if (!next) break;
      // The next page's URL is followed as given: it carries the cursor and the token.
      response = await callPlatform({
        platform: "facebook",
        method: "GET",
        url: next,
        readError: graphError("facebook"),
        log,
      });
    }
    return found;
  }

  return {
    id: "facebook",
    platforms: ["facebook", "instagram"],
    // PKCE is documented only for Facebook's OIDC login (still in testing); this is the
    // confidential-client code flow, where the code is useless without the app secret.
    pkce: false,
    scopes: REQUESTED,
    authorizationUrl({ state, redirectUri }) {
      const url = new URL(`${options.dialogUrl}/${options.graphVersion}/dialog/oauth`);
      url.search = new URLSearchParams({
        client_id: appId,
        redirect_uri: redirectUri,
        state,
        response_type: "code",
        scope: REQUESTED.join(","),
      }).toString();
      return url.href;
    },
    async connect({ code, redirectUri }): Promise<DiscoveredAccount[]> {
      const shortLived = await exchange({ redirect_uri: redirectUri, code });
      const longLived = await exchange({ grant_type: "fb_exchange_token", fb_exchange_token: shortLived });
      const granted = new Set((await graph.inspect(longLived)).scopes ?? []);
      const missing = (needed: string[]) => needed.filter((scope) => !granted.has(scope));
      const accounts: DiscoveredAccount[] = [];
      for (const page of await pages(longLived)) {
        const tokens = await graph.tokensFor(page.access_token);
        const credential = { platform: "facebook" as const, subject: `page:${page.id}`, tokens };
        // Publishing needs the CREATE_CONTENT task on the page, not just the permission.
        const taskMissing =
          page.tasks && !page.tasks.includes("CREATE_CONTENT") ? ["page task CREATE_CONTENT"] : [];
        accounts.push({
          platform: "facebook",
          platformAccountId: page.id,
          name: page.name,
          handle: null,
          avatarUrl: page.picture?.data.url ?? null,
          missingScopes: [...missing(FACEBOOK_SCOPES), ...taskMissing],
          metadata: {},
          credential,
        });
        const instagram = page.instagram_business_account;
        if (instagram) {
          accounts.push({
            platform: "instagram",
            platformAccountId: instagram.id,
            name: instagram.name ?? instagram.username ?? `Instagram account of ${page.name}`,
            handle: instagram.username ?? null,
            avatarUrl: instagram.profile_picture_url ?? null,
            missingScopes: missing(INSTAGRAM_SCOPES),
            // Instagram publishes with the token of its Facebook page.
            metadata: { pageId: page.id, pageName: page.name },
            credential,
          });
        }
      }
      return accounts;
    },
  };
}
