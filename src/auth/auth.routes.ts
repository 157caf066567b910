/**
 * Sign-up, sign-in, sign-out and "who am I". Passwords and sessions are better-auth's; throttling,
 * invitations, schemas and errors are Herald's.
 */

import { isAPIError } from "better-auth/api";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type pg from "pg";
import { z } from "zod";
import { SCOPES } from "../access/permissions.js";
import { requirePrincipal } from "../access/principal.js";
import {
  type AuditActor,
  type AuditContext,
  type AuditEvent,
  actorOf,
  auditContextOf,
  recordAudit,
} from "../audit/audit.js";
import { raiseOnRepeatedSignInFailures } from "../audit/suspicious.js";
import { withTransaction, withWorkspace } from "../db/tenant.js";
import { ConflictError, InvalidCredentialsError, RateLimitedError } from "../errors.js";
import type { AppDeps } from "../http/deps.js";
import { NoContent, problemResponses } from "../http/problem.js";
import { listUserWorkspaces } from "../workspaces/workspaces.repository.js";
import { WorkspaceSchema } from "../workspaces/workspaces.schemas.js";
import { listWorkspaces } from "../workspaces/workspaces.service.js";
import { CLIENT_IP_HEADER, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from "./auth.js";
import type { SessionReader } from "./session.js";
import { reserveSignInAttempt, signInSucceeded } from "./sign-in-throttle.js";

const tags = ["Auth"];
const Email = z
  .email()
  .max(254)
  .transform((email) => email.toLowerCase());

const SignUpSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    email: Email,
    password: z.string().min(MIN_PASSWORD_LENGTH).max(MAX_PASSWORD_LENGTH),
  })
  .meta({
    id: "SignUp",
    examples: [{ name: "Ada Lovelace", email: "ada@example.com", password: "correct horse battery staple" }],
  });

const SignInSchema = z
  .strictObject({ email: Email, password: z.string().min(1).max(MAX_PASSWORD_LENGTH) })
  .meta({ id: "SignIn", examples: [{ email: "ada@example.com", password: "correct horse battery staple" }] });

const UserSchema = z
  .object({ id: z.uuid(), name: z.string(), email: z.string(), createdAt: z.iso.datetime({ offset: true }) })
  .meta({ id: "User" });

const MeSchema = z
  .object({
    user: UserSchema.nullable().meta({
      description: "The signed-in person; null when called with an API key.",
    }),
    apiKey: z
      .object({ id: z.uuid(), name: z.string(), workspaceId: z.uuid(), scopes: z.array(z.enum(SCOPES)) })
      .nullable()
      .meta({ description: "The API key making the call; null for a session." }),
    workspaces: z.array(WorkspaceSchema),
  })
  .meta({ id: "Me" });
type Me = z.infer<typeof MeSchema>;

type SessionUser = { id: string; name: string; email: string; createdAt: Date };

export function authRoutes(
  { pool, auth, config }: AppDeps,
  readSession: SessionReader,
): FastifyPluginAsyncZod {
  const limits = { perAccount: config.signInLimitPerAccount, perIp: config.signInLimitPerIp };

  return async (app) => {
    app.post(
      "/api/v1/auth/sign-up",
      {
        config: { public: true },
        schema: {
          tags,
          summary: "Create an account and sign in; pending invitations for this email are accepted",
          body: SignUpSchema,
          response: { 201: MeSchema, ...problemResponses(400, 403, 409, 429) },
        },
      },
      async (request, reply) => {
        const result = await auth.api
          .signUpEmail({ body: request.body, headers: clientHeaders(request), returnHeaders: true })
          .catch((error: unknown) => {
            if (isAPIError(error) && error.statusCode === 422) {
              throw new ConflictError("HERALD_EMAIL_TAKEN", "An account with this email already exists.", [
                { path: "body.email", message: "is already registered", rule: "unique" },
              ]);
            }
            throw error;
          });
        forwardCookies(result.headers, reply);
        const { user } = result.response;
        const context = { ...auditContextOf(request), actor: userActor(user) };
        await withTransaction(pool, (tx) =>
          recordAudit(tx, null, context, { action: "user_signed_up", target: { type: "user", id: user.id } }),
        );
        const me = await signedIn(pool, user, context);
        return reply.status(201).send(me);
      },
    );

    app.post(
      "/api/v1/auth/sign-in",
      {
        config: { public: true },
        schema: {
          tags,
          summary: "Sign in with email and password; sets the session cookie",
          body: SignInSchema,
          response: { 200: MeSchema, ...problemResponses(400, 401, 403, 429) },
        },
      },
      async (request, reply) => {
        const { email, password } = request.body;
        const anonymous = auditContextOf(request);
        const failed = (reason: string): AuditEvent => ({
          action: "sign_in_failed",
          outcome: "failure",
          subjectEmail: email,
          details: { reason },
        });
        let failures: { account: number; ip: number };
        try {
          failures = await reserveSignInAttempt(pool, limits, email, request.ip);
        } catch (error) {
          if (error instanceof RateLimitedError) {
            await withTransaction(pool, (tx) => recordAudit(tx, null, anonymous, failed("throttled")));
          }
          throw error;
        }
        const result = await auth.api
          .signInEmail({ body: { email, password }, headers: clientHeaders(request), returnHeaders: true })
          .catch(async (error: unknown) => {
            if (isAPIError(error) && error.statusCode === 401) {
              await withTransaction(pool, async (tx) => {
                await recordAudit(tx, null, anonymous, failed("invalid_credentials"));
                await raiseOnRepeatedSignInFailures(tx, anonymous, email, failures);
              });
              throw new InvalidCredentialsError();
            }
            throw error;
          });
        await signInSucceeded(pool, email, request.ip);
        forwardCookies(result.headers, reply);
        const { user } = result.response;
        const context = { ...anonymous, actor: userActor(user) };
        await withTransaction(pool, (tx) =>
          recordAudit(tx, null, context, { action: "user_signed_in", target: { type: "user", id: user.id } }),
        );
        return signedIn(pool, user, context);
      },
    );

    app.post(
      "/api/v1/auth/sign-out",
      {
        config: { public: true },
        schema: {
          tags,
          summary: "End the session (always succeeds; clears the cookie)",
          response: { 204: NoContent, ...problemResponses(403, 429) },
        },
      },
      async (request, reply) => {
        const headers = clientHeaders(request);
        const cookie = request.headers.cookie;
        const session = cookie ? await readSession(cookie) : undefined;
        if (cookie) headers.set("cookie", cookie);
        try {
          const result = await auth.api.signOut({ headers, returnHeaders: true });
          forwardCookies(result.headers, reply);
        } catch (error) {
          // No session to end: still a success, the caller is signed out.
          if (!isAPIError(error)) throw error;
        }
        if (session) {
          const { principal } = session;
          const context = { ...auditContextOf(request), actor: actorOf(principal) };
          await withTransaction(pool, (tx) =>
            recordAudit(tx, null, context, {
              action: "user_signed_out",
              target: { type: "user", id: principal.userId },
            }),
          );
        }
        return reply.status(204).send(null);
      },
    );

    app.get(
      "/api/v1/me",
      {
        schema: {
          tags,
          summary: "The caller (person or API key) and their workspaces with roles",
          response: { 200: MeSchema, ...problemResponses(401, 429) },
        },
      },
      async (request): Promise<Me> => {
        const principal = requirePrincipal(request.principal);
        if (principal.kind === "api_key") {
          const { items } = await listWorkspaces(pool, principal, { limit: 1 });
          const { keyId, name, workspaceId, scopes } = principal;
          return { user: null, apiKey: { id: keyId, name, workspaceId, scopes }, workspaces: items };
        }
        const { rows } = await pool.query<SessionUser & { created_at: Date }>(
          "select id, name, email, created_at from users where id = $1",
          [principal.userId],
        );
        const user = rows[0];
        if (!user) throw new InvalidCredentialsError();
        return me(pool, { ...user, createdAt: user.created_at });
      },
    );
  };
}

/** Headers handed to better-auth: the client IP as Herald resolved it (trusted proxies only). */
function clientHeaders(request: FastifyRequest): Headers {
  const headers = new Headers({ [CLIENT_IP_HEADER]: request.ip });
  const userAgent = request.headers["user-agent"];
  if (userAgent) headers.set("user-agent", userAgent);
  return headers;
}

function forwardCookies(headers: Headers, reply: FastifyReply) {
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) reply.header("set-cookie", cookies);
}

/** After sign-up or sign-in: pending invitations for the email are accepted, each audited. */
async function signedIn(pool: pg.Pool, user: SessionUser, context: AuditContext): Promise<Me> {
  const { rows } = await pool.query<{ workspace_id: string }>(
    "select herald_accept_invitations($1, $2) as workspace_id",
    [user.id, user.email],
  );
  for (const { workspace_id: workspaceId } of rows) {
    await withWorkspace(pool, workspaceId, (tx) =>
      recordAudit(tx, workspaceId, context, {
        action: "member_joined",
        target: { type: "user", id: user.id },
      }),
    );
  }
  return me(pool, user);
}

function userActor(user: SessionUser): AuditActor {
  return { type: "user", id: user.id, name: user.name, email: user.email };
}

async function me(pool: pg.Pool, user: SessionUser): Promise<Me> {
  const workspaces = await listUserWorkspaces(pool, user.id, undefined, 500);
  return {
    user: { id: user.id, name: user.name, email: user.email, createdAt: user.createdAt.toISOString() },
    apiKey: null,
    workspaces: workspaces.map(({ sortKey: _, ...workspace }) => workspace),
  };
}
