/**
 * Herald's errors. Services throw these; the HTTP error handler (src/http/problem.ts) turns them into
 * RFC 9457 problem+json with the stable `code`. Anything else is a bug and becomes a 500 whose
 * details stay in the log.
 */

export type FieldError = {
  /** Where the problem is: `body.email`, `query.limit`, `params.clientId`. */
  path: string;
  message: string;
  /** The rule that failed (`too_big`, `invalid_format`, `not_found`, ...). */
  rule?: string;
};

type Options = { errors?: FieldError[]; retryAfterSeconds?: number; cause?: unknown };

export class AppError extends Error {
  readonly errors: FieldError[] | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    detail: string,
    options: Options = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = "AppError";
    this.errors = options.errors;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export class ValidationError extends AppError {
  constructor(detail: string, errors: FieldError[]) {
    super(400, "HERALD_VALIDATION_FAILED", "The request is not valid", detail, { errors });
  }
}

export class AuthenticationError extends AppError {
  constructor(detail = "Sign in, or send an API key as `Authorization: Bearer <key>`.") {
    super(401, "HERALD_UNAUTHENTICATED", "Authentication required", detail);
  }
}

export class InvalidCredentialsError extends AppError {
  constructor() {
    super(401, "HERALD_INVALID_CREDENTIALS", "Invalid credentials", "The email or the password is wrong.");
  }
}

export class ForbiddenError extends AppError {
  constructor(detail: string, code = "HERALD_FORBIDDEN") {
    super(403, code, "Not allowed", detail);
  }
}

/**
 * "Does not exist" and "exists in a workspace you cannot see" are the same answer, word for word,
 * so that ids of other tenants cannot be probed.
 */
export class NotFoundError extends AppError {
  constructor() {
    super(
      404,
      "HERALD_NOT_FOUND",
      "Not found",
      "The resource does not exist or you do not have access to it.",
    );
  }
}

export class ConflictError extends AppError {
  constructor(code: string, detail: string, errors?: FieldError[]) {
    super(409, code, "Conflict", detail, { errors });
  }
}

export class RateLimitedError extends AppError {
  constructor(detail: string, retryAfterSeconds: number) {
    super(429, "HERALD_RATE_LIMITED", "Too many requests", detail, { retryAfterSeconds });
  }
}

/** A platform Herald had to call did not answer usefully; nothing was changed. */
/**
 * The database did not answer (a restart, a failover). Retrying is right; whether a change whose
 * commit was cut off took effect is unknown, which is what `Idempotency-Key` on POST /posts is for.
 */
export class DatabaseUnavailableError extends AppError {
  constructor(cause: unknown) {
    super(
      503,
      "HERALD_DATABASE_UNAVAILABLE",
      "Database unavailable",
      "Herald cannot reach its database for the moment. Try again shortly (a new post with the same Idempotency-Key).",
      { retryAfterSeconds: 5, cause },
    );
  }
}

export class PlatformUnavailableError extends AppError {
  constructor(platform: string, reason: string, retryAfterSeconds?: number) {
    super(
      502,
      "HERALD_PLATFORM_UNAVAILABLE",
      "The platform is unavailable",
      `${platform} could not complete the request (${reason}). Nothing was changed; try again later.`,
      retryAfterSeconds === undefined ? {} : { retryAfterSeconds },
    );
  }
}

/** PostgreSQL unique_violation on the named constraint or index. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (!(error instanceof Error) || !("code" in error) || error.code !== "23505") return false;
  return constraint === undefined || ("constraint" in error && error.constraint === constraint);
}
