/**
 * callPlatform (src/providers/http.ts) over real HTTP: how each way a call can go wrong is
 * classified, because the retry policy and the exactly-once strategies depend on it.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../src/observability/logger.js";
import { callPlatform } from "../src/providers/http.js";
import { ProviderError, TransportError } from "../src/providers/provider.js";

const log = createLogger("silent");
let base: string;
let connections = 0;
const server = http.createServer((request, response) => {
  const path = request.url ?? "/";
  if (path.startsWith("/hang")) return; // never answers
  if (path.startsWith("/cut")) {
    response.writeHead(200, { "content-type": "application/json", "content-length": "100" });
    response.write('{"id":');
    setTimeout(() => response.socket?.destroy(), 20);
    return;
  }
  if (path.startsWith("/busy")) {
    response.writeHead(503, { "retry-after": "7", "content-type": "application/json" });
    return response.end('{"error":"busy"}');
  }
  if (path.startsWith("/html")) {
    response.writeHead(502, { "content-type": "text/html" });
    return response.end("<html><body>Bad gateway</body></html>");
  }
  let body = "";
  request.on("data", (chunk) => {
    body += chunk;
  });
  request.on("end", () => {
    response.writeHead(201, { "content-type": "application/json", "set-cookie": ["a=1", "b=2"] });
    response.end(JSON.stringify({ method: request.method, body, type: request.headers["content-type"] }));
  });
});
server.on("connection", () => {
  connections += 1;
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const call = (path: string, extra: Partial<Parameters<typeof callPlatform>[0]> = {}) =>
  callPlatform({ platform: "sandbox", method: "POST", url: `${base}${path}`, log, ...extra });

describe("callPlatform", () => {
  it("sends JSON and reads JSON, headers included, over one kept-alive connection", async () => {
    const before = connections;
    for (let i = 0; i < 3; i++) {
      const answer = await call("/ok", { json: { n: i } });
      expect(answer.status).toBe(201);
      expect(answer.body).toEqual({
        method: "POST",
        body: JSON.stringify({ n: i }),
        type: "application/json",
      });
      expect(answer.headers.get("set-cookie")).toBe("a=1, b=2");
    }
    expect(connections - before).toBe(1);
  });

  it("a timeout is a transport error that may have been sent", async () => {
    const error = await call("/hang", { timeoutMs: 150 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ sent: true, message: "The call to Sandbox timed out." });
  });

  it("an answer cut off in the middle is a transport error that may have been sent", async () => {
    const error = await call("/cut").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ sent: true, message: "The call to Sandbox failed." });
  });

  it("a refused connection was not sent: safe to retry", async () => {
    // A port that was just free and is closed again: nothing listens there.
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const error = await callPlatform({
      platform: "sandbox",
      method: "GET",
      url: `http://127.0.0.1:${port}/`,
      log,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ sent: false });
  });

  it("a 503 is an outage with its Retry-After; an HTML page is named as such", async () => {
    const busy = await call("/busy").catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ProviderError);
    expect(busy).toMatchObject({ kind: "unavailable", status: 503, retryAfterSeconds: 7 });
    const html = await call("/html").catch((e: unknown) => e);
    expect(html).toBeInstanceOf(ProviderError);
    expect(html).toMatchObject({
      kind: "unavailable",
      message: "Sandbox answered with an HTML page (HTTP 502).",
    });
  });
});
