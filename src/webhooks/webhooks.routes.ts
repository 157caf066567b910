import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { workspaceScope } from "../access/workspace-access.js";
import type { AppDeps } from "../http/deps.js";
import { PageQuery, pageOf } from "../http/pagination.js";
import { NoContent, problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import {
  WebhookCreatedSchema,
  WebhookCreateSchema,
  WebhookDeliverySchema,
  WebhookParams,
  WebhookSchema,
  WebhookUpdateSchema,
} from "./webhooks.schemas.js";
import * as service from "./webhooks.service.js";

const tags = ["Webhooks"];
const base = "/api/v1/workspaces/:workspaceId/webhooks";

export function webhooksRoutes({ pool, vault, config }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  return async (app) => {
    app.get(
      base,
      {
        schema: {
          tags,
          summary: "The workspace's webhooks, oldest first (never their secrets)",
          params: WorkspaceParams,
          querystring: PageQuery,
          response: { 200: pageOf(WebhookSchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "webhooks:manage", (tx, access) => service.listWebhooks(tx, access, request.query)),
    );

    app.post(
      base,
      {
        schema: {
          tags,
          summary: "Subscribe a URL to events; the answer holds the signing secret, shown once",
          description:
            "Deliveries are POSTed as JSON `{type, timestamp, data}` and signed as Standard Webhooks " +
            "(`webhook-id`, `webhook-timestamp`, `webhook-signature`). https is recommended. A URL whose " +
            "host is or resolves to a private or reserved address is refused (422) unless the operator " +
            "allows it with HERALD_OUTBOUND_ALLOWLIST.",
          params: WorkspaceParams,
          body: WebhookCreateSchema,
          response: { 201: WebhookCreatedSchema, ...problemResponses(400, 401, 403, 404, 422, 429) },
        },
      },
      async (request, reply) => {
        const webhook = await scope(request, "webhooks:manage", (tx, access) =>
          service.createWebhook(tx, access, { vault, config }, request.body),
        );
        return reply.status(201).send(webhook);
      },
    );

    app.get(
      `${base}/:webhookId`,
      {
        schema: {
          tags,
          summary: "One webhook (without its secret)",
          params: WebhookParams,
          response: { 200: WebhookSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "webhooks:manage", (tx, access) =>
          service.getWebhook(tx, access, request.params.webhookId),
        ),
    );

    app.patch(
      `${base}/:webhookId`,
      {
        schema: {
          tags,
          summary: "Enable or disable a webhook, or change its events or description",
          params: WebhookParams,
          body: WebhookUpdateSchema,
          response: { 200: WebhookSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "webhooks:manage", (tx, access) =>
          service.updateWebhook(tx, access, request.params.webhookId, request.body),
        ),
    );

    app.delete(
      `${base}/:webhookId`,
      {
        schema: {
          tags,
          summary: "Delete a webhook and its delivery log; queued deliveries are not sent",
          params: WebhookParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        await scope(request, "webhooks:manage", (tx, access) =>
          service.deleteWebhook(tx, access, request.params.webhookId),
        );
        return reply.status(204).send(null);
      },
    );

    app.get(
      `${base}/:webhookId/deliveries`,
      {
        schema: {
          tags,
          summary: "The webhook's delivery log, newest first",
          params: WebhookParams,
          querystring: PageQuery,
          response: { 200: pageOf(WebhookDeliverySchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "webhooks:manage", (tx, access) =>
          service.listDeliveries(tx, access, request.params.webhookId, request.query),
        ),
    );

    app.post(
      `${base}/:webhookId/test`,
      {
        schema: {
          tags,
          summary: "Queue a webhook.test event to this webhook only",
          params: WebhookParams,
          response: { 202: WebhookDeliverySchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request, reply) => {
        const delivery = await scope(request, "webhooks:manage", (tx, access) =>
          service.sendTestEvent(tx, access, request.params.webhookId),
        );
        return reply.status(202).send(delivery);
      },
    );
  };
}
