/**
 * RFC 9457 problem+json: the one shape of every error response, with a stable `code`.
 * 4xx problems explain themselves; 5xx problems say only that something failed, with the request
 * id to find the details in the log.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { z } from "zod";
import { isConnectionError } from "../db/tenant.js";
import {
  AppError,
  DatabaseUnavailableError,
  type FieldError,
  NotFoundError,
  ValidationError,
} from "../errors.js";

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().meta({ description: "Stable, machine-readable error code (HERALD_...)." }),
    requestId: z.string(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string(), rule: z.string().optional() }))
      .optional(),
  })
  .meta({ id: "Problem" });

export type Problem = z.infer<typeof ProblemSchema>;

/** Fastify's own 4xx errors, with the code Herald gives them. */
const FRAMEWORK_ERRORS: Record<string, { status: number; code: string; title: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: "HERALD_MALFORMED_JSON", title: "Malformed JSON" },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: "HERALD_MALFORMED_JSON", title: "Malformed JSON" },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: "HERALD_UNSUPPORTED_MEDIA_TYPE",
    title: "Unsupported media type",
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: "HERALD_BAD_REQUEST", title: "Bad request" },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: "HERALD_PAYLOAD_TOO_LARGE", title: "Payload too large" },
};

function problemType(code: string) {
  return `urn:herald:problem:${code
    .replace(/^HERALD_/, "")
    .toLowerCase()
    .replaceAll("_", "-")}`;
}

export function toProblem(error: unknown, requestId: string): Problem {
  if (error instanceof AppError) {
    return {
      type: problemType(error.code),
      title: error.title,
      status: error.status,
      detail: error.message,
      code: error.code,
      requestId,
      ...(error.errors ? { errors: error.errors } : {}),
    };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const part = locationName(error.validationContext);
    const errors: FieldError[] = error.validation.flatMap((issue) => {
      const path = [part, ...issue.instancePath.split("/").filter(Boolean)].join(".");
      // zod reports unknown keys as one issue on their object; name each key at its own path.
      const keys = issue.keyword === "unrecognized_keys" ? issue.params.keys : undefined;
      if (Array.isArray(keys)) {
        return keys.map((key) => ({
          path: `${path}.${String(key)}`,
          message: `"${String(key)}" is not a known field`,
          rule: "unrecognized_key",
        }));
      }
      return [{ path, message: issue.message ?? "is not valid", rule: issue.keyword }];
    });
    return toProblem(new ValidationError(describe(errors), errors), requestId);
  }
  const known = isFastifyError(error) ? FRAMEWORK_ERRORS[error.code] : undefined;
  if (known && isFastifyError(error)) {
    return {
      type: problemType(known.code),
      title: known.title,
      status: known.status,
      detail: error.message,
      code: known.code,
      requestId,
    };
  }
  return {
    type: problemType("HERALD_INTERNAL"),
    title: "Internal error",
    status: 500,
    detail: "Something went wrong on our side. Quote the request id if you report it.",
    code: "HERALD_INTERNAL",
    requestId,
  };
}

function locationName(context: string | undefined): string {
  switch (context) {
    case "querystring":
      return "query";
    case "params":
      return "params";
    case "headers":
      return "headers";
    default:
      return "body";
  }
}

function describe(errors: FieldError[]): string {
  const shown = errors.slice(0, 3).map((e) => `${e.path}: ${e.message}`);
  const more = errors.length > 3 ? ` (and ${errors.length - 3} more)` : "";
  return `${shown.join("; ")}${more}`;
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && "code" in error && typeof error.code === "string";
}

export function sendProblem(reply: FastifyReply, problem: Problem, retryAfterSeconds?: number) {
  if (retryAfterSeconds !== undefined) reply.header("retry-after", String(retryAfterSeconds));
  return reply.status(problem.status).type("application/problem+json").send(problem);
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  // A database that went away (a restart, a failover) is not a bug: the client should retry.
  const known =
    !(error instanceof AppError) && isConnectionError(error) ? new DatabaseUnavailableError(error) : error;
  const problem = toProblem(known, request.id);
  if (known instanceof DatabaseUnavailableError) {
    request.log.warn({ err: error }, "request failed: the database is unavailable");
  } else if (problem.status >= 500) {
    request.log.error({ err: error }, "request failed");
  } else if (!(known instanceof AppError)) {
    request.log.info({ code: problem.code, detail: problem.detail }, "request rejected");
  }
  return sendProblem(reply, problem, known instanceof AppError ? known.retryAfterSeconds : undefined);
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  return sendProblem(reply, toProblem(new NotFoundError(), request.id));
}

/** Response schemas for the problem statuses a route can answer with (documents them in OpenAPI). */
export function problemResponses(...statuses: number[]): Record<number, typeof ProblemSchema> {
  return Object.fromEntries(statuses.map((status) => [status, ProblemSchema]));
}

/** The response schema of a 204. */
export const NoContent = z.null().meta({ description: "No content" });
