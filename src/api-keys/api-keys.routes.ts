import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { workspaceScope } from "../access/workspace-access.js";
import type { AppDeps } from "../http/deps.js";
import { PageQuery, pageOf } from "../http/pagination.js";
import { NoContent, problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import { ApiKeyCreatedSchema, ApiKeyCreateSchema, ApiKeyParams, ApiKeySchema } from "./api-keys.schemas.js";
import * as service from "./api-keys.service.js";

const tags = ["API keys"];
const base = "/api/v1/workspaces/:workspaceId/api-keys";

export function apiKeysRoutes({ pool }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  return async (app) => {
    app.get(
      base,
      {
        schema: {
          tags,
          summary: "API keys of the workspace, newest first (never their secrets)",
          params: WorkspaceParams,
          querystring: PageQuery,
          response: { 200: pageOf(ApiKeySchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) => scope(request, "api_keys:manage", (tx) => service.listApiKeys(tx, request.query)),
    );

    app.post(
      base,
      {
        schema: {
          tags,
          summary: "Create an API key; its secret is in this response and nowhere else",
          params: WorkspaceParams,
          body: ApiKeyCreateSchema,
          response: { 201: ApiKeyCreatedSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        const key = await scope(request, "api_keys:manage", (tx, access) =>
          service.createApiKey(tx, access, request.body),
        );
        return reply.status(201).header("cache-control", "no-store").send(key);
      },
    );

    app.delete(
      `${base}/:keyId`,
      {
        schema: {
          tags,
          summary: "Revoke an API key (it stops working at once)",
          params: ApiKeyParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        await scope(request, "api_keys:manage", (tx, access) =>
          service.revokeApiKey(tx, access, request.params.keyId),
        );
        return reply.status(204).send(null);
      },
    );
  };
}
