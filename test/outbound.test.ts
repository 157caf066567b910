/**
 * The outbound-request guard (src/http/outbound.ts): which addresses count as public, how the
 * allow-list admits hosts, addresses and ranges, and safeFetch's redirects, size cap and deadline
 * against real loopback servers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allowed,
  checkOutboundUrl,
  isPublicAddress,
  OutboundRefusedError,
  safeFetch,
} from "../src/http/outbound.js";

describe("isPublicAddress", () => {
  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",
    "100.128.0.1",
    "172.15.255.255",
    "172.32.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4007:80e::200e",
    "::ffff:8.8.8.8",
  ])("%s is public", (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it.each([
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["::1", "loopback"],
    ["169.254.169.254", "link-local (cloud metadata)"],
    ["fe80::1", "link-local"],
    ["fc00::1", "unique-local"],
    ["fd12:3456::1", "unique-local"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["100.127.255.255", "carrier-grade NAT"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:10.0.0.1", "IPv4-mapped private"],
    ["::ffff:169.254.169.254", "IPv4-mapped link-local"],
    ["::7f00:1", "IPv4-compatible loopback"],
    ["64:ff9b::a00:1", "NAT64 of a private address"],
    ["2002:7f00:1::", "6to4 of loopback"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["192.0.2.1", "documentation"],
    ["2001:db8::1", "documentation"],
    ["240.0.0.1", "reserved"],
    ["198.18.0.1", "benchmarking"],
    ["example.com", "not an address"],
    ["", "empty"],
  ])("%s is not public (%s)", (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });
});

describe("the allow-list", () => {
  it("admits a host by its exact name, in any letter case", () => {
    const policy = { allowlist: ["media.example.com"] };
    expect(allowed(policy, "media.example.com", "10.0.0.5")).toBe(true);
    expect(allowed(policy, "MEDIA.Example.com", null)).toBe(true);
    expect(allowed(policy, "example.com", null)).toBe(false);
    expect(allowed(policy, "evil.media.example.com", null)).toBe(false);
  });

  it("admits a wildcard's subdomains but not the domain itself or look-alikes", () => {
    const policy = { allowlist: ["*.internal.example"] };
    expect(allowed(policy, "cdn.internal.example", null)).toBe(true);
    expect(allowed(policy, "a.b.internal.example", null)).toBe(true);
    expect(allowed(policy, "internal.example", null)).toBe(false);
    expect(allowed(policy, "evilinternal.example", null)).toBe(false);
  });

  it("admits an address, also written as IPv4-mapped IPv6", () => {
    const policy = { allowlist: ["10.1.2.3"] };
    expect(allowed(policy, "anything.example", "10.1.2.3")).toBe(true);
    expect(allowed(policy, "anything.example", "::ffff:10.1.2.3")).toBe(true);
    expect(allowed(policy, "anything.example", "10.1.2.4")).toBe(false);
  });

  it("admits addresses inside a CIDR range, IPv4 or IPv6, and nothing outside", () => {
    const policy = { allowlist: ["10.20.0.0/16", "fd00::/8"] };
    expect(allowed(policy, "h", "10.20.255.1")).toBe(true);
    expect(allowed(policy, "h", "10.21.0.1")).toBe(false);
    expect(allowed(policy, "h", "fd12::1")).toBe(true);
    expect(allowed(policy, "h", "fe80::1")).toBe(false);
    expect(allowed(policy, "h", null)).toBe(false);
  });

  it("lets checkOutboundUrl through an allowed private literal only", () => {
    expect(checkOutboundUrl("http://10.20.0.9/x", { allowlist: ["10.20.0.0/16"] }).hostname).toBe(
      "10.20.0.9",
    );
    expect(() => checkOutboundUrl("http://10.30.0.9/x", { allowlist: ["10.20.0.0/16"] })).toThrow(
      /10\.30\.0\.9 is a private or reserved address/,
    );
  });
});

describe("checkOutboundUrl", () => {
  const none = { allowlist: [] };

  it.each([
    ["http://0x7f000001/", "127.0.0.1"],
    ["http://2130706433/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://127.1/", "127.0.0.1"],
    ["http://[::ffff:7f00:1]/", "::ffff:7f00:1"],
    ["http://[0:0:0:0:0:0:0:1]/", "::1"],
  ])("sees through %s to %s", (url, address) => {
    expect(() => checkOutboundUrl(url, none)).toThrow(`${address} is a private or reserved address`);
  });

  it.each(["file:///etc/passwd", "ftp://example.com/", "javascript:alert(1)", "data:,x", "nonsense"])(
    "refuses %s",
    (url) => {
      expect(() => checkOutboundUrl(url, none)).toThrow(OutboundRefusedError);
    },
  );

  it("refuses credentials in the URL and accepts a public https URL", () => {
    expect(() => checkOutboundUrl("https://u:p@example.com/", none)).toThrow(/credentials/);
    expect(checkOutboundUrl("https://example.com/a.jpg", none).href).toBe("https://example.com/a.jpg");
  });
});

// ---------------------------------------------------------------------------------------------
// safeFetch against loopback servers

type Seen = { method: string; url: string; headers: IncomingMessage["headers"]; body: string };
type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

async function serve(routes: Record<string, Handler>, seen: Seen[] = []) {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
      const handler = routes[request.url ?? ""];
      if (handler) return handler(request, response, body);
      response.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, port, origin: `http://127.0.0.1:${port}`, seen };
}

async function refusal(promise: Promise<unknown>): Promise<OutboundRefusedError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OutboundRefusedError) return error;
    throw error;
  }
  throw new Error("the request was not refused");
}

describe("safeFetch", () => {
  const loopback = { allowlist: ["127.0.0.1"] };
  const limits = { maxBytes: 10_000, timeoutMs: 500 };
  let main: Awaited<ReturnType<typeof serve>>;
  let other: Awaited<ReturnType<typeof serve>>;
  const hung: ServerResponse[] = [];

  beforeAll(async () => {
    other = await serve({
      "/landing": (_req, res) => res.writeHead(200).end("landed"),
    });
    main = await serve({
      "/ok": (_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end("hello"),
      "/r1": (_req, res) => res.writeHead(302, { location: "/ok" }).end(),
      "/r2": (_req, res) => res.writeHead(302, { location: "/r1" }).end(),
      "/r3": (_req, res) => res.writeHead(302, { location: "/r2" }).end(),
      "/r4": (_req, res) => res.writeHead(302, { location: "/r3" }).end(),
      "/to-metadata": (_req, res) => res.writeHead(302, { location: "http://169.254.169.254/" }).end(),
      "/to-localhost": (_req, res) =>
        res.writeHead(302, { location: `http://localhost:${main.port}/ok` }).end(),
      "/bad-location": (_req, res) => res.writeHead(302, { location: "http://[::1" }).end(),
      "/see-other": (_req, res) => res.writeHead(303, { location: "/ok" }).end(),
      "/to-other": (_req, res) => res.writeHead(307, { location: `${other.origin}/landing` }).end(),
      "/exact": (_req, res) => res.writeHead(200).end(Buffer.alloc(10_000, 1)),
      "/announced": (_req, res) =>
        res.writeHead(200, { "content-length": "10001" }).end(Buffer.alloc(10_001)),
      "/chunked": (_req, res) => {
        res.writeHead(200);
        for (let i = 0; i < 20; i++) res.write(Buffer.alloc(1000));
        res.end();
      },
      "/silent": (_req, res) => {
        hung.push(res);
      },
      "/trickle": (_req, res) => {
        res.writeHead(200, { "content-length": "100" });
        res.write("partial");
        hung.push(res);
      },
      "/slow-redirect": (_req, res) => {
        hung.push(res);
      },
    });
  });

  afterAll(async () => {
    for (const res of hung) res.destroy();
    for (const s of [main, other]) {
      s?.server.closeAllConnections();
      await new Promise((resolve) => s?.server.close(resolve));
    }
  });

  it("fetches an allowed loopback server and reports the final URL", async () => {
    const response = await safeFetch(`${main.origin}/r1`, loopback, limits);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe("hello");
    expect(response.url).toBe(`${main.origin}/ok`);
  });

  it("refuses a loopback server that is not allowed, by its address or by its name", async () => {
    const byAddress = await refusal(safeFetch(`${main.origin}/ok`, { allowlist: [] }, limits));
    expect(byAddress.reason).toBe("address");
    const byName = await refusal(safeFetch(`http://localhost:${main.port}/ok`, { allowlist: [] }, limits));
    expect(byName).toMatchObject({
      reason: "address",
      message: expect.stringContaining("localhost resolves to"),
    });
  });

  it("admits a host by name, and a range by CIDR, through the guarded lookup", async () => {
    const byName = await safeFetch(`http://localhost:${main.port}/ok`, { allowlist: ["localhost"] }, limits);
    expect(byName.body.toString()).toBe("hello");
    const byRange = await safeFetch(
      `http://localhost:${main.port}/ok`,
      { allowlist: ["127.0.0.0/8"] },
      limits,
    );
    expect(byRange.status).toBe(200);
    const wrongRange = await refusal(
      safeFetch(`http://localhost:${main.port}/ok`, { allowlist: ["10.0.0.0/8"] }, limits),
    );
    expect(wrongRange.reason).toBe("address");
  });

  it("follows exactly maxRedirects redirects and refuses one more", async () => {
    expect((await safeFetch(`${main.origin}/r3`, loopback, { ...limits, maxRedirects: 3 })).status).toBe(200);
    const refused = await refusal(safeFetch(`${main.origin}/r4`, loopback, { ...limits, maxRedirects: 3 }));
    expect(refused).toMatchObject({ reason: "redirects", message: "More than 3 redirects." });
    const none = await refusal(safeFetch(`${main.origin}/r1`, loopback, { ...limits, maxRedirects: 0 }));
    expect(none.reason).toBe("redirects");
  });

  it("checks every redirect target again", async () => {
    const metadata = await refusal(safeFetch(`${main.origin}/to-metadata`, loopback, limits));
    expect(metadata).toMatchObject({
      reason: "address",
      message: expect.stringContaining("169.254.169.254"),
    });
    // 127.0.0.1 is allowed as an address, and localhost resolves to it: allowed after the lookup.
    expect((await safeFetch(`${main.origin}/to-localhost`, loopback, limits)).status).toBe(200);
    const invalid = await refusal(safeFetch(`${main.origin}/bad-location`, loopback, limits));
    expect(invalid.reason).toBe("scheme");
  });

  it("turns a POST into a GET without its body after a 303", async () => {
    const before = main.seen.length;
    const response = await safeFetch(`${main.origin}/see-other`, loopback, {
      ...limits,
      method: "POST",
      body: "payload",
      headers: { "content-type": "text/plain" },
    });
    expect(response.status).toBe(200);
    const requests = main.seen.slice(before);
    expect(requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ["POST", "/see-other", "payload"],
      ["GET", "/ok", ""],
    ]);
    expect(requests[1]?.headers["content-type"]).toBeUndefined();
  });

  it("does not carry Authorization to another origin", async () => {
    const before = other.seen.length;
    const response = await safeFetch(`${main.origin}/to-other`, loopback, {
      ...limits,
      headers: { authorization: "Bearer secret", "x-trace": "kept" },
    });
    expect(response.body.toString()).toBe("landed");
    const landed = other.seen.slice(before);
    expect(landed).toHaveLength(1);
    expect(landed[0]?.headers.authorization).toBeUndefined();
    expect(landed[0]?.headers["x-trace"]).toBe("kept");
  });

  it("takes a body of exactly maxBytes and refuses one byte more, announced or streamed", async () => {
    expect((await safeFetch(`${main.origin}/exact`, loopback, limits)).body.length).toBe(10_000);
    expect((await refusal(safeFetch(`${main.origin}/announced`, loopback, limits))).reason).toBe("too_large");
    expect((await refusal(safeFetch(`${main.origin}/chunked`, loopback, limits))).reason).toBe("too_large");
  });

  it("gives up at the deadline on a silent server and on a body that stops coming", async () => {
    const started = performance.now();
    const silent = await refusal(safeFetch(`${main.origin}/silent`, loopback, { ...limits, timeoutMs: 200 }));
    expect(silent.reason).toBe("timeout");
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    const trickle = await refusal(
      safeFetch(`${main.origin}/trickle`, loopback, { ...limits, timeoutMs: 200 }),
    );
    expect(trickle.reason).toBe("timeout");
  });

  it("reports a closed port as unreachable", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await refusal(safeFetch(`http://127.0.0.1:${port}/`, loopback, limits));
    expect(refused).toMatchObject({
      reason: "unreachable",
      message: expect.stringContaining("ECONNREFUSED"),
    });
  });
});
