import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { workspaceScope } from "../access/workspace-access.js";
import { AccountSchema } from "../accounts/accounts.schemas.js";
import { auditContextOf } from "../audit/audit.js";
import type { SessionReader } from "../auth/session.js";
import type { AppDeps } from "../http/deps.js";
import { problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import { CALLBACK_SCRIPT, callbackPage } from "./callback-page.js";
import {
  AuthorizationSchema,
  AuthorizeSchema,
  ConfirmSchema,
  PendingConnectionSchema,
  PendingParams,
  PlatformParams,
} from "./connections.schemas.js";
import * as service from "./connections.service.js";

const tags = ["Connections"];
const base = "/api/v1/workspaces/:workspaceId/connections";

export function connectionsRoutes(deps: AppDeps, readSession: SessionReader): FastifyPluginAsyncZod {
  const scope = workspaceScope(deps.pool);
  return async (app) => {
    app.post(
      `${base}/:platform/authorize`,
      {
        schema: {
          tags,
          summary:
            "Start connecting accounts: the URL to open for the platform's consent (state kept server-side)",
          params: PlatformParams,
          body: AuthorizeSchema,
          response: { 201: AuthorizationSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        const authorization = await scope(request, "accounts:write", (tx, access) =>
          service.authorize(tx, access, deps, request.params.platform, request.body.clientIds),
        );
        return reply.status(201).header("cache-control", "no-store").send(authorization);
      },
    );

    app.get(
      `${base}/pending`,
      {
        schema: {
          tags,
          summary: "The caller's pending selections: accounts found by completed connections, newest first",
          params: WorkspaceParams,
          response: {
            200: z.object({ items: z.array(PendingConnectionSchema), nextCursor: z.null() }),
            ...problemResponses(400, 401, 403, 404, 429),
          },
        },
      },
      async (request) =>
        scope(request, "accounts:write", async (tx, access) => ({
          items: await service.listPending(tx, access),
          nextCursor: null,
        })),
    );

    app.get(
      `${base}/pending/:pendingId`,
      {
        schema: {
          tags,
          summary: "Accounts a completed connection found, to choose from",
          params: PendingParams,
          response: { 200: PendingConnectionSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "accounts:write", (tx, access) =>
          service.getPending(tx, access, request.params.pendingId),
        ),
    );

    app.post(
      `${base}/pending/:pendingId/confirm`,
      {
        schema: {
          tags,
          summary: "Add the chosen accounts and link them to the chosen clients",
          params: PendingParams,
          body: ConfirmSchema,
          response: {
            200: z.object({ accounts: z.array(AccountSchema) }),
            ...problemResponses(400, 401, 403, 404, 429),
          },
        },
      },
      async (request) =>
        scope(request, "accounts:write", async (tx, access) => ({
          accounts: await service.confirmPending(tx, access, deps, request.params.pendingId, request.body),
        })),
    );

    app.get(
      "/api/v1/oauth/callback/:connector",
      {
        config: { public: true },
        schema: {
          tags,
          summary: "Where platforms send the person back (an HTML page for the popup)",
          params: z.object({ connector: z.string().min(1).max(32) }),
          querystring: z.record(z.string(), z.string().max(4096)),
          produces: ["text/html"],
        },
      },
      async (request, reply) => {
        const cookie = request.headers.cookie;
        const session = cookie ? await readSession(cookie) : undefined;
        const result = await service.completeCallback(deps, {
          connectorId: request.params.connector,
          query: request.query,
          userId: session?.principal.userId,
          audit: { ...auditContextOf(request), ...(session ? { actor: auditActor(session.principal) } : {}) },
        });
        return (
          reply
            .status(result.ok ? 200 : 400)
            .type("text/html; charset=utf-8")
            .header("cache-control", "no-store")
            // The popup must keep its opener to tell the app the result.
            .header("cross-origin-opener-policy", "unsafe-none")
            .send(callbackPage(result, deps.config.publicUrl.origin))
        );
      },
    );

    app.get(
      "/api/v1/oauth/callback.js",
      { config: { public: true }, schema: { hide: true } },
      async (_request, reply) => reply.type("application/javascript; charset=utf-8").send(CALLBACK_SCRIPT),
    );
  };
}

function auditActor(principal: { userId: string; name: string; email: string }) {
  return { type: "user" as const, id: principal.userId, name: principal.name, email: principal.email };
}
