/**
 * The HTTP shell: request ids, problem+json errors, security headers, CORS, rate limits, OpenAPI,
 * liveness and readiness, and 5xx answers that hide internals.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAppPool } from "../src/db/pool.js";
import { createLogger } from "../src/observability/logger.js";
import { call, signUp, startTestApp, type TestApp } from "./helpers/app.js";
import { asOwner, createTestDatabase } from "./helpers/database.js";
import { capturedLogger } from "./helpers/log-capture.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";

let t: TestApp;
const logs = capturedLogger();

beforeAll(async () => {
  t = await startTestApp({ HERALD_CORS_ORIGINS: "https://app.example.com" }, { log: logs.log });
});

afterAll(async () => {
  await t?.close();
});

describe("request ids", () => {
  it("echoes a well-formed x-request-id and puts it on the request's log line", async () => {
    const response = await t.app.inject({
      method: "GET",
      url: "/health",
      headers: { "x-request-id": "trace-42.a:b" },
    });
    expect(response.headers["x-request-id"]).toBe("trace-42.a:b");
    const line = logs.lines().find((l) => l.requestId === "trace-42.a:b");
    expect(line).toMatchObject({ msg: "request completed", status: 200, route: "/health" });
  });

  it("replaces a missing or malformed x-request-id with a generated one", async () => {
    for (const header of [undefined, "bad id with spaces", "x".repeat(200)]) {
      const response = await t.app.inject({
        method: "GET",
        url: "/health",
        headers: header ? { "x-request-id": header } : {},
      });
      expect(response.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("is part of every problem body", async () => {
    const response = await t.app.inject({
      method: "GET",
      url: "/nope",
      headers: { "x-request-id": "req-404" },
    });
    expect(response.json().requestId).toBe("req-404");
  });
});

describe("problem+json errors", () => {
  it("an unknown route is a 404 problem", async () => {
    const response = await t.app.inject({ method: "GET", url: "/api/v1/nothing-here" });
    expect(response.statusCode).toBe(404);
    expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({
      status: 404,
      code: "HERALD_NOT_FOUND",
      type: "urn:herald:problem:not-found",
    });
  });

  it("a body over 1 MiB is 413, an unsupported content type 415, broken JSON 400", async () => {
    const session = await signUp(t.app);
    const big = await t.app.inject({
      method: "POST",
      url: "/api/v1/workspaces",
      headers: { cookie: session.cookie, "content-type": "application/json" },
      payload: JSON.stringify({ name: "x".repeat(1024 * 1024 + 10) }),
    });
    expect([big.statusCode, big.json().code]).toEqual([413, "HERALD_PAYLOAD_TOO_LARGE"]);
    const xml = await t.app.inject({
      method: "POST",
      url: "/api/v1/workspaces",
      headers: { cookie: session.cookie, "content-type": "application/xml" },
      payload: "<name>x</name>",
    });
    expect([xml.statusCode, xml.json().code]).toEqual([415, "HERALD_UNSUPPORTED_MEDIA_TYPE"]);
    const broken = await t.app.inject({
      method: "POST",
      url: "/api/v1/workspaces",
      headers: { cookie: session.cookie, "content-type": "application/json" },
      payload: '{"name": ',
    });
    expect([broken.statusCode, broken.json().code]).toEqual([400, "HERALD_MALFORMED_JSON"]);
  });

  it("names every invalid field and its rule", async () => {
    const session = await signUp(t.app);
    const response = await call(t.app, session, "POST", "/api/v1/workspaces", {
      name: "",
      slug: "Not A Slug",
      extra: 1,
    });
    expect(response.statusCode).toBe(400);
    const errors = response.json().errors.map((e: { path: string; rule: string }) => `${e.path}:${e.rule}`);
    expect(errors).toEqual(
      expect.arrayContaining([
        "body.name:too_small",
        "body.slug:invalid_format",
        "body.extra:unrecognized_key",
      ]),
    );
  });

  it("a failure inside Herald is a 500 that hides the internals but logs them", async () => {
    const session = await signUp(t.app);
    const workspace = await call(t.app, session, "POST", "/api/v1/workspaces", { name: "Broken" });
    await asOwner(t.db.url, (owner) => owner.query("alter table clients rename to clients_moved"));
    try {
      const response = await call(
        t.app,
        session,
        "GET",
        `/api/v1/workspaces/${workspace.json().id}/clients`,
        undefined,
        {
          "x-request-id": "req-500",
        },
      );
      expect(response.statusCode).toBe(500);
      expect(response.json()).toMatchObject({ code: "HERALD_INTERNAL", requestId: "req-500" });
      expect(response.body).not.toMatch(/clients|relation|select/i);
      const logged = logs.lines().find((l) => l.requestId === "req-500" && l.level === "error");
      expect(logged?.err).toMatchObject({ message: 'relation "clients" does not exist' });
    } finally {
      await asOwner(t.db.url, (owner) => owner.query("alter table clients_moved rename to clients"));
    }
  });
});

describe("a database that goes away", () => {
  it("answers 503 HERALD_DATABASE_UNAVAILABLE with Retry-After, not a 500, and works again when it is back", async () => {
    const db = await createTestDatabase();
    const proxy = await startTcpProxy(db.url);
    const appPool = createAppPool(proxy.url, {
      max: 2,
      applicationName: "herald-test-proxied",
      log: createLogger("silent"),
    });
    const away = await startTestApp({}, { db: { ...db, appPool }, log: logs.log });
    try {
      const session = await signUp(away.app);
      proxy.cut();
      const response = await call(away.app, session, "GET", "/api/v1/workspaces", undefined, {
        "x-request-id": "req-db-away",
      });
      expect(response.statusCode).toBe(503);
      expect(response.headers["retry-after"]).toBe("5");
      expect(response.json()).toMatchObject({
        code: "HERALD_DATABASE_UNAVAILABLE",
        requestId: "req-db-away",
      });
      const logged = logs.lines().find((l) => l.requestId === "req-db-away" && l.err);
      expect(logged?.level).toBe("warn");
      proxy.restore();
      expect((await call(away.app, session, "GET", "/api/v1/workspaces")).statusCode).toBe(200);
    } finally {
      await away.close();
      await appPool.end();
      await proxy.close();
      await db.drop();
    }
  });
});

describe("security headers and CORS", () => {
  it("sets helmet's headers, without HSTS on plain http", async () => {
    const response = await t.app.inject({ method: "GET", url: "/health" });
    expect(response.headers["x-content-type-options"]).toBe("nosniff");
    expect(response.headers["content-security-policy"]).toContain("default-src 'self'");
    expect(response.headers["strict-transport-security"]).toBeUndefined();
  });

  it("allows configured origins with credentials and no others", async () => {
    const allowed = await t.app.inject({
      method: "OPTIONS",
      url: "/api/v1/me",
      headers: { origin: "https://app.example.com", "access-control-request-method": "GET" },
    });
    expect(allowed.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    expect(allowed.headers["access-control-allow-credentials"]).toBe("true");
    const other = await t.app.inject({
      method: "OPTIONS",
      url: "/api/v1/me",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describe("rate limits", () => {
  it("answers 429 with Retry-After once an address passes the limit, but never for /health", async () => {
    const limited = await startTestApp({ HERALD_RATE_LIMIT_PER_MINUTE: "3" });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await limited.app.inject({ method: "GET", url: "/api/v1/me" })).statusCode);
      expect(statuses).toEqual([401, 401, 401, 429]);
      const last = await limited.app.inject({ method: "GET", url: "/api/v1/me" });
      expect(last.json().code).toBe("HERALD_RATE_LIMITED");
      expect(Number(last.headers["retry-after"])).toBeGreaterThan(0);
      const other = await limited.app.inject({ method: "GET", url: "/api/v1/me", remoteAddress: "10.1.2.3" });
      expect(other.statusCode).toBe(401);
      for (let i = 0; i < 5; i++)
        expect((await limited.app.inject({ method: "GET", url: "/health" })).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe("operations endpoints", () => {
  it("/health answers ok without authentication", async () => {
    const response = await t.app.inject({ method: "GET", url: "/health" });
    expect([response.statusCode, response.json()]).toEqual([200, { status: "ok" }]);
  });

  it("/ready is 200 when migrated and 503 naming the migration when one is pending", async () => {
    const ready = await t.app.inject({ method: "GET", url: "/ready" });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: "ready",
      checks: { database: { ok: true }, migrations: { ok: true } },
    });
    const { rows } = await asOwner(t.db.url, (owner) =>
      owner.query("delete from herald_migrations where id = '0001_foundation' returning *"),
    );
    try {
      const notReady = await t.app.inject({ method: "GET", url: "/ready" });
      expect(notReady.statusCode).toBe(503);
      expect(notReady.json()).toMatchObject({
        status: "not_ready",
        checks: { migrations: { ok: false, pending: ["0001_foundation"] } },
      });
    } finally {
      await asOwner(t.db.url, (owner) =>
        owner.query("insert into herald_migrations (id, checksum, applied_at) values ($1, $2, $3)", [
          rows[0].id,
          rows[0].checksum,
          rows[0].applied_at,
        ]),
      );
    }
  });

  it("/ready is 503 when the database does not answer", async () => {
    const broken = await startTestApp();
    await broken.db.drop();
    try {
      const response = await broken.app.inject({ method: "GET", url: "/ready" });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ status: "not_ready", checks: { database: { ok: false } } });
    } finally {
      await broken.app.close();
    }
  });

  it("serves the OpenAPI document with every API route and the docs page", async () => {
    const spec = (await t.app.inject({ method: "GET", url: "/api/openapi.json" })).json();
    expect(spec.openapi).toBe("3.1.0");
    const documented = Object.keys(spec.paths);
    const apiRoutes = t.app.routeTable
      .filter((r) => r.url.startsWith("/api/v1/") && !(r.schema as { hide?: boolean } | undefined)?.hide)
      .map((r) => r.url.replace(/:(\w+)/g, "{$1}"));
    expect(apiRoutes.length).toBeGreaterThan(10);
    for (const route of apiRoutes) expect(documented).toContain(route);
    expect(spec.components.schemas.Problem).toBeDefined();
    const docs = await t.app.inject({ method: "GET", url: "/api/docs/" });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain("swagger");
  });
});

describe("the front door", () => {
  it("sends a person opening Herald to the API documentation, whose assets load over plain http", async () => {
    const root = await t.app.inject({ method: "GET", url: "/" });
    expect([root.statusCode, root.headers.location]).toEqual([302, "/api/docs"]);
    const docs = await t.app.inject({ method: "GET", url: "/api/docs/" });
    expect(docs.headers["content-security-policy"]).not.toContain("upgrade-insecure-requests");
    const script = await t.app.inject({ method: "GET", url: "/api/docs/static/swagger-initializer.js" });
    expect(script.statusCode).toBe(200);
  });
});
