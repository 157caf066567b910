/**
 * Opt-in OpenTelemetry tracing: HTTP server and client (node:http), outgoing `fetch` (undici), PostgreSQL and
 * Fastify spans, exported over OTLP/HTTP (JSON) to `OTEL_EXPORTER_OTLP_ENDPOINT`.
 *
 * Loaded only when that variable is set (src/main.ts imports this module dynamically, before it
 * imports anything that talks to the network or the database): without it, no OpenTelemetry code
 * is loaded at all. Instrumentations patch modules as they are loaded, so everything they cover
 * must be imported after `startTracing` returns.
 *
 * Herald reads its own configuration only through config.ts; the SDK also reads the standard
 * OTEL_* variables itself (OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES,
 * ...), which is how an operator tunes it beyond the endpoint and the service name.
 */
import { register } from "node:module";
import { FastifyOtelInstrumentation } from "@fastify/otel";
import { type AttributeValue, SpanKind, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { redactUrl, setTraceFields } from "./logger.js";

export type TracingOptions = {
  /** The OTLP/HTTP base URL; spans go to `<endpoint>/v1/traces`. */
  endpoint: string;
  serviceName: string;
};

export type Tracing = { shutdown: () => Promise<void> };

export function startTracing(options: TracingOptions): Tracing {
  // ESM imports of instrumented packages go through import-in-the-middle; CommonJS `require`s
  // (pg's, fastify's own) through require-in-the-middle, which the SDK sets up.
  register("@opentelemetry/instrumentation/hook.mjs", import.meta.url);
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    traceExporter: redacting(
      new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, "")}/v1/traces` }),
    ),
    instrumentations: [
      new HttpInstrumentation(),
      new UndiciInstrumentation(),
      new PgInstrumentation(),
      // Registers itself on every Fastify instance (diagnostics channel), no change to the app.
      // Hook spans are off (a dozen per request, little to learn); the handler span is renamed,
      // because @fastify/otel names it after the plugin, which for an anonymous plugin is its
      // whole source text.
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        lifecycleHook: (span, info) =>
          span.updateName(`${info.hookName} ${info.request.method} ${info.request.routeOptions.url ?? ""}`),
      }),
    ],
  });
  sdk.start();
  // Log lines written inside a span carry its ids, so a trace leads to its logs and back.
  setTraceFields((): Record<string, string> => {
    const span = trace.getActiveSpan();
    if (!span) return {};
    const { traceId, spanId } = span.spanContext();
    return { traceId, spanId };
  });
  return { shutdown: () => sdk.shutdown() };
}

type ExportedSpan = Parameters<OTLPTraceExporter["export"]>[0][number];

/**
 * The exporter, with the URLs spans record made as safe as the logs' (the same redactUrl): OAuth
 * codes and states in callback URLs, Graph API access tokens in query strings. Requests Herald
 * sends through node:http keep only their origin: some go to URLs people gave it (webhooks,
 * notification channels, imports), whose path may itself be a credential (a Slack incoming
 * webhook); platform calls go the same way, and their log lines keep the redacted path.
 */
function redacting(exporter: OTLPTraceExporter): OTLPTraceExporter {
  const send = exporter.export.bind(exporter);
  exporter.export = (spans, done) => {
    for (const span of spans) redactSpan(span);
    send(spans, done);
  };
  return exporter;
}

/** Attributes holding a URL, or a path with its query (@fastify/otel puts both in `url.path`). */
const URL_KEYS = ["url.full", "http.url", "http.target", "url.path"];

function redactSpan(span: ExportedSpan): void {
  // Attributes are a plain object the SDK hands over once the span ended; rewritten in place.
  const attributes: Record<string, AttributeValue | undefined> = span.attributes;
  const userUrl =
    span.kind === SpanKind.CLIENT && span.instrumentationScope.name === "@opentelemetry/instrumentation-http";
  for (const key of URL_KEYS) {
    const value = attributes[key];
    if (typeof value === "string") attributes[key] = userUrl ? withoutPath(value) : redactUrl(value);
  }
  const query = attributes["url.query"];
  if (typeof query === "string")
    attributes["url.query"] = userUrl ? "[Redacted]" : redactUrl(`?${query}`).slice(1);
}

/** `https://hooks.example.com/[Redacted]` for a full URL, `/[Redacted]` for a path. */
function withoutPath(value: string): string {
  if (value.startsWith("/")) return "/[Redacted]";
  try {
    return `${new URL(value).origin}/[Redacted]`;
  } catch {
    return "[Redacted]";
  }
}
