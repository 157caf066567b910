/**
 * Who is calling: a person with a session cookie, or a program with an API key
 * (`Authorization: Bearer hrld_...`). Resolved once per request in a `preParsing` hook (after rate
 * limiting, before the body is read), for every `/api/v1/` route not marked `config: { public: true }`.
 *
 * Also the CSRF wall: a state-changing request that carries an `Origin` header must come from
 * Herald's own origin or a configured CORS origin (SameSite=Lax cookies are the first wall).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type pg from "pg";
import type { Principal } from "../access/principal.js";
import { authenticateApiKey } from "../api-keys/api-keys.repository.js";
import type { SessionReader } from "../auth/session.js";
import { AuthenticationError, ForbiddenError } from "../errors.js";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** The route answers without authentication (health, sign-in, OAuth callbacks...). */
    public?: boolean;
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export type AuthenticateDeps = { pool: pg.Pool; readSession: SessionReader; allowedOrigins: Set<string> };

export function createAuthenticateHook({ pool, readSession, allowedOrigins }: AuthenticateDeps) {
  async function resolvePrincipal(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<Principal | undefined> {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      // The scheme is case-insensitive (RFC 9110 §11.1).
      const match = /^Bearer ([A-Za-z0-9_-]{1,200})$/i.exec(authorization);
      if (!match?.[1]) throw new AuthenticationError("The Authorization header must be `Bearer <api key>`.");
      const key = await authenticateApiKey(pool, match[1]);
      if (!key) throw new AuthenticationError("The API key is not valid, or it was revoked or has expired.");
      return { kind: "api_key", ...key };
    }
    const cookie = request.headers.cookie;
    if (!cookie) return undefined;
    const session = await readSession(cookie);
    if (session && session.setCookie.length > 0) reply.header("set-cookie", session.setCookie);
    return session?.principal;
  }

  return async function authenticate(request: FastifyRequest, reply: FastifyReply) {
    const origin = request.headers.origin;
    if (origin !== undefined && !SAFE_METHODS.has(request.method) && !allowedOrigins.has(origin)) {
      throw new ForbiddenError(`Requests from ${origin} are not allowed.`, "HERALD_ORIGIN_REJECTED");
    }
    // Only the API needs a caller; unknown routes (404), operations endpoints, the docs and routes
    // marked public do not.
    const route = request.routeOptions.url;
    if (route === undefined || !route.startsWith("/api/v1/") || request.routeOptions.config.public) return;
    request.principal = await resolvePrincipal(request, reply);
    if (!request.principal) throw new AuthenticationError();
  };
}
