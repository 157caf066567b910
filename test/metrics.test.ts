/**
 * Prometheus metrics: a real publish through the Sandbox network moves the publish counters and
 * histograms, HTTP requests are labelled by route pattern, the queue gauges read graphile-worker's
 * table at scrape time, and `/metrics` (the server's, and a worker's own small server) honours
 * HERALD_METRICS_TOKEN and leaks no secrets.
 */
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/observability/logger.js";
import { metrics, startMetricsServer } from "../src/observability/metrics.js";
import { startSandboxServer } from "../src/sandbox/sandbox.js";
import { startWorker, type WorkerHandle } from "../src/worker/worker.js";
import {
  call,
  createClient,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { confirm, connectSandbox } from "./helpers/connect.js";
import { asOwner } from "./helpers/database.js";
import { eventually } from "./helpers/eventually.js";

const CLIENT_ID = "herald";
const CLIENT_SECRET = `sandbox-secret-${randomBytes(6).toString("hex")}`;
const TOKEN = `metrics-token-${randomBytes(12).toString("hex")}`;
const log = createLogger("silent");

let sandbox: { url: string; close(): Promise<void> };
let t: TestApp;
let worker: WorkerHandle | undefined;
let owner: Session;
let workspaceId: string;
let clientId: string;
let accounts: { id: string; platformAccountId: string }[];

beforeAll(async () => {
  sandbox = await startSandboxServer({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, log, port: 0 });
  t = await startTestApp({
    HERALD_SANDBOX_URL: sandbox.url,
    HERALD_SANDBOX_CLIENT_ID: CLIENT_ID,
    HERALD_SANDBOX_CLIENT_SECRET: CLIENT_SECRET,
    HERALD_WORKER_POLL_MS: "100",
  });
  owner = await signUp(t.app);
  workspaceId = await createWorkspace(t.app, owner);
  clientId = await createClient(t.app, owner, workspaceId, { name: "Contoso" });
  const user = `user${randomBytes(4).toString("hex")}`;
  const pendingId = await connectSandbox(t.app, owner, workspaceId, { user, accounts: ["Main", "Second"] });
  accounts = await confirm(t.app, owner, workspaceId, pendingId, { clientIds: [clientId] });
});

afterEach(async () => {
  await worker?.stop();
  worker = undefined;
});

afterAll(async () => {
  await t?.close();
  await sandbox?.close();
});

const api = (path: string) => `/api/v1/workspaces/${workspaceId}${path}`;

async function scrape(): Promise<string> {
  const response = await t.app.inject({ method: "GET", url: "/metrics" });
  expect(response.statusCode).toBe(200);
  expect(response.headers["content-type"]).toBe(metrics.registry.contentType);
  return response.body;
}

/** The value of one series, its labels given in full; 0 when the series does not exist yet. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (JSON.stringify(Object.entries(found).sort()) === JSON.stringify(Object.entries(labels).sort()))
      return Number(match[3]);
  }
  return 0;
}

async function published(postId: string): Promise<boolean> {
  return asOwner(t.db.url, async (client) => {
    const { rows } = await client.query<{ status: string }>(
      "select status from post_targets where post_id = $1",
      [postId],
    );
    return rows.length > 0 && rows.every((row) => row.status === "published");
  });
}

describe("publish metrics", () => {
  it("count each published target once, with its latency and lateness, under its platform", async () => {
    const published0 = { platform: "sandbox", outcome: "published", code: "" };
    const before = await scrape();
    const response = await call(t.app, owner, "POST", api("/posts"), {
      clientId,
      content: { text: "Measured" },
      targets: accounts.map((account) => ({ accountId: account.id })),
      publishNow: true,
    });
    expect(response.statusCode).toBe(201);
    worker = await startWorker({
      pool: t.pool,
      concurrency: 4,
      version: "test",
      log,
      vault: t.vault,
      registry: t.registry,
      config: t.config,
      crontab: "",
    });
    await eventually(() => published(response.json().id), "both targets are published");
    const after = await scrape();

    const delta = (name: string, labels: Record<string, string>) =>
      sample(after, name, labels) - sample(before, name, labels);
    expect(delta("herald_publish_attempts_total", published0)).toBe(2);
    expect(delta("herald_publish_latency_seconds_count", { platform: "sandbox" })).toBe(2);
    expect(delta("herald_publish_lateness_seconds_count", { platform: "sandbox" })).toBe(2);
    expect(delta("herald_publish_retries_total", { platform: "sandbox" })).toBe(0);
    // publishNow is due at once: well under a minute late.
    expect(delta("herald_publish_lateness_seconds_bucket", { platform: "sandbox", le: "60" })).toBe(2);
    expect(sample(after, "herald_workers_live")).toBeGreaterThanOrEqual(1);
  });
});

describe("HTTP metrics", () => {
  it("label requests by route pattern, never by URL, and unknown routes as unmatched", async () => {
    await call(t.app, owner, "GET", api("/posts"));
    await t.app.inject({ method: "GET", url: `/no-such-route-${randomBytes(4).toString("hex")}` });
    const text = await scrape();
    expect(
      sample(text, "herald_http_request_duration_seconds_count", {
        method: "GET",
        route: "/api/v1/workspaces/:workspaceId/posts",
        status: "200",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, "herald_http_request_duration_seconds_count", {
        method: "GET",
        route: "unmatched",
        status: "404",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(workspaceId);
    expect(text).not.toContain("no-such-route");
  });
});

describe("queue metrics", () => {
  it("read a scheduled job from graphile-worker's table at scrape time", async () => {
    const before = sample(await scrape(), "herald_queue_jobs", { state: "scheduled" });
    const response = await call(t.app, owner, "POST", api("/posts"), {
      clientId,
      content: { text: "Later" },
      targets: [{ accountId: accounts[0]?.id }],
      publishAt: new Date(Date.now() + 3600_000).toISOString(),
    });
    expect(response.statusCode).toBe(201);
    const text = await scrape();
    expect(sample(text, "herald_queue_jobs", { state: "scheduled" })).toBe(before + 1);
    expect(text).toMatch(/^herald_queue_jobs\{state="waiting"\} \d+$/m);
    expect(text).toMatch(/^herald_queue_wait_seconds [\d.e+-]+$/m);
  });
});

describe("process metrics", () => {
  it("include the default process metrics with the herald_ prefix", async () => {
    const text = await scrape();
    expect(text).toContain("herald_process_resident_memory_bytes");
    expect(text).toContain("herald_nodejs_eventloop_lag_seconds");
  });
});

describe("access to /metrics", () => {
  it("requires the bearer token when HERALD_METRICS_TOKEN is set", async () => {
    const guarded = await startTestApp(
      {
        HERALD_METRICS_TOKEN: TOKEN,
        HERALD_SANDBOX_URL: sandbox.url,
        HERALD_SANDBOX_CLIENT_SECRET: CLIENT_SECRET,
      },
      { db: t.db, vault: t.vault },
    );
    try {
      for (const headers of [{}, { authorization: "Bearer wrong-token" }, { authorization: TOKEN }]) {
        const response = await guarded.app.inject({ method: "GET", url: "/metrics", headers });
        expect(response.statusCode).toBe(401);
        expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
        expect(response.json()).toMatchObject({ status: 401, code: "HERALD_UNAUTHENTICATED" });
      }
      const ok = await guarded.app.inject({
        method: "GET",
        url: "/metrics",
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain("herald_publish_attempts_total");
    } finally {
      await guarded.close();
    }
  });

  it("is open without a token, and contains no token, cookie or email", async () => {
    const text = await scrape();
    const cookieValue = owner.cookie.split("=")[1] ?? "";
    expect(cookieValue.length).toBeGreaterThan(10);
    for (const secret of [TOKEN, cookieValue, owner.email, CLIENT_SECRET, "@example.com"]) {
      expect(text).not.toContain(secret);
    }
  });

  it("serves a worker's metrics on its own port, with the same token rule", async () => {
    const server = await startMetricsServer({ host: "127.0.0.1", port: 0, token: TOKEN, log });
    try {
      const denied = await fetch(server.url);
      expect(denied.status).toBe(401);
      expect(denied.headers.get("content-type")).toBe("application/problem+json");
      expect(await denied.json()).toMatchObject({ status: 401, code: "HERALD_UNAUTHENTICATED" });
      const wrong = await fetch(server.url, { headers: { authorization: `Bearer ${TOKEN}x` } });
      expect(wrong.status).toBe(401);
      const ok = await fetch(server.url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("content-type")).toBe(metrics.registry.contentType);
      const text = await ok.text();
      expect(text).toContain("herald_publish_attempts_total");
      expect(text).not.toContain(TOKEN);
      const elsewhere = await fetch(new URL("/other", server.url));
      expect(elsewhere.status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it("reads HERALD_METRICS_PORT and HERALD_METRICS_TOKEN from the environment", () => {
    const config = loadConfig({ HERALD_METRICS_PORT: "9464", HERALD_METRICS_TOKEN: TOKEN });
    expect(config.metrics).toEqual({ token: TOKEN, workerPort: 9464 });
    expect(loadConfig({}).metrics).toEqual({ token: undefined, workerPort: undefined });
    expect(() => loadConfig({ HERALD_METRICS_TOKEN: "short" })).toThrow(/HERALD_METRICS_TOKEN.*value hidden/);
  });
});
