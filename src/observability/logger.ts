/**
 * The one logger: pino JSON on stdout. Secrets are removed by configuration (`redact`), not by
 * hoping that no caller logs them; the URL serializer strips secret-bearing query parameters
 * (OAuth `code` and `state`, tokens) because request URLs are logged for every request.
 */
import { type Logger, pino } from "pino";

export type { Logger };

/** Paths pino censors wherever they appear in a log object (one and two levels deep). */
export const REDACTED_PATHS = [
  "password",
  "token",
  "secret",
  "accessToken",
  "refreshToken",
  "authorization",
  "cookie",
  "*.password",
  "*.token",
  "*.secret",
  "*.accessToken",
  "*.refreshToken",
  "*.authorization",
  "*.cookie",
  "*.apiKey",
  "req.headers.authorization",
  "req.headers.cookie",
  "req.headers['x-api-key']",
  'res.headers["set-cookie"]',
];

const SECRET_QUERY_PARAMS = new Set([
  "code",
  "state",
  "token",
  "access_token",
  "refresh_token",
  "client_secret",
  "code_verifier",
  "password",
  "fb_exchange_token",
  "input_token",
  "appsecret_proof",
]);

/** Returns the URL with the values of secret-bearing query parameters replaced. */
export function redactUrl(url: string): string {
  const queryStart = url.indexOf("?");
  if (queryStart === -1) return url;
  const params = new URLSearchParams(url.slice(queryStart + 1));
  let changed = false;
  for (const key of params.keys()) {
    if (SECRET_QUERY_PARAMS.has(key.toLowerCase())) {
      params.set(key, "[Redacted]");
      changed = true;
    }
  }
  return changed ? `${url.slice(0, queryStart)}?${params.toString()}` : url;
}

/** Fields added to every line (the active trace and span ids); set only when tracing is on. */
let traceFields: (() => Record<string, string>) | undefined;

/**
 * Called by src/observability/tracing.ts when it starts, before any logger is created; this module
 * never imports OpenTelemetry itself, so without tracing no line pays for it.
 */
export function setTraceFields(fields: () => Record<string, string>): void {
  traceFields = fields;
}

/**
 * Lines go to stdout asynchronously (written in batches, flushed on exit): synchronous writes cost
 * a third of the throughput of a busy server (measured, bench/README.md).
 */
export function createLogger(level: string, destination?: pino.DestinationStream | "stderr"): Logger {
  return pino(
    {
      level,
      base: { service: "herald" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: "[Redacted]" },
      formatters: { level: (label) => ({ level: label }) },
      ...(traceFields ? { mixin: traceFields } : {}),
    },
    destination === undefined || destination === "stderr"
      ? pino.destination({ dest: destination === "stderr" ? 2 : 1, sync: false })
      : destination,
  );
}
