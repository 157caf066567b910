/** The media module's errors, in Herald's problem+json shape (src/errors.ts). */
import { AppError } from "../errors.js";
import { ACCEPTED_TYPES } from "./probe.js";

export class MediaTooLargeError extends AppError {
  constructor(maxBytes: number) {
    super(
      413,
      "HERALD_MEDIA_TOO_LARGE",
      "The file is too large",
      `The file is larger than the limit of ${maxBytes} bytes (${humanBytes(maxBytes)}).`,
    );
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(found: string) {
    super(
      415,
      "HERALD_MEDIA_UNSUPPORTED_TYPE",
      "Unsupported media type",
      `The file is ${found}. Accepted types: ${ACCEPTED_TYPES.join(", ")} (decided by the file's content, not its name).`,
    );
  }
}

export class UnreadableMediaProblem extends AppError {
  constructor(detail: string) {
    super(422, "HERALD_MEDIA_UNREADABLE", "The file cannot be read", detail);
  }
}

/** The URL names an address or scheme Herald does not fetch, or redirects too often. */
export class ImportRefusedError extends AppError {
  constructor(detail: string) {
    super(422, "HERALD_MEDIA_IMPORT_REFUSED", "The URL cannot be imported", detail);
  }
}

/** The remote server could not be reached or did not answer with the file. */
export class ImportFailedError extends AppError {
  constructor(detail: string) {
    super(422, "HERALD_MEDIA_IMPORT_FAILED", "The file could not be fetched", detail);
  }
}

export class ImportTimeoutError extends AppError {
  constructor(timeoutMs: number) {
    super(
      504,
      "HERALD_MEDIA_IMPORT_TIMEOUT",
      "The remote server was too slow",
      `The file could not be fetched within ${timeoutMs} ms.`,
    );
  }
}

export class MediaInUseError extends AppError {
  constructor(postIds: string[]) {
    super(
      409,
      "HERALD_MEDIA_IN_USE",
      "Conflict",
      `The file is used by ${postIds.length === 1 ? "a post" : `${postIds.length} posts`} not yet published (${postIds.slice(0, 5).join(", ")}${postIds.length > 5 ? ", ..." : ""}). Remove it from them or cancel them first.`,
    );
  }
}

function humanBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}
