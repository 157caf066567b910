/**
 * Who is calling: a person with a session cookie, or a program with an API key
 * (`Authorization: Bearer hrld_...`). Resolved once per request in an `onRequest` hook, before the
 * body is even read, for every `/api/v1/` route not marked `config: { public: true }`.
 *
 * Also the CSRF wall: a state-changing request that carries an `Origin` header must come from
 * Herald's own origin or a configured CORS origin (SameSite=Lax cookies are the first wall).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type pg from "pg";
import type { Principal, UserPrincipal } from "../access/principal.js";
import { authenticateApiKey } from "../api-keys/api-keys.repository.js";
import type { Auth } from "../auth/auth.js";
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

export type AuthenticateDeps = { pool: pg.Pool; auth: Auth; allowedOrigins: Set<string> };

export function createAuthenticateHook({ pool, auth, allowedOrigins }: AuthenticateDeps) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply) {
    const origin = request.headers.origin;
    if (origin !== undefined && !SAFE_METHODS.has(request.method) && !allowedOrigins.has(origin)) {
      throw new ForbiddenError(`Requests from ${origin} are not allowed.`, "HERALD_ORIGIN_REJECTED");
    }
    // Only the API needs a caller; unknown routes (404), operations endpoints, the docs and routes
    // marked public do not.
    const route = request.routeOptions.url;
    if (route === undefined || !route.startsWith("/api/v1/") || request.routeOptions.config.public) return;
    request.principal = await resolvePrincipal(pool, auth, request);
    if (!request.principal) throw new AuthenticationError();
  };
}

async function resolvePrincipal(
  pool: pg.Pool,
  auth: Auth,
  request: FastifyRequest,
): Promise<Principal | undefined> {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(authorization);
    if (!match?.[1]) throw new AuthenticationError("The Authorization header must be `Bearer <api key>`.");
    const key = await authenticateApiKey(pool, match[1]);
    if (!key) throw new AuthenticationError("The API key is not valid, or it was revoked or has expired.");
    return { kind: "api_key", ...key };
  }
  return sessionPrincipal(auth, request);
}

async function sessionPrincipal(auth: Auth, request: FastifyRequest): Promise<UserPrincipal | undefined> {
  const cookie = request.headers.cookie;
  if (!cookie) return undefined;
  const session = await auth.api.getSession({ headers: new Headers({ cookie }) });
  if (!session) return undefined;
  return { kind: "user", userId: session.user.id, email: session.user.email, name: session.user.name };
}
