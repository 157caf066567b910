/**
 * Serves the built web app (web/, built by `npm run build` into dist/web): hashed assets under
 * /assets/ with a year-long immutable cache, and index.html (never cached, so a new build is seen at
 * once) for every other page a browser navigates to. The app's own routes live in the browser.
 *
 * The fallback answers only navigations (`Accept: text/html`) outside the server's own namespaces;
 * a program asking for an unknown path still gets the problem+json 404. Without a build (running
 * from source, the server tests), the server starts anyway and `/` says how to build the app.
 * `/` without `Accept: text/html` (a program, curl) redirects to the API documentation.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { escapeHtml } from "./html.js";

/** src/http/ and dist/http/ are both two levels below the project root. */
export const WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/web");

const SERVER_PATHS = /^\/(api|sandbox|metrics|health|ready)(\/|$)/;

export async function registerWebApp(app: FastifyInstance, root = WEB_ROOT): Promise<void> {
  const indexFile = path.join(root, "index.html");
  const index = existsSync(indexFile) ? readFileSync(indexFile, "utf8") : undefined;

  if (index !== undefined && existsSync(path.join(root, "assets"))) {
    await app.register(fastifyStatic, {
      root: path.join(root, "assets"),
      prefix: "/assets/",
      decorateReply: false,
      index: false,
      schemaHide: true,
      immutable: true,
      maxAge: "365d",
    });
  }

  const page = (request: FastifyRequest, reply: FastifyReply) => {
    const pathname = request.url.split("?")[0] ?? "/";
    if (SERVER_PATHS.test(pathname) || !acceptsHtml(request)) return reply.callNotFound();
    reply.header("cache-control", "no-cache").type("text/html; charset=utf-8");
    // The app opens the platforms' consent pages in popups and reads their result through
    // window.opener; "same-origin" would cut the popup off from the app.
    reply.header("cross-origin-opener-policy", "same-origin-allow-popups");
    return reply.send(index ?? notBuiltPage(root));
  };
  // A program (or curl) opening Herald lands on the API documentation, a browser on the app.
  app.get("/", { schema: { hide: true } }, (request, reply) =>
    acceptsHtml(request) ? page(request, reply) : reply.redirect("/api/docs"),
  );
  app.get("/*", { schema: { hide: true } }, page);
}

function acceptsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === "string" && accept.includes("text/html");
}

function notBuiltPage(root: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Herald</title></head>
<body><main><h1>Herald is running</h1>
<p>The web app is not built (${escapeHtml(root)} has no index.html). Run <code>npm run build</code>, or
<code>npm start</code>, which builds it first. The API is at <a href="/api/docs">/api/docs</a>.</p>
</main></body></html>
`;
}
