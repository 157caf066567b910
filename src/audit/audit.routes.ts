import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { workspaceScope } from "../access/workspace-access.js";
import type { AppDeps } from "../http/deps.js";
import { pageOf } from "../http/pagination.js";
import { problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import { auditIn } from "./audit.js";
import { streamAuditEvents, verifyCurrentChain } from "./audit.repository.js";
import { AuditEventSchema, AuditExportQuery, AuditQuery, VerifySchema } from "./audit.schemas.js";
import { exportRange, listEvents, toCsv, toJsonArray } from "./audit.service.js";

const tags = ["Audit"];
const base = "/api/v1/workspaces/:workspaceId/audit";

export function auditRoutes({ pool, config }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  return async (app) => {
    app.get(
      base,
      {
        schema: {
          tags,
          summary: "Audit events of the workspace, newest first",
          params: WorkspaceParams,
          querystring: AuditQuery,
          response: { 200: pageOf(AuditEventSchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) => scope(request, "audit:read", (tx) => listEvents(tx, request.query)),
    );

    app.get(
      `${base}/export`,
      {
        schema: {
          tags,
          summary: "Export audit events as CSV or a JSON array, streamed (the export is itself audited)",
          params: WorkspaceParams,
          querystring: AuditExportQuery,
          produces: ["text/csv", "application/json"],
          response: {
            // The stream itself: written as it is read, not serialized.
            200: z
              .unknown()
              .meta({ description: "CSV (text/csv) or a JSON array (application/json), streamed" }),
            ...problemResponses(400, 401, 403, 404, 429),
          },
        },
      },
      async (request, reply) => {
        const { format, ...filters } = request.query;
        const range = exportRange(filters, config.audit.exportMaxDays);
        const selection = { ...filters, ...range };
        // Recorded and committed first: an export that breaks off half-way still happened.
        await scope(request, "audit:read", (tx, access) =>
          auditIn(tx, access, { action: "audit_exported", details: { format, filters: selection } }),
        );
        const body = new PassThrough();
        let sending = false;
        try {
          await scope(request, "audit:read", async (tx) => {
            const rows = streamAuditEvents(tx, selection);
            const stamp = new Date().toISOString().slice(0, 10);
            reply
              .type(format === "csv" ? "text/csv; charset=utf-8" : "application/json; charset=utf-8")
              .header("content-disposition", `attachment; filename="herald-audit-${stamp}.${format}"`)
              .header("cache-control", "no-store");
            sending = true;
            void reply.send(body);
            await pipeline(rows, format === "csv" ? toCsv() : toJsonArray(), body);
          });
        } catch (error) {
          if (!sending) throw error;
          // Headers are gone: all that is left is to cut the stream, and log why.
          request.log.error({ err: error }, "audit export failed while streaming");
          body.destroy(error instanceof Error ? error : new Error(String(error)));
        }
        return reply;
      },
    );

    app.get(
      `${base}/verify`,
      {
        schema: {
          tags,
          summary:
            "Walk the workspace's hash chain: ok, events checked, the first broken one, events not sealed yet",
          params: WorkspaceParams,
          response: { 200: VerifySchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) => scope(request, "audit:read", (tx) => verifyCurrentChain(tx)),
    );
  };
}
