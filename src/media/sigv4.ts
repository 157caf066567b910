/**
 * AWS Signature Version 4 for S3-compatible requests (header form), written from AWS's
 * specification: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 * The payload is signed by its SHA-256 (Herald hashes every file it stores anyway).
 */
import { createHash, createHmac } from "node:crypto";

export type SigningKey = { accessKeyId: string; secretAccessKey: string; region: string; service?: string };

const sha256Hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it (`/` kept in paths). */
export function encodeRfc3986(value: string, keepSlash = false): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(keepSlash ? /%2F/g : /$^/, "/");
}

/**
 * The headers to add to a request: `x-amz-date`, `x-amz-content-sha256` and `authorization`.
 * `headers` are the other headers to sign (host is taken from the URL); `url`'s path must already
 * be encoded (as `URL` leaves it).
 */
export function signRequest(
  key: SigningKey,
  request: { method: string; url: URL; headers: Record<string, string>; payloadSha256: string },
  now: Date = new Date(),
): Record<string, string> {
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const service = key.service ?? "s3";
  const headers: Record<string, string> = {
    host: request.url.host,
    "x-amz-content-sha256": request.payloadSha256,
    "x-amz-date": amzDate,
  };
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value.trim();
  const names = Object.keys(headers).sort();
  const query = [...request.url.searchParams.entries()]
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonical = [
    request.method,
    request.url.pathname || "/",
    query,
    ...names.map((name) => `${name}:${headers[name]}`),
    "",
    names.join(";"),
    request.payloadSha256,
  ].join("\n");
  const scope = `${day}/${key.region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonical)].join("\n");
  const signingKey = hmac(
    hmac(hmac(hmac(`AWS4${key.secretAccessKey}`, day), key.region), service),
    "aws4_request",
  );
  const signature = createHmac("sha256", signingKey).update(stringToSign).digest("hex");
  return {
    "x-amz-date": amzDate,
    "x-amz-content-sha256": request.payloadSha256,
    authorization: `AWS4-HMAC-SHA256 Credential=${key.accessKeyId}/${scope},SignedHeaders=${names.join(";")},Signature=${signature}`,
  };
}

export const EMPTY_PAYLOAD_SHA256 = sha256Hex("");
