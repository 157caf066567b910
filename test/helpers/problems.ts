/** Assertions on problem+json answers, shared by the test files. */
import type { LightMyRequestResponse } from "fastify";
import { expect } from "vitest";

export type ProblemBody = {
  code: string;
  detail: string;
  status: number;
  requestId: string;
  errors?: Array<{ path: string; message: string; rule?: string }>;
};

/** Asserts a problem+json answer with this status and code (and its request id); returns its body. */
export function expectProblem(response: LightMyRequestResponse, status: number, code: string): ProblemBody {
  expect({ status: response.statusCode, body: response.json() }).toMatchObject({ status, body: { code } });
  expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
  const body: ProblemBody = response.json();
  expect(body.status).toBe(status);
  expect(body.requestId).toBe(response.headers["x-request-id"]);
  return body;
}

/** The field paths of a 400 HERALD_VALIDATION_FAILED, sorted. */
export function validationPaths(response: LightMyRequestResponse): string[] {
  const body = expectProblem(response, 400, "HERALD_VALIDATION_FAILED");
  return (body.errors ?? []).map((error) => error.path).sort();
}

/** Status, code and error paths of a problem+json answer, for one `toEqual`. */
export function problem(response: LightMyRequestResponse) {
  const body = response.json();
  return {
    status: response.statusCode,
    code: body.code,
    paths: (body.errors ?? []).map((e: { path: string }) => e.path),
  };
}

/** A problem body without its request id, to compare two answers word for word. */
export function withoutRequestId(body: Record<string, unknown>) {
  const { requestId: _, ...rest } = body;
  return rest;
}
