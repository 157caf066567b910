/**
 * The Sandbox network (src/sandbox/): a standard OAuth 2.0 provider with PKCE and rotating refresh
 * tokens, and a posting API that deduplicates by Idempotency-Key. One consent grants several
 * accounts, which share the grant's tokens (one credential per Sandbox user).
 */
import { z } from "zod";
import type { Logger } from "../observability/logger.js";
import { callPlatform } from "./http.js";
import { basicAuthorization, tokenRequest, tokensFrom } from "./oauth.js";
import type {
  Connector,
  DiscoveredAccount,
  ProviderAdapter,
  Published,
  PublishRequest,
  Tokens,
} from "./provider.js";
import { ProviderError } from "./provider.js";

export type SandboxProviderOptions = { url: string; clientId: string; clientSecret: string; log: Logger };

const SCOPES = ["accounts.read", "posts.write"];

const AccountsResponse = z.object({
  accounts: z.array(
    z.object({
      id: z.string().min(1),
      name: z.string().min(1),
      handle: z.string().nullish(),
      username: z.string().min(1),
    }),
  ),
});

const SandboxError = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** Reads the Sandbox's error envelope `{ error: { code, message } }`. */
export function sandboxError(status: number, body: unknown, headers: Headers): ProviderError | undefined {
  const parsed = SandboxError.safeParse(body);
  if (!parsed.success) return undefined;
  const { code, message } = parsed.data.error;
  const kind =
    code === "invalid_token" || code === "token_expired"
      ? "auth"
      : code === "forbidden"
        ? "permission"
        : code === "rate_limited"
          ? "rate_limited"
          : status >= 500
            ? "unavailable"
            : "invalid";
  const retry = Number(headers.get("retry-after"));
  return new ProviderError("sandbox", kind, `The Sandbox refused the request: ${message}`, {
    status,
    platformCode: code,
    retryAfterSeconds: Number.isFinite(retry) && retry >= 0 && headers.has("retry-after") ? retry : null,
  });
}

export function sandboxProvider(options: SandboxProviderOptions): ProviderAdapter {
  const { url, log } = options;
  const client = { id: options.clientId, secret: options.clientSecret };

  const connector: Connector = {
    id: "sandbox",
    platforms: ["sandbox"],
    pkce: true,
    scopes: SCOPES,
    authorizationUrl({ state, codeChallenge, redirectUri }) {
      const authorize = new URL(`${url}/oauth/authorize`);
      authorize.search = new URLSearchParams({
        response_type: "code",
        client_id: client.id,
        redirect_uri: redirectUri,
        state,
        code_challenge: codeChallenge ?? "",
        code_challenge_method: "S256",
        scope: SCOPES.join(" "),
      }).toString();
      return authorize.href;
    },
    async connect({ code, codeVerifier, redirectUri }): Promise<DiscoveredAccount[]> {
      const response = await tokenRequest({
        platform: "sandbox",
        tokenUrl: `${url}/oauth/token`,
        client,
        params: {
          grant_type: "authorization_code",
          code,
          redirect_uri: redirectUri,
          code_verifier: codeVerifier ?? undefined,
        },
        log,
      });
      const tokens = tokensFrom(response);
      const me = await callPlatform({
        platform: "sandbox",
        method: "GET",
        url: `${url}/api/me/accounts`,
        headers: { authorization: `Bearer ${tokens.accessToken}` },
        readError: sandboxError,
        log,
      });
      const parsed = AccountsResponse.safeParse(me.body);
      if (!parsed.success)
        throw new ProviderError(
          "sandbox",
          "unexpected",
          "The Sandbox listed accounts in an unexpected shape.",
        );
      return parsed.data.accounts.map((account) => ({
        platform: "sandbox" as const,
        platformAccountId: account.id,
        name: account.name,
        handle: account.handle ?? null,
        avatarUrl: null,
        missingScopes: SCOPES.filter((scope) => tokens.scopes.length > 0 && !tokens.scopes.includes(scope)),
        metadata: { sandboxUser: account.username },
        // Every account of the consent acts with the grant's tokens.
        credential: { platform: "sandbox" as const, subject: `user:${account.username}`, tokens },
      }));
    },
  };

  const PostCreated = z.object({ id: z.string().min(1), url: z.string().nullish() });

  return {
    platform: "sandbox",
    connector,
    capabilities: {
      contentTypes: ["text", "link", "image"],
      formats: ["post"],
      // The Sandbox's own limits (src/sandbox/api.routes.ts): text of 1 to 500 characters, up to
      // 4 media URLs. Its images are limits Herald chose for a plausible network.
      text: { maxLength: 500, required: true },
      media: {
        required: false,
        maxCount: 4,
        carousel: { min: 2, max: 4 },
        image: {
          mimeTypes: ["image/jpeg", "image/png", "image/webp", "image/gif"],
          maxBytes: 10 * 1024 ** 2,
        },
        mixed: false,
      },
      link: true,
      firstComment: false,
    },
    idempotency: "native_key",
    // Access tokens last an hour: refresh with ten minutes to spare.
    refreshWindowSeconds: 600,
    revocable: true,
    async refresh(tokens: Tokens): Promise<Tokens> {
      if (!tokens.refreshToken)
        throw new ProviderError("sandbox", "auth", "This Sandbox grant has no refresh token.");
      const response = await tokenRequest({
        platform: "sandbox",
        tokenUrl: `${url}/oauth/token`,
        client,
        params: { grant_type: "refresh_token", refresh_token: tokens.refreshToken },
        log,
      });
      const refreshed = tokensFrom(response);
      return { ...refreshed, scopes: refreshed.scopes.length > 0 ? refreshed.scopes : tokens.scopes };
    },
    /** The Sandbox deduplicates by Idempotency-Key: a retry with the target's key is always safe. */
    async publish({ account, tokens, content, idempotencyKey, log }: PublishRequest): Promise<Published> {
      const response = await callPlatform({
        platform: "sandbox",
        method: "POST",
        url: `${url}/api/accounts/${encodeURIComponent(account.platformAccountId)}/posts`,
        headers: { authorization: `Bearer ${tokens.accessToken}`, "idempotency-key": idempotencyKey },
        json: {
          text: content.text,
          mediaUrls: content.media.length > 0 ? content.media.map((media) => media.url) : undefined,
          link: content.link ?? undefined,
        },
        readError: sandboxError,
        log,
      });
      const post = PostCreated.safeParse(response.body);
      if (!post.success)
        throw new ProviderError(
          "sandbox",
          "unexpected",
          "The Sandbox answered a post in an unexpected shape.",
        );
      return { platformPostId: post.data.id, url: post.data.url ?? null };
    },
    async deletePost({ account, tokens, platformPostId, log }) {
      await callPlatform({
        platform: "sandbox",
        method: "DELETE",
        url: `${url}/api/accounts/${encodeURIComponent(account.platformAccountId)}/posts/${encodeURIComponent(platformPostId)}`,
        headers: { authorization: `Bearer ${tokens.accessToken}` },
        readError: sandboxError,
        log,
      });
    },
    async revoke(tokens: Tokens): Promise<void> {
      await callPlatform({
        platform: "sandbox",
        method: "POST",
        url: `${url}/oauth/revoke`,
        form: { token: tokens.refreshToken ?? tokens.accessToken },
        headers: { authorization: basicAuthorization(client) },
        log,
      });
    },
  };
}
