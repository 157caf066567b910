/**
 * One error handler per kind of Sandbox route (API envelope, OAuth JSON, HTML page). Each renders
 * its own errors and Fastify's request errors; anything else is rethrown, which hands it to the
 * parent handler: inside Herald that is Herald's problem+json (its CSRF and rate-limit walls stand
 * in front of the Sandbox), standalone it is Fastify's default.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { SandboxContext } from "./context.js";
import {
  envelope,
  frameworkApiCode,
  frameworkStatus,
  OAuthError,
  PageError,
  SandboxApiError,
} from "./errors.js";
import { errorPage } from "./pages.js";

type ErrorHandler = (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/** `{ error: { code, message } }`; `onApiError` sees each one first (the create route records it). */
export function apiErrorHandler(
  onApiError?: (error: SandboxApiError, request: FastifyRequest) => void,
): ErrorHandler {
  return (error, request, reply) => {
    const apiError = asApiError(error);
    if (!apiError) throw error;
    onApiError?.(apiError, request);
    return reply
      .status(apiError.status)
      .headers(apiError.headers)
      .send(envelope(apiError.code, apiError.message));
  };
}

function asApiError(error: unknown): SandboxApiError | undefined {
  if (error instanceof SandboxApiError) return error;
  const status = frameworkStatus(error);
  if (status === undefined || !(error instanceof Error)) return undefined;
  return new SandboxApiError(status, frameworkApiCode(status), error.message);
}

/** RFC 6749 §5.2: `{ error, error_description }`. */
export const oauthErrorHandler: ErrorHandler = (error, _request, reply) => {
  const status = frameworkStatus(error);
  const oauthError =
    error instanceof OAuthError
      ? error
      : status !== undefined && error instanceof Error
        ? new OAuthError("invalid_request", error.message, status)
        : undefined;
  if (!oauthError) throw error;
  return reply
    .status(oauthError.status)
    .headers({ ...oauthError.headers, "cache-control": "no-store" })
    .send({ error: oauthError.error, error_description: oauthError.description });
};

export function pageErrorHandler(ctx: SandboxContext): ErrorHandler {
  return (error, request, reply) => {
    const status = frameworkStatus(error);
    const pageError =
      error instanceof PageError
        ? error
        : status !== undefined && error instanceof Error
          ? new PageError(status, "Bad request", error.message)
          : undefined;
    if (!pageError) throw error;
    return reply
      .status(pageError.status)
      .type("text/html; charset=utf-8")
      .send(errorPage(`${ctx.baseUrl(request)}/`, pageError.title, pageError.message));
  };
}
