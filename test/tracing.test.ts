/**
 * Opt-in tracing, end to end: Herald as a real process exports OTLP/HTTP JSON to a receiver on
 * loopback; its log lines carry the ids of the spans they were written in. Without
 * OTEL_EXPORTER_OTLP_ENDPOINT no OpenTelemetry module is loaded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD } from "./helpers/app.js";
import { createTestDatabase, type TestDatabase } from "./helpers/database.js";

const ROOT = path.resolve(import.meta.dirname, "..");

type Span = { traceId: string; spanId: string; name: string; kind: number };

/** An OTLP/HTTP receiver: keeps the spans of every JSON `POST /v1/traces`. */
function startReceiver() {
  const spans: Span[] = [];
  const contentTypes: string[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        contentTypes.push(req.headers["content-type"] ?? "");
        const payload = JSON.parse(body) as {
          resourceSpans?: { scopeSpans?: { spans?: Span[] }[] }[];
        };
        for (const resource of payload.resourceSpans ?? [])
          for (const scope of resource.scopeSpans ?? []) spans.push(...(scope.spans ?? []));
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  return new Promise<{ url: string; spans: Span[]; contentTypes: string[]; close: () => void }>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}`, spans, contentTypes, close: () => server.close() });
    }),
  );
}

/** Stands in for the Sandbox network's token endpoint: refuses every code, keeps the headers. */
function startPlatform() {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    req.resume();
    res.writeHead(400, { "content-type": "application/json" }).end('{"error":"invalid_grant"}');
  });
  return new Promise<{ url: string; requests: http.IncomingHttpHeaders[]; close: () => void }>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}`, requests, close: () => server.close() });
    }),
  );
}

/** Signs up over HTTP, creates a workspace and lands on the Sandbox callback with a real state. */
async function oauthCallback(base: string): Promise<Response> {
  const signUp = await fetch(`${base}/api/v1/auth/sign-up`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "Tracer", email: `tracer-${Date.now()}@example.com`, password: PASSWORD }),
  });
  expect(signUp.status).toBe(201);
  const cookie = signUp.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .find((c) => c?.startsWith("herald.session_token="));
  if (!cookie) throw new Error("no session cookie");
  const json = { "content-type": "application/json", cookie };
  const workspace = await fetch(`${base}/api/v1/workspaces`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ name: "Traced" }),
  });
  const { id } = (await workspace.json()) as { id: string };
  const authorize = await fetch(`${base}/api/v1/workspaces/${id}/connections/sandbox/authorize`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ clientIds: [] }),
  });
  expect(authorize.status).toBe(201);
  const { authorizationUrl } = (await authorize.json()) as { authorizationUrl: string };
  const state = new URL(authorizationUrl).searchParams.get("state") ?? "";
  return fetch(
    `${base}/api/v1/oauth/callback/sandbox?code=not-a-real-code&state=${encodeURIComponent(state)}`,
    {
      headers: { cookie },
      redirect: "manual",
    },
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

const running = new Set<ChildProcess>();

/**
 * A module-resolution hook that records every OpenTelemetry module the process imports into
 * `file`: the honest way to tell "loaded" from "loaded but idle".
 */
const PROBE = `data:text/javascript,${encodeURIComponent(`
import { register } from "node:module";
register(${JSON.stringify(
  `data:text/javascript,${encodeURIComponent(`
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.includes("@opentelemetry") || resolved.url.includes("@fastify/otel"))
    appendFileSync(process.env.HERALD_TEST_PROBE_FILE, resolved.url + "\\n");
  return resolved;
}`)}`,
)});
`)}`;

function herald(args: string[], env: Record<string, string>) {
  let output = "";
  const probeFile = path.join(os.tmpdir(), `herald-otel-probe-${process.pid}-${running.size}-${Date.now()}`);
  fs.writeFileSync(probeFile, "");
  const child = spawn(
    process.execPath,
    ["--import", PROBE, "--import", "tsx", path.join(ROOT, "src/main.ts"), ...args],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", HERALD_TEST_PROBE_FILE: probeFile, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  running.add(child);
  child.on("exit", () => running.delete(child));
  return {
    child,
    output: () => output,
    otelModules: () => fs.readFileSync(probeFile, "utf8").split("\n").filter(Boolean),
  };
}

async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  output: () => string,
) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not happen within 30 s:\n${output()}`);
}

function logLines(output: string): Record<string, unknown>[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const child of running) child.kill("SIGKILL");
  await db?.drop();
});

describe("tracing", () => {
  it("exports spans of HTTP requests, their queries and platform calls; logs carry the trace id", async () => {
    const receiver = await startReceiver();
    const platform = await startPlatform();
    try {
      const port = await freePort();
      const instance = herald(["server"], {
        DATABASE_URL: db.url,
        PORT: String(port),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_SERVICE_NAME: "herald-test",
        HERALD_SANDBOX: "off",
        HERALD_SANDBOX_URL: platform.url,
        // Read by the SDK itself: export every 100 ms instead of every 5 s.
        OTEL_BSP_SCHEDULE_DELAY: "100",
      });
      const ready = await until(
        "readiness",
        () =>
          fetch(`http://127.0.0.1:${port}/ready`).then(
            (r) => (r.status === 200 ? r : undefined),
            () => undefined,
          ),
        instance.output,
      );
      expect(ready.status).toBe(200);

      const server = await until(
        "an HTTP server span for /ready",
        () => receiver.spans.find((s) => s.kind === 2 && s.name.includes("/ready")),
        instance.output,
      );
      const query = await until(
        "a pg query span in the same trace",
        () => receiver.spans.find((s) => s.traceId === server.traceId && s.name.startsWith("pg.query")),
        instance.output,
      );
      expect(query.spanId).not.toBe(server.spanId);
      expect(receiver.contentTypes.every((type) => type.startsWith("application/json"))).toBe(true);

      const line = await until(
        "a log line of the /ready request",
        () =>
          logLines(instance.output()).find(
            (entry) => JSON.stringify(entry).includes("/ready") && entry.traceId === server.traceId,
          ),
        instance.output,
      );
      expect(line.spanId).toMatch(/^[0-9a-f]{16}$/);

      // An OAuth callback: Herald exchanges the code with the platform (global fetch, undici).
      await oauthCallback(`http://127.0.0.1:${port}`);
      const callback = await until(
        "an HTTP server span for the OAuth callback",
        () => receiver.spans.find((s) => s.kind === 2 && s.name.includes("/oauth/callback/")),
        instance.output,
      );
      const outgoing = await until(
        "a client span of the token exchange",
        () =>
          receiver.spans.find(
            (s) => s.traceId === callback.traceId && s.kind === 3 && s.name.startsWith("POST"),
          ),
        instance.output,
      );
      // Span URLs are redacted like log lines: the OAuth code never leaves in a span.
      const exported = JSON.stringify(receiver.spans);
      expect(exported).toContain("/oauth/callback/");
      expect(exported).not.toContain("not-a-real-code");

      // The trace went on to the platform (W3C traceparent: 00-<trace id>-<span id>-<flags>).
      expect(platform.requests.map((headers) => headers.traceparent)).toContainEqual(
        expect.stringContaining(`-${outgoing.traceId}-`),
      );

      // The probe sees what the next test expects to be absent.
      expect(instance.otelModules().some((url) => url.includes("@opentelemetry/sdk-node"))).toBe(true);
    } finally {
      receiver.close();
      platform.close();
    }
  });

  it("loads no OpenTelemetry module without OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    const port = await freePort();
    const instance = herald(["server"], { DATABASE_URL: db.url, PORT: String(port) });
    await until(
      "readiness",
      () =>
        fetch(`http://127.0.0.1:${port}/ready`).then(
          (r) => (r.status === 200 ? true : undefined),
          () => undefined,
        ),
      instance.output,
    );
    expect(instance.otelModules()).toEqual([]);
    expect(logLines(instance.output()).some((entry) => "traceId" in entry)).toBe(false);
  });
});
