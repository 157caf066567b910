/**
 * GET /api/v1/workspaces/{workspaceId}/monitoring/metrics: dashboard figures of one workspace over a
 * time range (docs/OBSERVABILITY.md, "Metrics API").
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { workspaceScope } from "../access/workspace-access.js";
import type { AppDeps } from "../http/deps.js";
import { problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import { MetricsQuery, WorkspaceMetricsSchema } from "./metrics-api.schemas.js";
import { workspaceMetrics } from "./metrics-api.service.js";

const tags = ["Monitoring"];

export function metricsApiRoutes({ pool }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  return async (app) => {
    app.get(
      "/api/v1/workspaces/:workspaceId/monitoring/metrics",
      {
        schema: {
          tags,
          summary: "Publish, token refresh and queue figures of the workspace over a time range",
          description:
            "Computed from the recorded publish attempts, audit events and targets. `from`/`to` are RFC 3339 " +
            "times with an offset; default the last 24 hours, at most 31 days. The series is bucketed by " +
            "hour, or by day for ranges over 3 days. Needs `monitoring:read`.",
          params: WorkspaceParams,
          querystring: MetricsQuery,
          response: { 200: WorkspaceMetricsSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "monitoring:read", (tx, access) => workspaceMetrics(tx, access, request.query)),
    );
  };
}
