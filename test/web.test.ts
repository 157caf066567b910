import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Fastify from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { registerWebApp } from "../src/http/web.js";

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

async function appServing(build: boolean) {
  const root = mkdtempSync(path.join(tmpdir(), "herald-web-"));
  roots.push(root);
  if (build) {
    mkdirSync(path.join(root, "assets"));
    writeFileSync(path.join(root, "index.html"), "<!doctype html><title>Herald app</title>");
    writeFileSync(path.join(root, "assets", "index-abc123.js"), "console.log(1)");
  }
  const app = Fastify();
  app.setNotFoundHandler((_request, reply) => reply.code(404).type("application/problem+json").send("{}"));
  app.get("/api/v1/me", async () => ({ me: true }));
  await registerWebApp(app, root);
  await app.ready();
  return app;
}

const html = { accept: "text/html,application/xhtml+xml" };

describe("the web app", () => {
  it("is index.html, never cached, for a browser navigating to any app page", async () => {
    const app = await appServing(true);
    for (const url of ["/", "/calendar", "/posts/123?tab=attempts"]) {
      const response = await app.inject({ url, headers: html });
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain("Herald app");
      expect(response.headers["cache-control"]).toBe("no-cache");
      expect(response.headers["cross-origin-opener-policy"]).toBe("same-origin-allow-popups");
    }
  });

  it("serves hashed assets with a long immutable cache", async () => {
    const app = await appServing(true);
    const response = await app.inject({ url: "/assets/index-abc123.js" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["cache-control"]).toContain("immutable");
    expect(response.headers["cache-control"]).toContain("max-age=31536000");
  });

  it("leaves unknown server paths and non-browser callers to the 404 problem", async () => {
    const app = await appServing(true);
    for (const url of ["/api/v1/nothing", "/sandbox/x", "/metrics/x", "/health/x"]) {
      const response = await app.inject({ url, headers: html });
      expect(response.statusCode).toBe(404);
      expect(response.headers["content-type"]).toMatch(/problem\+json/);
    }
    const program = await app.inject({ url: "/calendar", headers: { accept: "application/json" } });
    expect(program.statusCode).toBe(404);
    expect((await app.inject({ url: "/api/v1/me" })).json()).toEqual({ me: true });
  });

  it("without a build, still starts and says how to build the app", async () => {
    const app = await appServing(false);
    const response = await app.inject({ url: "/", headers: html });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain("npm run build");
    expect((await app.inject({ url: "/assets/index-abc123.js" })).statusCode).toBe(404);
  });
});

describe("the root", () => {
  it("sends a program to the API documentation", async () => {
    const app = await appServing(true);
    const response = await app.inject({ url: "/", headers: { accept: "*/*" } });
    expect([response.statusCode, response.headers.location]).toEqual([302, "/api/docs"]);
  });
});
