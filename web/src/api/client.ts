/**
 * The one way the app reaches Herald: a typed client generated from Herald's OpenAPI document
 * (schema.d.ts, `npm run web:api-types`). Same origin, session cookie; the browser never holds a
 * token. A 401 on any call but sign-in sends the person to sign in, and back afterwards.
 */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type { paths };
export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];

export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "http://localhost" : window.location.origin,
  credentials: "same-origin",
  // Looked up on each call (tests stub the global).
  fetch: (request) => globalThis.fetch(request),
});

let onUnauthorized: (() => void) | undefined;

/** The app tells the client how to send a person to sign in (it owns the router). */
export function setUnauthorizedHandler(handler: (() => void) | undefined): void {
  onUnauthorized = handler;
}

const sessionWatch: Middleware = {
  onResponse({ request, response }) {
    const path = new URL(request.url).pathname;
    if (response.status === 401 && !path.startsWith("/api/v1/auth/") && path !== "/api/v1/me") {
      onUnauthorized?.();
    }
    return undefined;
  },
};
api.use(sessionWatch);

/** A problem+json answer (or a network failure), thrown so that queries and mutations see it. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fieldErrors: { path: string; message: string }[];

  constructor(problem: Partial<Problem> & { status: number }) {
    super(problem.detail ?? problem.title ?? `Herald answered ${problem.status}.`);
    this.name = "ApiError";
    this.status = problem.status;
    this.code = problem.code ?? "HERALD_UNKNOWN";
    this.fieldErrors = problem.errors ?? [];
  }

  /** The server's message for a field: `body.content.text` is found as `content.text` too. */
  forField(path: string): string | undefined {
    return this.fieldErrors.find((e) => stripLocation(e.path) === path || e.path === path)?.message;
  }
}

export function stripLocation(path: string): string {
  return path.replace(/^(body|query|params)\./, "");
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** The data of a successful call, or an ApiError with the problem the server sent. */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await call;
  } catch {
    throw new ApiError({ status: 0, title: "Herald could not be reached. Check your connection and retry." });
  }
  const { data, error, response } = answer;
  if (error !== undefined || !response.ok) throw new ApiError(asProblem(error, response.status));
  return data as T;
}

function asProblem(error: unknown, status: number): Partial<Problem> & { status: number } {
  if (typeof error === "object" && error !== null && "status" in error) {
    return error as Partial<Problem> & { status: number };
  }
  return { status, title: `Herald answered ${status}.` };
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}
