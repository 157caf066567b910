import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { workspaceScope } from "../access/workspace-access.js";
import type { AppDeps } from "../http/deps.js";
import { pageOf } from "../http/pagination.js";
import { NoContent, problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import { AccountClientParams, AccountParams, AccountQuery, AccountSchema } from "./accounts.schemas.js";
import * as service from "./accounts.service.js";

const tags = ["Accounts"];
const base = "/api/v1/workspaces/:workspaceId/accounts";

export function accountsRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(deps.pool);
  return async (app) => {
    app.get(
      base,
      {
        schema: {
          tags,
          summary: "Connected social accounts with status, expiry, scopes and linked clients (never a token)",
          params: WorkspaceParams,
          querystring: AccountQuery,
          response: { 200: pageOf(AccountSchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "accounts:read", (tx, access) => service.listAccounts(tx, access, request.query)),
    );

    app.get(
      `${base}/:accountId`,
      {
        schema: {
          tags,
          summary: "One account",
          params: AccountParams,
          response: { 200: AccountSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "accounts:read", (tx, access) =>
          service.getAccount(tx, access, request.params.accountId),
        ),
    );

    app.delete(
      `${base}/:accountId`,
      {
        schema: {
          tags,
          summary:
            "Disconnect: revoke at the platform where possible, delete the tokens, unlink from every client",
          params: AccountParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        await scope(request, "accounts:write", (tx, access) =>
          service.disconnectAccount(tx, access, deps, request.params.accountId),
        );
        return reply.status(204).send(null);
      },
    );

    app.post(
      `${base}/:accountId/refresh`,
      {
        schema: {
          tags,
          summary:
            "Refresh the account's token now; a refusal by the platform comes back as status needs_reconnection with the reason",
          params: AccountParams,
          response: { 200: AccountSchema, ...problemResponses(400, 401, 403, 404, 409, 429, 502) },
        },
      },
      async (request) => {
        const { accountId } = request.params;
        const { access, target } = await scope(request, "accounts:write", async (tx, access) => ({
          access,
          target: await service.credentialToRefresh(tx, access, accountId),
        }));
        await service.refreshNow(deps, access, target);
        return scope(request, "accounts:read", (tx, again) => service.getAccount(tx, again, accountId));
      },
    );

    app.put(
      `${base}/:accountId/clients/:clientId`,
      {
        schema: {
          tags,
          summary: "Link the account to a client (connect once, link anywhere)",
          params: AccountClientParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request, reply) => {
        await scope(request, "accounts:write", (tx, access) =>
          service.linkClient(tx, access, request.params.accountId, request.params.clientId),
        );
        return reply.status(204).send(null);
      },
    );

    app.delete(
      `${base}/:accountId/clients/:clientId`,
      {
        schema: {
          tags,
          summary: "Unlink the account from a client",
          params: AccountClientParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        await scope(request, "accounts:write", (tx, access) =>
          service.unlinkClient(tx, access, request.params.accountId, request.params.clientId),
        );
        return reply.status(204).send(null);
      },
    );
  };
}
