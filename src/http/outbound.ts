/**
 * Outbound requests to addresses users give Herald (media imports, webhook and notification URLs):
 * only public addresses, unless the operator allows a host or range (HERALD_OUTBOUND_ALLOWLIST).
 *
 * The check happens where the connection is made: the request's DNS lookup is replaced by one that
 * refuses private, loopback, link-local (cloud metadata at 169.254.169.254), unique-local,
 * multicast and reserved addresses, so a name that resolves to a public address for a check and
 * to a private one for the connection (DNS rebinding) cannot slip through. Redirects are followed
 * by hand, at most `maxRedirects`, each one checked again; the body is capped and so is the time.
 */
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";

export class OutboundRefusedError extends Error {
  constructor(
    message: string,
    readonly reason: "address" | "scheme" | "redirects" | "too_large" | "timeout" | "unreachable",
  ) {
    super(message);
    this.name = "OutboundRefusedError";
  }
}

/** Hosts (`example.com`, `*.example.com`), addresses and CIDR ranges allowed despite the rule. */
export type OutboundPolicy = { allowlist: string[] };

export type SafeRequest = {
  method?: "GET" | "POST" | "HEAD";
  headers?: Record<string, string>;
  body?: string | Buffer;
  maxBytes: number;
  timeoutMs: number;
  maxRedirects?: number;
};

export type SafeResponse = {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
};

/**
 * Whether an address is public unicast (the only kind reachable without the allow-list). IPv4
 * inside IPv6 is judged as the IPv4 address it carries (IPv4-mapped `::ffff:a.b.c.d`); the other
 * IPv6 ways to carry IPv4 (IPv4-compatible `::a.b.c.d`, NAT64, 6to4, Teredo) and anything outside
 * global unicast 2000::/3 are refused, since where they lead depends on the network.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6") {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
    else if (!v6.match(GLOBAL_UNICAST_V6, 3)) return false;
  }
  return parsed.range() === "unicast";
}

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parse("2000::");

/**
 * Whether the allow-list admits a host (by name: `example.com`, `*.example.com`) or the address it
 * resolved to (by address or CIDR range; IPv4-mapped IPv6 compares as IPv4).
 */
export function allowed(policy: OutboundPolicy, host: string, address: string | null): boolean {
  const name = host.toLowerCase();
  for (const entry of policy.allowlist) {
    const rule = entry.toLowerCase();
    if (rule.startsWith("*.") ? name.endsWith(rule.slice(1)) : name === rule) return true;
    if (address && ipaddr.isValid(address)) {
      try {
        const ip = ipaddr.process(address);
        if (rule.includes("/")) {
          const [range, bits] = ipaddr.parseCIDR(rule);
          if (ip.kind() === range.kind() && ip.match(range, bits)) return true;
        } else if (ipaddr.isValid(rule) && ipaddr.process(rule).toString() === ip.toString()) return true;
      } catch {
        // an entry that is neither a host nor a range matches nothing
      }
    }
  }
  return false;
}

/** Refuses a URL that is not http(s) or names a private address outright. Does not resolve names. */
export function checkOutboundUrl(value: string, policy: OutboundPolicy): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OutboundRefusedError("The URL is not valid.", "scheme");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new OutboundRefusedError("Only http and https URLs can be fetched.", "scheme");
  if (url.username || url.password)
    throw new OutboundRefusedError("URLs with credentials are not fetched.", "scheme");
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (ipaddr.isValid(host) && !isPublicAddress(host) && !allowed(policy, host, host))
    throw new OutboundRefusedError(`${host} is a private or reserved address.`, "address");
  return url;
}

/** A DNS lookup that answers only public addresses (or allowed ones), for http.request. */
function guardedLookup(policy: OutboundPolicy, host: string): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const usable = addresses.filter(
        (entry) => isPublicAddress(entry.address) || allowed(policy, host, entry.address),
      );
      if (usable.length === 0) {
        const refused = new OutboundRefusedError(
          `${hostname} resolves to a private or reserved address.`,
          "address",
        );
        return callback(refused as NodeJS.ErrnoException, "", 0);
      }
      if (options.all) return callback(null, usable);
      const first = usable[0];
      return callback(null, first?.address ?? "", first?.family ?? 4);
    });
  };
}

/** Fetches a URL under the policy: public addresses only, redirects re-checked, size and time capped. */
export async function safeFetch(
  value: string,
  policy: OutboundPolicy,
  request: SafeRequest,
): Promise<SafeResponse> {
  const deadline = AbortSignal.timeout(request.timeoutMs);
  let url = checkOutboundUrl(value, policy);
  const maxRedirects = request.maxRedirects ?? 3;
  let current = request;
  for (let hop = 0; ; hop++) {
    const response = await requestOnce(url, policy, current, deadline);
    const location = response.headers.location;
    if (response.status >= 300 && response.status < 400 && location) {
      if (hop >= maxRedirects)
        throw new OutboundRefusedError(`More than ${maxRedirects} redirects.`, "redirects");
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new OutboundRefusedError("A redirect named an invalid URL.", "scheme");
      }
      current = redirected(current, response.status, url, next);
      url = checkOutboundUrl(next.href, policy);
      continue;
    }
    return { ...response, url: url.href };
  }
}

/**
 * The request to send after a redirect, as browsers do (Fetch standard, "HTTP-redirect fetch"):
 * a 303, or a 301/302 answering a POST, becomes a GET without a body; credentials headers are not
 * carried to another origin.
 */
function redirected(request: SafeRequest, status: number, from: URL, to: URL): SafeRequest {
  let next = request;
  if (status === 303 || ((status === 301 || status === 302) && request.method === "POST")) {
    const { body: _, ...rest } = next;
    const headers = Object.fromEntries(
      Object.entries(next.headers ?? {}).filter(([name]) => !/^content-(type|length|encoding)$/i.test(name)),
    );
    next = { ...rest, method: next.method === "HEAD" ? "HEAD" : "GET", headers };
  }
  if (from.origin !== to.origin) {
    const headers = Object.fromEntries(
      Object.entries(next.headers ?? {}).filter(([name]) => !/^(authorization|cookie)$/i.test(name)),
    );
    next = { ...next, headers };
  }
  return next;
}

function requestOnce(
  url: URL,
  policy: OutboundPolicy,
  request: SafeRequest,
  signal: AbortSignal,
): Promise<Omit<SafeResponse, "url">> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      url,
      {
        method: request.method ?? "GET",
        headers: { "user-agent": "Herald", ...request.headers },
        lookup: guardedLookup(policy, host),
        // A fresh connection each time: a pooled socket would skip the guarded lookup, carrying a
        // connection checked under one policy (or one DNS answer) into a request under another.
        agent: false,
        signal,
      },
      (res) => {
        const length = Number(res.headers["content-length"]);
        if (Number.isFinite(length) && length > request.maxBytes) {
          res.destroy();
          return reject(tooLarge(request.maxBytes));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > request.maxBytes) {
            res.destroy();
            reject(tooLarge(request.maxBytes));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", (error) => reject(translate(error, signal)));
      },
    );
    req.on("error", (error) => reject(translate(error, signal)));
    req.end(request.body);
  });
}

function tooLarge(maxBytes: number): OutboundRefusedError {
  return new OutboundRefusedError(`The response is larger than ${maxBytes} bytes.`, "too_large");
}

function translate(error: unknown, signal: AbortSignal): Error {
  if (error instanceof OutboundRefusedError) return error;
  if (signal.aborted) return new OutboundRefusedError("The request took too long.", "timeout");
  const code = error instanceof Error && "code" in error ? String(error.code) : "";
  return new OutboundRefusedError(
    `The address could not be reached${code ? ` (${code})` : ""}.`,
    "unreachable",
  );
}

/** How a delivery POST ended: a 2xx is a success; anything else, a redirect included, a failure. */
export type PostedOutcome = { ok: boolean; httpStatus: number | null; error: string | null };

/**
 * POSTs a delivery (a webhook event, a notification) under the policy: 10 s, a 64 KiB answer at
 * most, no redirects followed (a redirect is a failed attempt, so a receiver cannot bounce Herald
 * elsewhere). Never throws: the outcome says what went wrong, for the delivery log.
 */
export async function postDelivery(
  url: string,
  policy: OutboundPolicy,
  body: string,
  headers: Record<string, string>,
): Promise<PostedOutcome> {
  try {
    const response = await safeFetch(url, policy, {
      method: "POST",
      headers,
      body,
      timeoutMs: 10_000,
      maxBytes: 64 * 1024,
      maxRedirects: 0,
    });
    if (response.status >= 200 && response.status < 300)
      return { ok: true, httpStatus: response.status, error: null };
    const redirect = response.status >= 300 && response.status < 400;
    return {
      ok: false,
      httpStatus: response.status,
      error: `The endpoint answered ${response.status}${redirect ? " (a redirect); deliveries do not follow redirects" : ""}.`,
    };
  } catch (error) {
    // Refused by the outbound rule, unreachable, too slow, too large: the attempt failed.
    const message =
      error instanceof OutboundRefusedError && error.reason === "redirects"
        ? "The endpoint answered with a redirect; deliveries do not follow redirects."
        : error instanceof Error
          ? error.message
          : "The request failed.";
    return { ok: false, httpStatus: null, error: message };
  }
}
