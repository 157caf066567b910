/**
 * The Sandbox network: a Fastify plugin (Herald mounts it at `/sandbox`) and a standalone server
 * (`herald sandbox`). Both serve the same routes; links are built from each request, so they point
 * wherever the caller reached the Sandbox.
 *
 * The plugin is encapsulated on purpose: its form parser, its 404 handler and its error handlers
 * (platform-style envelopes, see errors.ts) stay inside it and change nothing in Herald's API.
 */
import type { ServerResponse } from "node:http";
import Fastify, { type FastifyPluginAsync, type FastifyRequest } from "fastify";
import { AccessLog } from "../http/access-log.js";
import type { Logger } from "../observability/logger.js";
import { adminRoutes } from "./admin.routes.js";
import { apiRoutes } from "./api.routes.js";
import { authorizeRoutes } from "./authorize.routes.js";
import type { SandboxContext } from "./context.js";
import { envelope } from "./errors.js";
import { feedRoutes } from "./feed.routes.js";
import { SandboxStore } from "./store.js";
import { tokenRoutes } from "./token.routes.js";

export type SandboxOptions = {
  /** The one OAuth client the network knows (Herald). */
  clientId: string;
  clientSecret: string;
  /** Default 3600. */
  accessTokenTtlSeconds?: number;
  /** Default 30 days. */
  refreshTokenTtlSeconds?: number;
  /** When set, state is loaded from this JSON file and saved to it (at most every 200 ms, atomically). */
  persistFile?: string;
  log: Logger;
  /** The clock in ms, for tests. Default `Date.now`. */
  now?: () => number;
  /** [0, 1) for fault injection; seed it for reproducible tests. Default `Math.random`. */
  random?: () => number;
};

const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 3600;
const DEFAULT_REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;

/** The Sandbox's routes; register with `{ prefix: "/sandbox" }` inside Herald. */
export function sandboxRoutes(options: SandboxOptions): FastifyPluginAsync {
  if (!options.clientId || !options.clientSecret)
    throw new Error("The Sandbox needs a client id and secret.");
  return async (app) => {
    const prefix = app.prefix;
    const log = options.log.child({ component: "sandbox" });
    const store = await SandboxStore.open({
      lifetimes: {
        accessTokenSeconds: options.accessTokenTtlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
        refreshTokenSeconds: options.refreshTokenTtlSeconds ?? DEFAULT_REFRESH_TOKEN_TTL_SECONDS,
      },
      now: options.now ?? Date.now,
      persistFile: options.persistFile,
      log,
    });
    /** Connections held open by "timeout after create", with the timer that drops each. */
    const held = new Map<ServerResponse, NodeJS.Timeout>();

    const ctx: SandboxContext = {
      store,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      random: options.random ?? Math.random,
      log,
      baseUrl: (request: FastifyRequest) => `${request.protocol}://${request.host}${prefix}`,
      holdThenDrop(reply, ms) {
        reply.hijack();
        const response = reply.raw;
        held.set(
          response,
          setTimeout(() => response.destroy(), ms),
        );
        response.once("close", () => {
          clearTimeout(held.get(response));
          held.delete(response);
        });
        reply.log.warn({ hangMs: ms }, "sandbox: post created, holding the response (timeout after create)");
      },
    };

    if (!app.hasContentTypeParser("application/x-www-form-urlencoded")) {
      app.addContentTypeParser(
        "application/x-www-form-urlencoded",
        { parseAs: "string" },
        (_request, body, done) => done(null, parseForm(String(body))),
      );
    }
    app.setNotFoundHandler((request, reply) =>
      reply.status(404).send(envelope("not_found", `No Sandbox route ${request.method} ${request.url}.`)),
    );
    // Held connections would keep the server from closing until they time out.
    app.addHook("preClose", async () => {
      for (const response of held.keys()) response.destroy();
    });
    app.addHook("onClose", async () => {
      await store.flush();
    });

    await app.register(authorizeRoutes(ctx));
    await app.register(tokenRoutes(ctx));
    await app.register(apiRoutes(ctx));
    await app.register(adminRoutes(ctx));
    await app.register(feedRoutes(ctx));
  };
}

/** The Sandbox alone, routes at `/`; `url` is its base URL. */
export async function startSandboxServer(
  options: SandboxOptions & { port: number; host?: string },
): Promise<{ url: string; close(): Promise<void> }> {
  const host = options.host ?? "127.0.0.1";
  const app = Fastify({
    loggerInstance: options.log,
    logController: new AccessLog(),
    bodyLimit: 1024 * 1024,
  });
  // Herald adds these through helmet when it mounts the Sandbox; alone, the Sandbox sets its own.
  app.addHook("onRequest", async (_request, reply) => {
    reply.headers({
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    });
  });
  await app.register(sandboxRoutes(options));
  await app.listen({ port: options.port, host });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  return {
    url: `http://${urlHost(host)}:${port}`,
    close: async () => {
      await app.close();
    },
  };
}

/** Form fields; a repeated field becomes an array, which the route schemas refuse. */
function parseForm(body: string): Record<string, string | string[]> {
  const fields = new Map<string, string | string[]>();
  for (const [name, value] of new URLSearchParams(body)) {
    const earlier = fields.get(name);
    fields.set(
      name,
      earlier === undefined ? value : [...(Array.isArray(earlier) ? earlier : [earlier]), value],
    );
  }
  // fromEntries defines own properties: a field named __proto__ cannot reach the prototype.
  return Object.fromEntries(fields);
}

/** A host as it appears in a URL: the wildcard addresses become loopback, IPv6 gets brackets. */
function urlHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}
