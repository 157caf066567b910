/** Process endpoints, outside /api/v1 and without authentication: liveness, readiness, OpenAPI. */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { pendingMigrations } from "../db/migrate.js";
import type { AppDeps } from "./deps.js";

const tags = ["Operations"];

const ReadySchema = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    checks: z.object({
      database: z.object({ ok: z.boolean(), latencyMs: z.number().optional(), error: z.string().optional() }),
      migrations: z.object({ ok: z.boolean(), pending: z.array(z.string()) }),
    }),
  })
  .meta({ id: "Readiness" });

export function opsRoutes({ pool, log }: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/health",
      {
        schema: {
          tags,
          summary: "Liveness: the process answers",
          response: { 200: z.object({ status: z.literal("ok") }) },
        },
      },
      async () => ({ status: "ok" as const }),
    );

    app.get(
      "/ready",
      {
        schema: {
          tags,
          summary: "Readiness: the database answers and every migration is applied (503 otherwise)",
          response: { 200: ReadySchema, 503: ReadySchema },
        },
      },
      async (_request, reply) => {
        const started = performance.now();
        try {
          await pool.query("select 1");
          const latencyMs = Math.round((performance.now() - started) * 10) / 10;
          const pending = await pendingMigrations(pool);
          const ok = pending.length === 0;
          return reply.status(ok ? 200 : 503).send({
            status: ok ? "ready" : "not_ready",
            checks: { database: { ok: true, latencyMs }, migrations: { ok, pending } },
          });
        } catch (error) {
          log.warn({ err: error }, "readiness check failed");
          return reply.status(503).send({
            status: "not_ready",
            checks: {
              database: { ok: false, error: "the database did not answer" },
              migrations: { ok: false, pending: [] },
            },
          });
        }
      },
    );

    app.get("/api/openapi.json", { schema: { hide: true } }, async () => app.swagger());
    // `/` is the web app's (src/http/web.ts).
  };
}
