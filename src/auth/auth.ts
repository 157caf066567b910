/**
 * People's identity: passwords and sessions come from better-auth (scrypt password hashes, signed
 * session cookies, sessions stored in PostgreSQL). Herald calls it from its own routes
 * (src/auth/auth.routes.ts) instead of mounting better-auth's router, so that every endpoint has
 * Herald's schemas, errors, throttling and audit.
 *
 * Tables are Herald's (migration 0001), named in snake_case; the mapping below tells better-auth.
 */
import { betterAuth } from "better-auth";
import type pg from "pg";
import { stripSecrets } from "../audit/audit.js";
import type { Logger } from "../observability/logger.js";

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 128;
const SESSION_DAYS = 30;

/** Header through which Herald hands better-auth the client IP it resolved (trusted proxies only). */
export const CLIENT_IP_HEADER = "x-herald-client-ip";

export type AuthOptions = { pool: pg.Pool; secret: string; publicUrl: URL; log: Logger };

export function createAuth({ pool, secret, publicUrl, log }: AuthOptions) {
  const authLog = log.child({ component: "better-auth" });
  return betterAuth({
    // Into Herald's log, not the console. Its warnings ("invalid password") are expected traffic,
    // which Herald records in the audit trail: debug level.
    logger: {
      level: "debug",
      log: (level, message, ...args: unknown[]) => {
        if (level !== "error") return authLog.debug(message);
        const [first] = args;
        authLog.error(first instanceof Error ? { err: first } : { args: stripSecrets(args) }, message);
      },
    },
    appName: "Herald",
    baseURL: publicUrl.origin,
    secret,
    database: pool,
    telemetry: { enabled: false },
    // Herald throttles sign-in itself, in PostgreSQL, so limits hold across server processes.
    rateLimit: { enabled: false },
    emailAndPassword: {
      enabled: true,
      autoSignIn: true,
      minPasswordLength: MIN_PASSWORD_LENGTH,
      maxPasswordLength: MAX_PASSWORD_LENGTH,
    },
    session: {
      modelName: "sessions",
      expiresIn: SESSION_DAYS * 24 * 60 * 60,
      updateAge: 24 * 60 * 60,
      fields: {
        userId: "user_id",
        expiresAt: "expires_at",
        ipAddress: "ip_address",
        userAgent: "user_agent",
        createdAt: "created_at",
        updatedAt: "updated_at",
      },
    },
    user: {
      modelName: "users",
      fields: { emailVerified: "email_verified", createdAt: "created_at", updatedAt: "updated_at" },
    },
    account: {
      modelName: "user_credentials",
      fields: {
        userId: "user_id",
        accountId: "account_id",
        providerId: "provider_id",
        accessToken: "access_token",
        refreshToken: "refresh_token",
        idToken: "id_token",
        accessTokenExpiresAt: "access_token_expires_at",
        refreshTokenExpiresAt: "refresh_token_expires_at",
        createdAt: "created_at",
        updatedAt: "updated_at",
      },
    },
    verification: {
      modelName: "verifications",
      fields: { expiresAt: "expires_at", createdAt: "created_at", updatedAt: "updated_at" },
    },
    advanced: {
      cookiePrefix: "herald",
      // Secure cookies when users reach Herald over https (HERALD_PUBLIC_URL), whatever the hop
      // between a TLS-terminating proxy and Herald uses.
      useSecureCookies: publicUrl.protocol === "https:",
      defaultCookieAttributes: { httpOnly: true, sameSite: "lax" },
      ipAddress: { ipAddressHeaders: [CLIENT_IP_HEADER] },
      database: { generateId: "uuid", validateSchema: false },
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;
