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
    HERALD_WORKER_CONCURRENCY: optional(positiveInt.max(200)),
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
    workerConcurrency: e.HERALD_WORKER_CONCURRENCY ?? 10,
    shutdownTimeoutMs: e.HERALD_SHUTDOWN_TIMEOUT_MS ?? 30_000,
    embeddedPgPort: e.HERALD_EMBEDDED_PG_PORT ?? 0,
    sandbox: sandboxConfig(e, publicUrl),
    facebook: facebookConfig(e),
    encryptionKeys: e.HERALD_ENCRYPTION_KEYS,
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
