import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { workspaceScope } from "../access/workspace-access.js";
import type { AppDeps } from "../http/deps.js";
import { PageQuery, pageOf } from "../http/pagination.js";
import { NoContent, problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import {
  ChannelCreatedSchema,
  ChannelCreateSchema,
  ChannelParams,
  ChannelSchema,
  NotificationDeliverySchema,
} from "./notifications.schemas.js";
import * as service from "./notifications.service.js";

const tags = ["Notifications"];
const base = "/api/v1/workspaces/:workspaceId/notification-channels";
/** Channels are managed by whoever manages webhooks: owners and admins (and `admin` API keys). */
const PERMISSION = "webhooks:manage";

export function notificationsRoutes({ pool, vault, config }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  return async (app) => {
    app.get(
      base,
      {
        schema: {
          tags,
          summary: "The workspace's notification channels, oldest first (never their secrets)",
          params: WorkspaceParams,
          querystring: PageQuery,
          response: { 200: pageOf(ChannelSchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, PERMISSION, (tx, access) => service.listChannels(tx, access, request.query)),
    );

    app.post(
      base,
      {
        schema: {
          tags,
          summary: "Add a channel: a signed webhook, a Slack incoming webhook or an email address",
          description:
            "A webhook channel's answer holds its Standard Webhooks signing secret, shown once. A URL " +
            "whose host is or resolves to a private or reserved address is refused (422 " +
            "`HERALD_CHANNEL_URL_REFUSED`) unless HERALD_OUTBOUND_ALLOWLIST allows it. Email channels " +
            "need HERALD_SMTP_URL on the server; without it their deliveries fail with that reason.",
          params: WorkspaceParams,
          body: ChannelCreateSchema,
          response: { 201: ChannelCreatedSchema, ...problemResponses(400, 401, 403, 404, 422, 429) },
        },
      },
      async (request, reply) => {
        const channel = await scope(request, PERMISSION, (tx, access) =>
          service.createChannel(tx, access, { vault, config }, request.body),
        );
        return reply.status(201).send(channel);
      },
    );

    app.delete(
      `${base}/:channelId`,
      {
        schema: {
          tags,
          summary: "Delete a channel and its delivery log; queued deliveries are not sent",
          params: ChannelParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        await scope(request, PERMISSION, (tx, access) =>
          service.deleteChannel(tx, access, request.params.channelId),
        );
        return reply.status(204).send(null);
      },
    );

    app.get(
      `${base}/:channelId/deliveries`,
      {
        schema: {
          tags,
          summary: "The channel's delivery log, newest first",
          params: ChannelParams,
          querystring: PageQuery,
          response: { 200: pageOf(NotificationDeliverySchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, PERMISSION, (tx, access) =>
          service.listDeliveries(tx, access, request.params.channelId, request.query),
        ),
    );

    app.post(
      `${base}/:channelId/test`,
      {
        schema: {
          tags,
          summary: "Queue a test notification to this channel only",
          params: ChannelParams,
          response: { 202: NotificationDeliverySchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request, reply) => {
        const delivery = await scope(request, PERMISSION, (tx, access) =>
          service.sendTestNotification(tx, access, request.params.channelId),
        );
        return reply.status(202).send(delivery);
      },
    );
  };
}
