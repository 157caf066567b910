/**
 * GET /api/v1/monitoring/health: the system's real state for a signed-in person or an API key with
 * `monitoring:read`. 200 when ok or degraded, 503 when down (so a load balancer or an uptime probe
 * can act on the status code alone).
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { scopesAllow } from "../access/permissions.js";
import { requirePrincipal } from "../access/principal.js";
import { ForbiddenError } from "../errors.js";
import type { AppDeps } from "../http/deps.js";
import { problemResponses } from "../http/problem.js";
import { checkHealth, HealthSchema } from "./health.js";

const tags = ["Monitoring"];

export function healthRoutes({ pool, log }: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/api/v1/monitoring/health",
      {
        schema: {
          tags,
          summary: "Database, migrations, live workers, queue, last-hour publish figures and overall status",
          description:
            "Any signed-in person sees the system-wide checks, and the publish figures of the workspaces " +
            "where their role allows `monitoring:read` (every role but client, and not members limited to " +
            "some clients). An API key needs the `monitoring:read` scope and sees its workspace's figures. " +
            "`down` answers 503, `ok` and `degraded` 200. Thresholds: docs/OBSERVABILITY.md.",
          response: { 200: HealthSchema, 503: HealthSchema, ...problemResponses(401, 403, 429) },
        },
      },
      async (request, reply) => {
        const principal = requirePrincipal(request.principal);
        if (principal.kind === "api_key" && !scopesAllow(principal.scopes, "monitoring:read")) {
          throw new ForbiddenError(
            "This API key's scopes do not allow monitoring:read.",
            "HERALD_INSUFFICIENT_SCOPE",
          );
        }
        const health = await checkHealth(pool, principal, log);
        return reply.status(health.status === "down" ? 503 : 200).send(health);
      },
    );
  };
}
