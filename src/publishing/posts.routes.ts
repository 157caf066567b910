import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { workspaceScope } from "../access/workspace-access.js";
import { ValidationError } from "../errors.js";
import type { AppDeps } from "../http/deps.js";
import { problemResponses } from "../http/problem.js";
import { createMediaStore } from "../media/media.store.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import {
  CalendarQuery,
  NextSlotQuery,
  PostCreateSchema,
  PostListQuery,
  PostParams,
  PostSchema,
  PostUpdateSchema,
  RejectSchema,
  ValidationResultSchema,
} from "./posts.schemas.js";
import * as service from "./posts.service.js";

const tags = ["Posts"];
const base = "/api/v1/workspaces/:workspaceId";
const IdempotencyKey = z.string().min(1).max(255).optional();

export function postsRoutes(deps: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(deps.pool);
  const postDeps: service.PostDeps = {
    registry: deps.registry,
    mediaStore: createMediaStore(deps.config),
    config: deps.config,
  };
  return async (app) => {
    app.post(
      `${base}/posts/validate`,
      {
        schema: {
          tags,
          summary: "Check a post against every target's platform rules; nothing is stored",
          params: WorkspaceParams,
          body: PostCreateSchema,
          response: { 200: ValidationResultSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "posts:read", (tx, access) =>
          service.validatePost(tx, access, postDeps, request.body),
        ),
    );

    app.post(
      `${base}/posts`,
      {
        schema: {
          tags,
          summary: "Create a post: scheduled, published now, for approval, or a draft",
          description:
            "Send `Idempotency-Key` to make retries safe: the same key and body answer the first response again; the same key with another body is a 422.",
          params: WorkspaceParams,
          headers: z.object({ "idempotency-key": IdempotencyKey }),
          body: PostCreateSchema,
          response: { 201: PostSchema, ...problemResponses(400, 401, 403, 404, 409, 422, 429) },
        },
      },
      async (request, reply) => {
        const key = request.headers["idempotency-key"];
        const result = await scope(request, "posts:write", async (tx, access) => {
          const create = () => service.createPost(tx, access, postDeps, request.body);
          if (key === undefined) return { status: 201, post: await create(), replayed: false };
          return service.idempotent(tx, access, key, request.body, create);
        });
        if (result.replayed) reply.header("idempotent-replayed", "true");
        return reply.status(201).send(result.post);
      },
    );

    app.get(
      `${base}/posts`,
      {
        schema: {
          tags,
          summary: "Posts in publishing order, filtered by status, client, account and time",
          params: WorkspaceParams,
          querystring: PostListQuery,
          response: {
            200: z.object({ items: z.array(PostSchema), nextCursor: z.string().nullable() }),
            ...problemResponses(400, 401, 403, 404, 429),
          },
        },
      },
      async (request) =>
        scope(request, "posts:read", (tx, access) => service.listPosts(tx, access, request.query)),
    );

    app.get(
      `${base}/posts/:postId`,
      {
        schema: {
          tags,
          summary: "A post with each target's state, attempts, platform links and errors",
          params: PostParams,
          response: { 200: PostSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "posts:read", (tx, access) =>
          service.getPost(tx, access, request.params.postId, true),
        ),
    );

    app.patch(
      `${base}/posts/:postId`,
      {
        schema: {
          tags,
          summary: "Edit or reschedule a post until a target starts publishing (then 409)",
          params: PostParams,
          body: PostUpdateSchema,
          response: { 200: PostSchema, ...problemResponses(400, 401, 403, 404, 409, 422, 429) },
        },
      },
      async (request) => {
        if (Object.keys(request.body).length === 0)
          throw new ValidationError("Nothing to change.", [
            { path: "body", message: "names no field", rule: "empty" },
          ]);
        return scope(request, "posts:write", (tx, access) =>
          service.updatePost(tx, access, postDeps, request.params.postId, request.body),
        );
      },
    );

    app.delete(
      `${base}/posts/:postId`,
      {
        schema: {
          tags,
          summary: "Cancel the targets that have not started; 409 once one is publishing",
          params: PostParams,
          response: { 200: PostSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request) =>
        scope(request, "posts:write", (tx, access) => service.cancelPost(tx, access, request.params.postId)),
    );

    app.post(
      `${base}/posts/:postId/approve`,
      {
        schema: {
          tags,
          summary: "Approve a post waiting for approval: its targets are scheduled",
          params: PostParams,
          response: { 200: PostSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request) =>
        scope(request, "posts:approve", (tx, access) =>
          service.approvePost(tx, access, request.params.postId),
        ),
    );

    app.post(
      `${base}/posts/:postId/reject`,
      {
        schema: {
          tags,
          summary: "Reject a post waiting for approval, saying why; it returns to draft",
          params: PostParams,
          body: RejectSchema,
          response: { 200: PostSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request) =>
        scope(request, "posts:approve", (tx, access) =>
          service.rejectPost(tx, access, request.params.postId, request.body.reason),
        ),
    );

    app.post(
      `${base}/posts/:postId/retry`,
      {
        schema: {
          tags,
          summary: "Queue the failed targets again, due now",
          params: PostParams,
          response: { 200: PostSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request) =>
        scope(request, "posts:write", (tx, access) => service.retryPost(tx, access, request.params.postId)),
    );

    app.get(
      `${base}/calendar`,
      {
        schema: {
          tags,
          summary: "Posts due in a time range, for a client or the whole workspace",
          params: WorkspaceParams,
          querystring: CalendarQuery,
          response: {
            200: z.object({ items: z.array(PostSchema) }),
            ...problemResponses(400, 401, 403, 404, 429),
          },
        },
      },
      async (request) =>
        scope(request, "posts:read", (tx, access) => service.calendar(tx, access, request.query)),
    );

    app.get(
      `${base}/posting-slots/next`,
      {
        schema: {
          tags,
          summary: "The client's next free posting slot (its posting times, in its time zone)",
          params: WorkspaceParams,
          querystring: NextSlotQuery,
          response: {
            200: z.object({
              clientId: z.uuid(),
              timezone: z.string(),
              slot: z.iso.datetime({ offset: true }).nullable(),
              postingTimes: z.number().int(),
            }),
            ...problemResponses(400, 401, 403, 404, 429),
          },
        },
      },
      async (request) =>
        scope(request, "posts:read", (tx, access) =>
          service.nextSlot(tx, access, request.query.clientId, request.query.after),
        ),
    );
  };
}
