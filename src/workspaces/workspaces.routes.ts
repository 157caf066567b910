import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { requirePrincipal, requireUserPrincipal } from "../access/principal.js";
import { workspaceScope } from "../access/workspace-access.js";
import { auditContextOf } from "../audit/audit.js";
import type { AppDeps } from "../http/deps.js";
import { PageQuery, pageOf } from "../http/pagination.js";
import { problemResponses } from "../http/problem.js";
import {
  WorkspaceCreateSchema,
  WorkspaceParams,
  WorkspaceSchema,
  WorkspaceUpdateSchema,
} from "./workspaces.schemas.js";
import * as service from "./workspaces.service.js";

const tags = ["Workspaces"];

export function workspacesRoutes({ pool }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  return async (app) => {
    app.post(
      "/api/v1/workspaces",
      {
        schema: {
          tags,
          summary: "Create a workspace; the caller becomes its owner",
          body: WorkspaceCreateSchema,
          response: { 201: WorkspaceSchema, ...problemResponses(400, 401, 403, 409, 429) },
        },
      },
      async (request, reply) => {
        const user = requireUserPrincipal(request.principal);
        reply.status(201);
        return service.createWorkspace(pool, user, request.body, auditContextOf(request));
      },
    );

    app.get(
      "/api/v1/workspaces",
      {
        schema: {
          tags,
          summary: "The caller's workspaces",
          querystring: PageQuery,
          response: { 200: pageOf(WorkspaceSchema), ...problemResponses(400, 401, 429) },
        },
      },
      async (request) => service.listWorkspaces(pool, requirePrincipal(request.principal), request.query),
    );

    app.get(
      "/api/v1/workspaces/:workspaceId",
      {
        schema: {
          tags,
          summary: "One workspace",
          params: WorkspaceParams,
          response: { 200: WorkspaceSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) => scope(request, "workspace:read", (tx, access) => service.getWorkspace(tx, access)),
    );

    app.patch(
      "/api/v1/workspaces/:workspaceId",
      {
        schema: {
          tags,
          summary: "Rename a workspace or change its slug",
          params: WorkspaceParams,
          body: WorkspaceUpdateSchema,
          response: { 200: WorkspaceSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request) =>
        scope(request, "workspace:update", (tx, access) => service.updateWorkspace(tx, access, request.body)),
    );
  };
}
