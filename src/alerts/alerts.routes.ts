import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { workspaceScope } from "../access/workspace-access.js";
import { auditContextOf, recordAudit } from "../audit/audit.js";
import { withTransaction } from "../db/tenant.js";
import { AppError, NotFoundError } from "../errors.js";
import type { AppDeps } from "../http/deps.js";
import { PageQuery, pageOf } from "../http/pagination.js";
import { NoContent, problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import {
  AlertListQuery,
  AlertParams,
  AlertRuleCreateSchema,
  AlertRuleSchema,
  AlertRuleUpdateSchema,
  AlertSchema,
  CheckSummarySchema,
  RuleParams,
} from "./alerts.schemas.js";
import * as service from "./alerts.service.js";
import { evaluateAlerts } from "./evaluate.js";

const tags = ["Alerts"];
const base = "/api/v1/workspaces/:workspaceId";

/** Constant-time comparison of the bearer secret (hashed first, so lengths never differ). */
export function cronSecretMatches(header: string | undefined, secret: string): boolean {
  const presented = header?.startsWith("Bearer ") ? header.slice(7) : "";
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(secret).digest();
  return timingSafeEqual(a, b) && presented.length > 0;
}

export function alertsRoutes({ pool, config, log }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  return async (app) => {
    app.get(
      `${base}/alerts`,
      {
        schema: {
          tags,
          summary: "Alerts of the workspace, newest first",
          params: WorkspaceParams,
          querystring: AlertListQuery,
          response: { 200: pageOf(AlertSchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "monitoring:read", (tx, access) => service.listAlerts(tx, access, request.query)),
    );

    app.post(
      `${base}/alerts/:alertId/acknowledge`,
      {
        schema: {
          tags,
          summary: "Acknowledge a firing alert (records who and when; 409 once resolved)",
          params: AlertParams,
          response: { 200: AlertSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request) =>
        scope(request, "monitoring:write", (tx, access) =>
          service.acknowledgeAlert(tx, access, request.params.alertId),
        ),
    );

    app.get(
      `${base}/alert-rules`,
      {
        schema: {
          tags,
          summary: "Alert rules, the defaults included",
          params: WorkspaceParams,
          querystring: PageQuery,
          response: { 200: pageOf(AlertRuleSchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "monitoring:read", (tx, access) => service.listRules(tx, access, request.query)),
    );

    app.post(
      `${base}/alert-rules`,
      {
        schema: {
          tags,
          summary: "Create a custom alert rule",
          params: WorkspaceParams,
          body: AlertRuleCreateSchema,
          response: { 201: AlertRuleSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        const rule = await scope(request, "monitoring:write", (tx, access) =>
          service.createRule(tx, access, request.body),
        );
        return reply.status(201).send(rule);
      },
    );

    app.get(
      `${base}/alert-rules/:ruleId`,
      {
        schema: {
          tags,
          summary: "One alert rule",
          params: RuleParams,
          response: { 200: AlertRuleSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "monitoring:read", (tx, access) => service.getRule(tx, access, request.params.ruleId)),
    );

    app.patch(
      `${base}/alert-rules/:ruleId`,
      {
        schema: {
          tags,
          summary: "Change an alert rule (defaults too), or enable or disable it",
          params: RuleParams,
          body: AlertRuleUpdateSchema,
          response: { 200: AlertRuleSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "monitoring:write", (tx, access) =>
          service.updateRule(tx, access, request.params.ruleId, request.body),
        ),
    );

    app.delete(
      `${base}/alert-rules/:ruleId`,
      {
        schema: {
          tags,
          summary: "Delete an alert rule (its open alerts are resolved, its history kept)",
          params: RuleParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request, reply) => {
        await scope(request, "monitoring:write", (tx, access) =>
          service.deleteRule(tx, access, request.params.ruleId),
        );
        return reply.status(204).send(null);
      },
    );

    app.post(
      "/api/v1/cron/check-alerts",
      {
        config: { public: true },
        schema: {
          tags,
          summary: "Evaluate every alert rule now (Authorization: Bearer $CRON_SECRET; 404 when unset)",
          response: { 200: CheckSummarySchema, ...problemResponses(401, 404, 429) },
        },
      },
      async (request) => {
        const secret = config.cronSecret;
        // Unset: the endpoint does not exist (the worker's cron evaluates every minute anyway).
        if (secret === undefined) throw new NotFoundError();
        if (!cronSecretMatches(request.headers.authorization, secret)) {
          // A security event in the chain of events without a workspace, like a refused sign-in.
          await withTransaction(pool, (tx) =>
            recordAudit(tx, null, auditContextOf(request), {
              action: "access_denied",
              outcome: "denied",
              details: {
                route: "POST /api/v1/cron/check-alerts",
                reason: request.headers.authorization ? "wrong cron secret" : "no cron secret",
              },
            }),
          );
          throw new AppError(
            401,
            "HERALD_CRON_UNAUTHORIZED",
            "Authentication required",
            "Send the cron secret as `Authorization: Bearer <CRON_SECRET>`.",
          );
        }
        const result = await evaluateAlerts(pool, log);
        return {
          workspaces: result.workspaces,
          rulesEvaluated: result.rulesEvaluated,
          fired: result.fired,
          resolved: result.resolved,
          systemAlerts: result.systemAlerts,
        };
      },
    );
  };
}
