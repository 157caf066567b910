import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { workspaceScope } from "../access/workspace-access.js";
import type { AppDeps } from "../http/deps.js";
import { PageQuery, pageOf } from "../http/pagination.js";
import { NoContent, problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import { MemberInviteSchema, MemberParams, MemberSchema, MemberUpdateSchema } from "./members.schemas.js";
import * as service from "./members.service.js";

const tags = ["Members"];
const base = "/api/v1/workspaces/:workspaceId/members";

export function membersRoutes({ pool }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  return async (app) => {
    app.get(
      base,
      {
        schema: {
          tags,
          summary: "Members and pending invitations",
          params: WorkspaceParams,
          querystring: PageQuery,
          response: { 200: pageOf(MemberSchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) => scope(request, "members:read", (tx) => service.listMembers(tx, request.query)),
    );

    app.post(
      base,
      {
        schema: {
          tags,
          summary: "Invite a person by email (accepted when they sign up or sign in)",
          params: WorkspaceParams,
          body: MemberInviteSchema,
          response: { 201: MemberSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request, reply) => {
        const member = await scope(request, "members:write", (tx, access) =>
          service.inviteMember(tx, access, request.body),
        );
        return reply.status(201).send(member);
      },
    );

    app.patch(
      `${base}/:memberId`,
      {
        schema: {
          tags,
          summary: "Change a member's role or client restriction",
          params: MemberParams,
          body: MemberUpdateSchema,
          response: { 200: MemberSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request) =>
        scope(request, "members:write", (tx, access) =>
          service.updateMember(tx, access, request.params.memberId, request.body),
        ),
    );

    app.delete(
      `${base}/:memberId`,
      {
        schema: {
          tags,
          summary: "Remove a member or withdraw an invitation",
          params: MemberParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request, reply) => {
        await scope(request, "members:write", (tx, access) =>
          service.removeMember(tx, access, request.params.memberId),
        );
        return reply.status(204).send(null);
      },
    );
  };
}
