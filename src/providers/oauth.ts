/**
 * OAuth 2.0 plumbing shared by the connectors: state and PKCE values, and the token endpoint
 * (RFC 6749 §4.1.3 and §6) with its error format. Platform quirks stay in the connectors.
 */
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import type { Logger } from "../observability/logger.js";
import { callPlatform } from "./http.js";
import { ProviderError, platformName, type Tokens } from "./provider.js";

/** 256 random bits, URL-safe: the `state` sent to the platform (only its hash is stored). */
export const newState = () => randomBytes(32).toString("base64url");

/** A PKCE verifier: 43 URL-safe characters (RFC 7636 §4.1 allows 43 to 128). */
export const newCodeVerifier = () => randomBytes(32).toString("base64url");

export const codeChallenge = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

export const TokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.coerce.number().positive().optional(),
  refresh_token: z.string().min(1).optional(),
  refresh_token_expires_in: z.coerce.number().positive().optional(),
  scope: z.string().optional(),
});
export type TokenResponse = z.infer<typeof TokenResponse>;

const OAuthError = z.object({ error: z.string(), error_description: z.string().optional() });

export function tokensFrom(response: TokenResponse, now = Date.now()): Tokens {
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token ?? null,
    expiresAt: response.expires_in ? new Date(now + response.expires_in * 1000) : null,
    grantExpiresAt: response.refresh_token_expires_in
      ? new Date(now + response.refresh_token_expires_in * 1000)
      : null,
    scopes: response.scope ? response.scope.split(/[ ,]+/).filter(Boolean) : [],
  };
}

/** HTTP Basic client authentication: id and secret form-encoded first (RFC 6749 §2.3.1). */
export function basicAuthorization(client: { id: string; secret: string }): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${encode(client.id)}:${encode(client.secret)}`).toString("base64")}`;
}

/** POSTs to a standard token endpoint with HTTP Basic client authentication. */
export async function tokenRequest(options: {
  platform: string;
  tokenUrl: string;
  client: { id: string; secret: string };
  params: Record<string, string | undefined>;
  log: Logger;
}): Promise<TokenResponse> {
  const { platform, client } = options;
  const response = await callPlatform({
    platform,
    method: "POST",
    url: options.tokenUrl,
    form: options.params,
    headers: { authorization: basicAuthorization(client) },
    log: options.log,
    readError: (status, body) => {
      const error = OAuthError.safeParse(body);
      if (!error.success) return undefined;
      const { error: code, error_description: description } = error.data;
      // invalid_grant: the code or refresh token is used, expired or revoked: only the person can fix it.
      const kind = code === "invalid_grant" || code === "invalid_client" ? "auth" : "invalid";
      return new ProviderError(
        platform,
        kind,
        `${platformName(platform)} refused the token request: ${code}${description ? ` (${description})` : ""}.`,
        {
          status,
          platformCode: code,
        },
      );
    },
  });
  const parsed = TokenResponse.safeParse(response.body);
  if (!parsed.success) {
    throw new ProviderError(
      platform,
      "unexpected",
      `${platformName(platform)} answered the token request with an unexpected body.`,
      {
        status: response.status,
      },
    );
  }
  return parsed.data;
}
