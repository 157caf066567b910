/**
 * The HTTP application: external plugins (security headers, CORS, rate limits, OpenAPI), then
 * Herald's hooks (request id, authentication, access log), then the routes. Built the same way in
 * production and in tests (through `app.inject`).
 */

import { randomUUID } from "node:crypto";
import cors from "@fastify/cors";
import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyBaseLogger, type RouteOptions } from "fastify";
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import { accountsRoutes } from "../accounts/accounts.routes.js";
import { alertsRoutes } from "../alerts/alerts.routes.js";
import { apiKeysRoutes } from "../api-keys/api-keys.routes.js";
import { auditRoutes } from "../audit/audit.routes.js";
import { authRoutes } from "../auth/auth.routes.js";
import { createSessionReader } from "../auth/session.js";
import { clientsRoutes } from "../clients/clients.routes.js";
import { connectionsRoutes } from "../connections/connections.routes.js";
import { RateLimitedError } from "../errors.js";
import { mediaRoutes } from "../media/media.routes.js";
import { membersRoutes } from "../members/members.routes.js";
import { notificationsRoutes } from "../notifications/notifications.routes.js";
import { healthRoutes } from "../observability/health.routes.js";
import { metrics, metricsRoutes } from "../observability/metrics.js";
import { metricsApiRoutes } from "../observability/metrics-api.routes.js";
import { providersRoutes } from "../providers/providers.routes.js";
import { postsRoutes } from "../publishing/posts.routes.js";
import { sandboxRoutes } from "../sandbox/sandbox.js";
import { webhooksRoutes } from "../webhooks/webhooks.routes.js";
import { workspacesRoutes } from "../workspaces/workspaces.routes.js";
import { AccessLog } from "./access-log.js";
import { createAuthenticateHook } from "./authenticate.js";
import type { AppDeps } from "./deps.js";
import { opsRoutes } from "./ops.routes.js";
import { errorHandler, notFoundHandler } from "./problem.js";
import { registerWebApp } from "./web.js";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export async function buildApp(deps: AppDeps) {
  const { config, log } = deps;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new AccessLog(),
    // Accept the caller's x-request-id when it is a sane token, otherwise make one.
    genReqId: (request) => {
      const given = request.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    bodyLimit: 1024 * 1024,
    requestTimeout: 60_000,
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.decorateRequest("principal", undefined);

  /** Every route, as registered: the cross-tenant test walks this list. */
  const routes: RouteOptions[] = [];
  app.addHook("onRoute", (route) => {
    routes.push(route);
  });

  await app.register(helmet, {
    contentSecurityPolicy: { directives: { "upgrade-insecure-requests": null } },
    strictTransportSecurity: config.publicUrl.protocol === "https:",
  });
  await app.register(cors, {
    origin: config.corsOrigins.length > 0 ? config.corsOrigins : false,
    credentials: true,
    exposedHeaders: ["x-request-id", "retry-after"],
  });
  await app.register(rateLimit, {
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    allowList: (request) => request.url === "/health" || request.url === "/ready",
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(
        `More than ${context.max} requests in a minute from this address.`,
        Math.ceil(context.ttl / 1000),
      ),
  });
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, notFoundHandler);

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Herald API",
        version: "1",
        description:
          "Connect social accounts once, schedule posts to many platforms, publish each exactly once. " +
          "Errors are RFC 9457 problem+json with a stable `code`.",
      },
      servers: [{ url: config.publicUrl.origin }],
      components: {
        securitySchemes: {
          session: { type: "apiKey", in: "cookie", name: "herald.session_token" },
          apiKey: { type: "http", scheme: "bearer", description: "An API key: `hrld_...`" },
        },
      },
      security: [{ session: [] }, { apiKey: [] }],
    },
    transform: (input) => {
      const output = jsonSchemaTransform(input);
      // A multipart upload is read as a stream, not validated as a body; the document still says
      // what to send: one binary part named `file`.
      if (!input.schema?.consumes?.includes("multipart/form-data")) return output;
      return {
        ...output,
        schema: {
          ...output.schema,
          body: {
            type: "object",
            required: ["file"],
            properties: { file: { type: "string", format: "binary", description: "The file." } },
          },
        },
      };
    },
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, {
    routePrefix: "/api/docs",
    staticCSP: true,
    // Over plain http (a laptop), "upgrade-insecure-requests" would send the page's own assets to https.
    transformStaticCSP: (header) =>
      config.publicUrl.protocol === "https:" ? header : header.replace(/\s*upgrade-insecure-requests;?/, ""),
  });

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  // Route patterns, never URLs: ids in paths would make a series per post.
  app.addHook("onResponse", async (request, reply) => {
    metrics.httpRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
  });
  const unwatchQueue = metrics.watchQueue(deps.pool);
  app.addHook("onClose", async () => unwatchQueue());
  // preParsing: after the rate limiter (a route-level onRequest hook) and before the body is read.
  const readSession = await createSessionReader(deps.pool, deps.auth, deps.authSecret);
  const authenticate = createAuthenticateHook({
    pool: deps.pool,
    readSession,
    allowedOrigins: allowedOrigins(deps),
  });
  app.addHook("preParsing", async (request, reply, payload) => {
    await authenticate(request, reply);
    return payload;
  });

  await app.register(opsRoutes(deps));
  await app.register(metricsRoutes({ token: config.metrics.token }));
  await app.register(authRoutes(deps, readSession));
  await app.register(workspacesRoutes(deps));
  await app.register(membersRoutes(deps));
  await app.register(clientsRoutes(deps));
  await app.register(apiKeysRoutes(deps));
  await app.register(auditRoutes(deps));
  await app.register(providersRoutes(deps));
  await app.register(connectionsRoutes(deps, readSession));
  await app.register(accountsRoutes(deps));
  await app.register(mediaRoutes(deps));
  await app.register(postsRoutes(deps));
  await app.register(webhooksRoutes(deps));
  await app.register(notificationsRoutes(deps));
  await app.register(healthRoutes(deps));
  await app.register(metricsApiRoutes(deps));
  await app.register(alertsRoutes(deps));

  if (config.sandbox.mounted) {
    const { clientId, clientSecret, accessTokenTtlSeconds } = config.sandbox;
    await app.register(
      sandboxRoutes({
        clientId,
        clientSecret,
        accessTokenTtlSeconds,
        persistFile: deps.sandboxStateFile,
        log,
      }),
      { prefix: "/sandbox" },
    );
  }

  // Last: its catch-all route only answers what no other route does.
  await registerWebApp(app);

  return Object.assign(app, { routeTable: routes });
}

export type App = Awaited<ReturnType<typeof buildApp>>;

/** Origins a state-changing browser request may come from. */
function allowedOrigins({ config }: AppDeps): Set<string> {
  const origins = new Set([config.publicUrl.origin, ...config.corsOrigins.map((o) => new URL(o).origin)]);
  if (config.publicUrl.hostname === "localhost") {
    // People open both http://localhost:3000 and http://127.0.0.1:3000.
    const port = config.publicUrl.port ? `:${config.publicUrl.port}` : "";
    origins.add(`${config.publicUrl.protocol}//127.0.0.1${port}`);
    origins.add(`${config.publicUrl.protocol}//[::1]${port}`);
  }
  return origins;
}
