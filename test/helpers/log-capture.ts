import { createLogger, type Logger } from "../../src/observability/logger.js";

/** A real pino logger whose JSON lines are kept in memory for assertions. */
export function capturedLogger(level = "info"): {
  log: Logger;
  lines: () => Array<Record<string, unknown>>;
  text: () => string;
} {
  const chunks: string[] = [];
  const log = createLogger(level, { write: (chunk: string) => void chunks.push(chunk) });
  return {
    log,
    text: () => chunks.join(""),
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
