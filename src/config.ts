/**
 * Configuration: every environment variable Herald reads, validated once at boot.
 *
 * A bad value stops the process with a message that names the variable and the rule
 * (`ConfigError`). Nothing else in the code reads `process.env`.
 * Keep this file, the README's configuration table and `.env.example` in step.
 */
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";
import { parseKeyList, Vault, type VaultKey } from "./vault/vault.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const list = z.string().transform((value) =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);
const ipOrCidr = z.string().refine((value) => {
  const [address = "", prefix, ...rest] = value.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return Number.isInteger(bits) && bits >= 0 && bits <= (family === 4 ? 32 : 128);
}, "must be IP addresses or CIDR ranges, comma-separated");
/** A host name (`example.com`, `*.example.com`), an IP address or a CIDR range. */
const hostOrCidr = z
  .string()
  .refine(
    (value) =>
      ipOrCidr.safeParse(value).success || /^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/i.test(value),
    "must be host names, IP addresses or CIDR ranges, comma-separated",
  );
/** A number of days: "400", "365d" or "7y" (a year counts 365.25 days). */
const days = z
  .string()
  .regex(/^\d+[dy]?$/, "must be a number of days, like 365, 365d or 7y")
  .transform((value) => {
    const n = Number.parseInt(value, 10);
    return value.endsWith("y") ? Math.round(n * 365.25) : n;
  })
  .pipe(z.number().int().positive());
const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });
const postgresUrl = z.url({ protocol: /^postgres(ql)?$/, error: "must be a postgres:// URL" });

/** `undefined` for unset and empty variables, so that `FOO=` in a .env file means "use the default". */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const EnvSchema = z
  .object({
    PORT: optional(port),
    HOST: optional(z.string().min(1)),
    HERALD_DATA_DIR: optional(z.string().min(1)),
    DATABASE_URL: optional(postgresUrl),
    HERALD_PUBLIC_URL: optional(httpUrl),
    HERALD_AUTH_SECRET: optional(z.string().min(32, "must be at least 32 characters")),
    LOG_LEVEL: optional(z.enum(LOG_LEVELS)),
    HERALD_CORS_ORIGINS: optional(list.pipe(z.array(httpUrl))),
    HERALD_TRUSTED_PROXIES: optional(list.pipe(z.array(ipOrCidr))),
    HERALD_RATE_LIMIT_PER_MINUTE: optional(positiveInt),
    HERALD_SIGNIN_LIMIT_PER_ACCOUNT: optional(positiveInt),
    HERALD_SIGNIN_LIMIT_PER_IP: optional(positiveInt),
    HERALD_DB_POOL_SIZE: optional(positiveInt.max(500)),
    HERALD_WORKER_CONCURRENCY: optional(positiveInt.max(1000)),
    HERALD_WORKER_POLL_MS: optional(positiveInt.min(50).max(60_000)),
    HERALD_SHUTDOWN_TIMEOUT_MS: optional(positiveInt),
    HERALD_EMBEDDED_PG_PORT: optional(port),
    HERALD_AUDIT_ARCHIVE_AFTER: optional(days),
    HERALD_AUDIT_PURGE_AFTER: optional(days),
    HERALD_AUDIT_EXPORT_MAX_DAYS: optional(positiveInt),
    HERALD_SANDBOX: optional(z.enum(["on", "off"], { error: 'must be "on" or "off"' })),
    HERALD_SANDBOX_URL: optional(httpUrl),
    HERALD_SANDBOX_CLIENT_ID: optional(z.string().min(1).max(200)),
    HERALD_SANDBOX_CLIENT_SECRET: optional(z.string().min(8).max(200)),
    HERALD_SANDBOX_ACCESS_TOKEN_TTL: optional(positiveInt),
    HERALD_FACEBOOK_APP_ID: optional(
      z.string().regex(/^\d{1,32}$|^[A-Za-z0-9_-]{1,64}$/, "must be the app id"),
    ),
    HERALD_FACEBOOK_APP_SECRET: optional(z.string().min(8).max(200)),
    HERALD_FACEBOOK_GRAPH_URL: optional(httpUrl),
    HERALD_FACEBOOK_DIALOG_URL: optional(httpUrl),
    HERALD_FACEBOOK_GRAPH_VERSION: optional(z.string().regex(/^v\d{1,3}\.\d$/, "must look like v26.0")),
    HERALD_OUTBOUND_ALLOWLIST: optional(list.pipe(z.array(hostOrCidr))),
    HERALD_MEDIA_MAX_BYTES: optional(positiveInt.max(4 * 1024 ** 3)),
    HERALD_MEDIA_IMPORT_TIMEOUT_MS: optional(positiveInt.max(600_000)),
    HERALD_MEDIA_STORE: optional(z.enum(["local", "s3"], { error: 'must be "local" or "s3"' })),
    HERALD_S3_ENDPOINT: optional(httpUrl),
    HERALD_S3_REGION: optional(z.string().min(1).max(50)),
    HERALD_S3_BUCKET: optional(
      z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name"),
    ),
    HERALD_S3_ACCESS_KEY_ID: optional(z.string().min(1).max(200)),
    HERALD_S3_SECRET_ACCESS_KEY: optional(z.string().min(1).max(200)),
    HERALD_S3_PUBLIC_URL: optional(httpUrl),
    HERALD_PUBLISH_MAX_ATTEMPTS: optional(positiveInt.max(100)),
    HERALD_PUBLISH_MAX_RETRY_AGE: optional(positiveInt),
    HERALD_PUBLISH_LEASE_SECONDS: optional(positiveInt.min(10).max(3600)),
    HERALD_PUBLISH_ACCOUNT_CONCURRENCY: optional(positiveInt.max(100)),
    HERALD_PUBLISH_PLATFORM_CONCURRENCY: optional(positiveInt.max(1000)),
    HERALD_PUBLISH_GRACE_SECONDS: optional(z.coerce.number().int().min(0).max(3600)),
    HERALD_WEBHOOK_MAX_ATTEMPTS: optional(positiveInt.max(50)),
    HERALD_SMTP_URL: optional(z.url({ protocol: /^smtps?$/, error: "must be an smtp:// or smtps:// URL" })),
    HERALD_SMTP_FROM: optional(z.string().min(3).max(320)),
    HERALD_METRICS_TOKEN: optional(z.string().min(16, "must be at least 16 characters").max(200)),
    HERALD_METRICS_PORT: optional(port),
    CRON_SECRET: optional(z.string().min(16, "must be at least 16 characters").max(200)),
    // Standard OpenTelemetry names. Herald reads these two here; the OpenTelemetry SDK, once
    // started (src/observability/tracing.ts), also reads the other OTEL_* variables itself.
    OTEL_EXPORTER_OTLP_ENDPOINT: optional(httpUrl),
    OTEL_SERVICE_NAME: optional(z.string().min(1).max(200)),
    HERALD_ENCRYPTION_KEYS: optional(
      z.string().transform((value, ctx) => {
        try {
          return new Vault(parseKeyList(value)).keys.slice();
        } catch (error) {
          ctx.addIssue({
            code: "custom",
            message: `must be id:base64key,... with 32-byte keys (${error instanceof Error ? error.message : "invalid"})`,
          });
          return z.NEVER;
        }
      }),
    ),
  })
  .refine((e) => (e.HERALD_AUDIT_PURGE_AFTER ?? 2557) > (e.HERALD_AUDIT_ARCHIVE_AFTER ?? 365), {
    path: ["HERALD_AUDIT_PURGE_AFTER"],
    message: "must be longer than HERALD_AUDIT_ARCHIVE_AFTER",
  })
  // Half a Facebook app would silently leave Facebook and Instagram out.
  .refine(
    (e) =>
      e.HERALD_MEDIA_STORE !== "s3" ||
      (e.HERALD_S3_BUCKET && e.HERALD_S3_ACCESS_KEY_ID && e.HERALD_S3_SECRET_ACCESS_KEY),
    {
      path: ["HERALD_MEDIA_STORE"],
      message: "s3 needs HERALD_S3_BUCKET, HERALD_S3_ACCESS_KEY_ID and HERALD_S3_SECRET_ACCESS_KEY",
    },
  )
  .refine((e) => e.HERALD_FACEBOOK_APP_ID !== undefined || e.HERALD_FACEBOOK_APP_SECRET === undefined, {
    path: ["HERALD_FACEBOOK_APP_ID"],
    message: "is required when HERALD_FACEBOOK_APP_SECRET is set",
  })
  .refine((e) => e.HERALD_FACEBOOK_APP_SECRET !== undefined || e.HERALD_FACEBOOK_APP_ID === undefined, {
    path: ["HERALD_FACEBOOK_APP_SECRET"],
    message: "is required when HERALD_FACEBOOK_APP_ID is set",
  });

/** Variables whose values must not appear in error messages or logs. */
const SECRET_VARIABLES = new Set([
  "DATABASE_URL",
  "HERALD_AUTH_SECRET",
  "HERALD_ENCRYPTION_KEYS",
  "HERALD_SANDBOX_CLIENT_SECRET",
  "HERALD_FACEBOOK_APP_SECRET",
  "HERALD_S3_SECRET_ACCESS_KEY",
  "HERALD_METRICS_TOKEN",
  "CRON_SECRET",
  "HERALD_SMTP_URL",
]);

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  /** Unset: Herald starts its embedded PostgreSQL in `dataDir`. */
  databaseUrl: string | undefined;
  publicUrl: URL;
  /** Unset: generated once into `dataDir` (see `secrets.ts`). */
  authSecret: string | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  corsOrigins: string[];
  trustedProxies: string[];
  rateLimitPerMinute: number;
  signInLimitPerAccount: number;
  signInLimitPerIp: number;
  dbPoolSize: number;
  workerConcurrency: number;
  /** How often an idle worker looks for jobs that became due (new jobs wake it at once). */
  workerPollMs: number;
  shutdownTimeoutMs: number;
  /** 0 picks a free port at each start. */
  embeddedPgPort: number;
  sandbox: {
    /** Serve the built-in Sandbox network at /sandbox. */
    mounted: boolean;
    /** Where the Sandbox provider reaches the network (browsers too, for its consent page); null: off. */
    url: string | null;
    clientId: string;
    clientSecret: string;
    accessTokenTtlSeconds: number;
  };
  /** Facebook Pages and Instagram, through Facebook Login; null when no app is configured. */
  facebook: {
    appId: string;
    appSecret: string;
    graphUrl: string;
    dialogUrl: string;
    graphVersion: string;
  } | null;
  /** Hosts and ranges outbound fetches may reach despite the private-address rule (src/http/outbound.ts). */
  outboundAllowlist: string[];
  media: {
    /** The largest file an upload or an import may bring. */
    maxBytes: number;
    importTimeoutMs: number;
    /** Local disk under `dataDir/media`, or an S3-compatible bucket. */
    store:
      | { kind: "local"; dir: string }
      | {
          kind: "s3";
          endpoint: string;
          region: string;
          bucket: string;
          accessKeyId: string;
          secretAccessKey: string;
          /** Where platforms fetch the bucket's objects; default: the endpoint's path-style URL. */
          publicUrl: string;
        };
  };
  publishing: {
    /** Attempts per target before it fails, retries included. */
    maxAttempts: number;
    /** Seconds after its first attempt after which a target no longer retries. */
    maxRetryAgeSeconds: number;
    /** How long a worker's claim on a target lasts before the sweeper may resume it. */
    leaseSeconds: number;
    /** Targets published at once per account and per platform, in each worker process. */
    accountConcurrency: number;
    platformConcurrency: number;
    /** A `publishAt` this many seconds in the past is accepted and means now. */
    graceSeconds: number;
  };
  webhooks: { maxAttempts: number };
  /** Email notifications (src/notifications); url unset: email channels' deliveries fail. */
  smtp: { url: string | undefined; from: string };
  /** Bearer secret of `POST /api/v1/cron/*`; unset: those endpoints answer 404. */
  cronSecret: string | undefined;
  metrics: {
    /** When set, `/metrics` requires `Authorization: Bearer <token>`; unset: open. */
    token: string | undefined;
    /** Where a separate worker process (`herald worker`) serves its `/metrics`; unset: it does not. */
    workerPort: number | undefined;
  };
  /** OpenTelemetry traces over OTLP/HTTP (src/observability/tracing.ts); null: off, nothing loaded. */
  tracing: { endpoint: string; serviceName: string } | null;
  /** Unset: generated once into `dataDir` (src/vault/keyring.ts). The first key encrypts. */
  encryptionKeys: VaultKey[] | undefined;
  audit: {
    /** Days after which audit months move to the archive. */
    archiveAfterDays: number;
    /** Days after which archived audit months are dropped. */
    purgeAfterDays: number;
    /** The widest time range one export may cover. */
    exportMaxDays: number;
  };
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? "environment");
        // Secrets are never echoed, not even when they are wrong.
        const got = SECRET_VARIABLES.has(name) ? "value hidden" : `got ${JSON.stringify(env[name] ?? "")}`;
        return `${name}: ${issue.message} (${got})`;
      }),
    );
  }
  const e = parsed.data;
  const listenPort = e.PORT ?? 3000;
  const publicUrl = new URL(e.HERALD_PUBLIC_URL ?? `http://localhost:${listenPort}`);
  return {
    port: listenPort,
    host: e.HOST ?? "127.0.0.1",
    dataDir: path.resolve(cwd, e.HERALD_DATA_DIR ?? "data"),
    databaseUrl: e.DATABASE_URL,
    publicUrl,
    authSecret: e.HERALD_AUTH_SECRET,
    logLevel: e.LOG_LEVEL ?? "info",
    corsOrigins: e.HERALD_CORS_ORIGINS ?? [],
    trustedProxies: e.HERALD_TRUSTED_PROXIES ?? [],
    rateLimitPerMinute: e.HERALD_RATE_LIMIT_PER_MINUTE ?? 600,
    signInLimitPerAccount: e.HERALD_SIGNIN_LIMIT_PER_ACCOUNT ?? 10,
    signInLimitPerIp: e.HERALD_SIGNIN_LIMIT_PER_IP ?? 50,
    dbPoolSize: e.HERALD_DB_POOL_SIZE ?? 10,
    workerConcurrency: e.HERALD_WORKER_CONCURRENCY ?? 256,
    // Scheduled jobs are found by polling: this bounds how late a post can start.
    workerPollMs: e.HERALD_WORKER_POLL_MS ?? 200,
    shutdownTimeoutMs: e.HERALD_SHUTDOWN_TIMEOUT_MS ?? 30_000,
    embeddedPgPort: e.HERALD_EMBEDDED_PG_PORT ?? 0,
    sandbox: sandboxConfig(e, publicUrl),
    facebook: facebookConfig(e),
    encryptionKeys: e.HERALD_ENCRYPTION_KEYS,
    outboundAllowlist: e.HERALD_OUTBOUND_ALLOWLIST ?? [],
    media: {
      // 1 GiB: Instagram reels and Facebook videos may be that large.
      maxBytes: e.HERALD_MEDIA_MAX_BYTES ?? 1024 ** 3,
      importTimeoutMs: e.HERALD_MEDIA_IMPORT_TIMEOUT_MS ?? 60_000,
      store: mediaStore(e, path.resolve(cwd, e.HERALD_DATA_DIR ?? "data")),
    },
    publishing: {
      maxAttempts: e.HERALD_PUBLISH_MAX_ATTEMPTS ?? 15,
      maxRetryAgeSeconds: e.HERALD_PUBLISH_MAX_RETRY_AGE ?? 6 * 3600,
      leaseSeconds: e.HERALD_PUBLISH_LEASE_SECONDS ?? 120,
      accountConcurrency: e.HERALD_PUBLISH_ACCOUNT_CONCURRENCY ?? 8,
      platformConcurrency: e.HERALD_PUBLISH_PLATFORM_CONCURRENCY ?? 50,
      graceSeconds: e.HERALD_PUBLISH_GRACE_SECONDS ?? 60,
    },
    webhooks: { maxAttempts: e.HERALD_WEBHOOK_MAX_ATTEMPTS ?? 10 },
    smtp: { url: e.HERALD_SMTP_URL, from: e.HERALD_SMTP_FROM ?? "Herald <herald@localhost>" },
    cronSecret: e.CRON_SECRET,
    metrics: { token: e.HERALD_METRICS_TOKEN, workerPort: e.HERALD_METRICS_PORT },
    tracing: e.OTEL_EXPORTER_OTLP_ENDPOINT
      ? { endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME ?? "herald" }
      : null,
    audit: {
      archiveAfterDays: e.HERALD_AUDIT_ARCHIVE_AFTER ?? 365,
      purgeAfterDays: e.HERALD_AUDIT_PURGE_AFTER ?? 2557,
      exportMaxDays: e.HERALD_AUDIT_EXPORT_MAX_DAYS ?? 366,
    },
  };
}

function sandboxConfig(e: z.infer<typeof EnvSchema>, publicUrl: URL): Config["sandbox"] {
  // On by default in zero-setup mode only: with DATABASE_URL, Herald is probably in production.
  const mounted = (e.HERALD_SANDBOX ?? (e.DATABASE_URL ? "off" : "on")) === "on";
  const url = e.HERALD_SANDBOX_URL ?? (mounted ? new URL("/sandbox", publicUrl).href : null);
  return {
    mounted,
    url: url?.replace(/\/+$/, "") ?? null,
    clientId: e.HERALD_SANDBOX_CLIENT_ID ?? "herald",
    // A fake network's client secret: a fixed default is fine, the network only exists on this machine.
    clientSecret: e.HERALD_SANDBOX_CLIENT_SECRET ?? "herald-sandbox-secret",
    accessTokenTtlSeconds: e.HERALD_SANDBOX_ACCESS_TOKEN_TTL ?? 3600,
  };
}

function mediaStore(e: z.infer<typeof EnvSchema>, dataDir: string): Config["media"]["store"] {
  if (e.HERALD_MEDIA_STORE !== "s3") return { kind: "local", dir: path.join(dataDir, "media") };
  const endpoint = (e.HERALD_S3_ENDPOINT ?? "https://s3.amazonaws.com").replace(/\/+$/, "");
  const bucket = e.HERALD_S3_BUCKET ?? "";
  return {
    kind: "s3",
    endpoint,
    region: e.HERALD_S3_REGION ?? "us-east-1",
    bucket,
    accessKeyId: e.HERALD_S3_ACCESS_KEY_ID ?? "",
    secretAccessKey: e.HERALD_S3_SECRET_ACCESS_KEY ?? "",
    publicUrl: (e.HERALD_S3_PUBLIC_URL ?? `${endpoint}/${bucket}`).replace(/\/+$/, ""),
  };
}

function facebookConfig(e: z.infer<typeof EnvSchema>): Config["facebook"] {
  if (!e.HERALD_FACEBOOK_APP_ID || !e.HERALD_FACEBOOK_APP_SECRET) return null;
  return {
    appId: e.HERALD_FACEBOOK_APP_ID,
    appSecret: e.HERALD_FACEBOOK_APP_SECRET,
    graphUrl: (e.HERALD_FACEBOOK_GRAPH_URL ?? "https://graph.facebook.com").replace(/\/+$/, ""),
    dialogUrl: (e.HERALD_FACEBOOK_DIALOG_URL ?? "https://www.facebook.com").replace(/\/+$/, ""),
    graphVersion: e.HERALD_FACEBOOK_GRAPH_VERSION ?? "v26.0",
  };
}
