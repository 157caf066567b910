/**
 * The token endpoint (RFC 6749 §4.1.3 and §6, with PKCE verification and refresh-token rotation)
 * and the revocation endpoint (RFC 7009). Form-encoded bodies; the client authenticates with HTTP
 * Basic or with client_id and client_secret in the body, not both (RFC 6749 §2.3.1).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { z } from "zod";
import type { SandboxContext } from "./context.js";
import { oauthErrorHandler } from "./error-handlers.js";
import { describeIssues, OAuthError } from "./errors.js";

/** Repeated parameters arrive as arrays and are refused (RFC 6749 §3.2: "MUST NOT be included more than once"). */
const TokenForm = z.object({
  grant_type: z.string().optional(),
  code: z.string().optional(),
  redirect_uri: z.string().optional(),
  code_verifier: z.string().optional(),
  refresh_token: z.string().optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
});

const RevokeForm = z.object({
  token: z.string().optional(),
  token_type_hint: z.string().optional(),
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
});

type ClientCredentials = { client_id?: string | undefined; client_secret?: string | undefined };

export function tokenRoutes(ctx: SandboxContext): FastifyPluginAsync {
  return async (app) => {
    app.setErrorHandler(oauthErrorHandler);

    app.post(
      "/oauth/token",
      { schema: { hide: true }, config: { rateLimit: false } },
      async (request, reply) => {
        const parsed = TokenForm.safeParse(request.body ?? {});
        if (!parsed.success) throw new OAuthError("invalid_request", describeIssues(parsed.error.issues));
        const form = parsed.data;
        authenticateClient(request, form);
        const identity = ctx.store.identity;
        let tokens: ReturnType<typeof identity.refresh>;
        switch (form.grant_type) {
          case "authorization_code": {
            const { code, redirect_uri: redirectUri, code_verifier: codeVerifier } = form;
            if (!code || !redirectUri || !codeVerifier) {
              throw new OAuthError("invalid_request", "code, redirect_uri and code_verifier are required.");
            }
            tokens = identity.exchangeCode({ code, redirectUri, codeVerifier });
            break;
          }
          case "refresh_token":
            if (!form.refresh_token) throw new OAuthError("invalid_request", "refresh_token is required.");
            tokens = identity.refresh(form.refresh_token);
            break;
          case undefined:
            throw new OAuthError("invalid_request", "grant_type is required.");
          default:
            throw new OAuthError(
              "unsupported_grant_type",
              "grant_type must be authorization_code or refresh_token.",
            );
        }
        // RFC 6749 §5.1: responses with tokens must not be cached.
        return reply.headers({ "cache-control": "no-store", pragma: "no-cache" }).send(tokens);
      },
    );

    app.post(
      "/oauth/revoke",
      { schema: { hide: true }, config: { rateLimit: false } },
      async (request, reply) => {
        const parsed = RevokeForm.safeParse(request.body ?? {});
        if (!parsed.success) throw new OAuthError("invalid_request", describeIssues(parsed.error.issues));
        authenticateClient(request, parsed.data);
        if (!parsed.data.token) throw new OAuthError("invalid_request", "token is required.");
        // RFC 7009 §2.2: unknown and already revoked tokens are answered 200 as well.
        ctx.store.identity.revoke(parsed.data.token);
        return reply.status(200).send();
      },
    );
  };

  function authenticateClient(request: FastifyRequest, form: ClientCredentials): void {
    const header = request.headers.authorization;
    let credentials: { id: string | undefined; secret: string | undefined };
    if (header !== undefined) {
      const basic = parseBasic(header);
      if (!basic) {
        throw invalidClient("The Authorization header must be HTTP Basic client credentials.", true);
      }
      if (form.client_secret !== undefined) {
        throw new OAuthError("invalid_request", "Authenticate the client one way: HTTP Basic or the body.");
      }
      if (form.client_id !== undefined && form.client_id !== basic.id) {
        throw new OAuthError("invalid_request", "client_id differs from the HTTP Basic client.");
      }
      credentials = basic;
    } else {
      credentials = { id: form.client_id, secret: form.client_secret };
    }
    if (credentials.id !== ctx.clientId || !sameSecret(credentials.secret, ctx.clientSecret)) {
      throw invalidClient("Unknown client or wrong client secret.", header !== undefined);
    }
  }
}

/** RFC 6749 §5.2: a failed HTTP Basic authentication answers with a challenge. */
function invalidClient(description: string, basic: boolean): OAuthError {
  return new OAuthError(
    "invalid_client",
    description,
    401,
    basic ? { "www-authenticate": 'Basic realm="sandbox"' } : {},
  );
}

/** RFC 6749 §2.3.1: both halves are form-urlencoded before being joined with ":". */
function parseBasic(header: string): { id: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  try {
    const formDecode = (value: string) => decodeURIComponent(value.replaceAll("+", " "));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/** Compared through their hashes: equal length for timingSafeEqual, whatever was sent. */
function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
