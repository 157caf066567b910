import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { workspaceScope } from "../access/workspace-access.js";
import type { AppDeps } from "../http/deps.js";
import { PageQuery, pageOf } from "../http/pagination.js";
import { NoContent, problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import { ClientCreateSchema, ClientParams, ClientSchema, ClientUpdateSchema } from "./clients.schemas.js";
import * as service from "./clients.service.js";

const tags = ["Clients"];
const base = "/api/v1/workspaces/:workspaceId/clients";

export function clientsRoutes({ pool }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  return async (app) => {
    app.get(
      base,
      {
        schema: {
          tags,
          summary: "Clients (brands) the caller can see, by name",
          params: WorkspaceParams,
          querystring: PageQuery,
          response: { 200: pageOf(ClientSchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "clients:read", (tx, access) => service.listClients(tx, access, request.query)),
    );

    app.post(
      base,
      {
        schema: {
          tags,
          summary: "Create a client",
          params: WorkspaceParams,
          body: ClientCreateSchema,
          response: { 201: ClientSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request, reply) => {
        const client = await scope(request, "clients:write", (tx, access) =>
          service.createClient(tx, access, request.body),
        );
        return reply.status(201).send(client);
      },
    );

    app.get(
      `${base}/:clientId`,
      {
        schema: {
          tags,
          summary: "One client",
          params: ClientParams,
          response: { 200: ClientSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "clients:read", (tx, access) =>
          service.getClient(tx, access, request.params.clientId),
        ),
    );

    app.patch(
      `${base}/:clientId`,
      {
        schema: {
          tags,
          summary: "Change a client's name, time zone, posting times or approval rule",
          params: ClientParams,
          body: ClientUpdateSchema,
          response: { 200: ClientSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request) =>
        scope(request, "clients:write", (tx, access) =>
          service.updateClient(tx, access, request.params.clientId, request.body),
        ),
    );

    app.delete(
      `${base}/:clientId`,
      {
        schema: {
          tags,
          summary: "Delete a client",
          params: ClientParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        await scope(request, "clients:write", (tx, access) =>
          service.deleteClient(tx, access, request.params.clientId),
        );
        return reply.status(204).send(null);
      },
    );
  };
}
