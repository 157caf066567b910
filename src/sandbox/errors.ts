/**
 * The Sandbox answers like a social network, not like Herald: its API errors use its own envelope
 * `{ "error": { "code", "message" } }`, its OAuth endpoints answer RFC 6749 errors, and its pages
 * answer HTML. Each kind of route has an error class; `frameworkStatus` recognises Fastify's own
 * request errors (bad JSON, wrong content type, body too large) so they get the same treatment.
 * Anything else is rethrown to the parent error handler (Herald's problem+json, or Fastify's).
 */

export type ApiErrorCode =
  | "invalid_request"
  | "invalid_token"
  | "token_expired"
  | "forbidden"
  | "not_found"
  | "invalid_post"
  | "idempotency_key_reused"
  | "rate_limited"
  | "unavailable"
  | "unsupported_media_type"
  | "payload_too_large";

/** An error of the Sandbox API and admin API, rendered as the Sandbox envelope. */
export class SandboxApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "SandboxApiError";
  }
}

export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unsupported_grant_type"
  | "unauthorized_client";

/** An error of the token and revocation endpoints (RFC 6749 §5.2). */
export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status = error === "invalid_client" ? 401 : 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = "OAuthError";
  }
}

/** An error shown to a person as an HTML page (bad authorize request, unknown feed...). */
export class PageError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
    this.name = "PageError";
  }
}

export function envelope(code: string, message: string) {
  return { error: { code, message } };
}

/** Fastify's content-type-parser errors (FST_ERR_CTP_*) and their status, or undefined. */
export function frameworkStatus(error: unknown): number | undefined {
  if (!(error instanceof Error) || !("code" in error) || typeof error.code !== "string") return undefined;
  if (!error.code.startsWith("FST_ERR_CTP_")) return undefined;
  return "statusCode" in error && typeof error.statusCode === "number" ? error.statusCode : 400;
}

export function frameworkApiCode(status: number): ApiErrorCode {
  if (status === 413) return "payload_too_large";
  if (status === 415) return "unsupported_media_type";
  return "invalid_request";
}

/** The first issues of a zod error as `path: message`, so a 400 names the field. */
export function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 3)
    .map((issue) => {
      const path = issue.path.map(String).join(".");
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}
