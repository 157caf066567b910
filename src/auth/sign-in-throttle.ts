/**
 * Sign-in throttling, per account and per client IP, in fixed 15-minute windows counted in
 * PostgreSQL so that the limits hold across any number of server processes. Only failures count;
 * a successful sign-in clears the account's counter. Keys are SHA-256 hashes: the table holds no
 * email addresses or IPs.
 */
import { createHash } from "node:crypto";
import type pg from "pg";
import { RateLimitedError } from "../errors.js";

const WINDOW_SECONDS = 15 * 60;

export type ThrottleLimits = { perAccount: number; perIp: number };

const accountKey = (email: string) => createHash("sha256").update(`account:${email.toLowerCase()}`).digest();
const ipKey = (ip: string) => createHash("sha256").update(`ip:${ip}`).digest();

/** Throws 429 when either the account or the IP used up its failures in the current window. */
export async function assertSignInAllowed(pool: pg.Pool, limits: ThrottleLimits, email: string, ip: string) {
  const { rows } = await pool.query<{ key: Buffer; attempts: number; retry_after: number }>(
    `select key, attempts, ceil(extract(epoch from window_started_at + make_interval(secs => $2) - now()))::int as retry_after
     from sign_in_throttle
     where key = any($1) and window_started_at > now() - make_interval(secs => $2)`,
    [[accountKey(email), ipKey(ip)], WINDOW_SECONDS],
  );
  const account = accountKey(email);
  for (const row of rows) {
    const limit = row.key.equals(account) ? limits.perAccount : limits.perIp;
    if (row.attempts >= limit) {
      throw new RateLimitedError(
        "Too many failed sign-in attempts. Wait before trying again.",
        Math.max(1, row.retry_after),
      );
    }
  }
}

export async function recordSignInFailure(pool: pg.Pool, email: string, ip: string) {
  await pool.query(
    `insert into sign_in_throttle (key, attempts, window_started_at)
     select key, 1, now() from unnest($1::bytea[]) as key
     on conflict (key) do update set
       attempts = case when sign_in_throttle.window_started_at <= now() - make_interval(secs => $2)
                       then 1 else sign_in_throttle.attempts + 1 end,
       window_started_at = case when sign_in_throttle.window_started_at <= now() - make_interval(secs => $2)
                                then now() else sign_in_throttle.window_started_at end`,
    [[accountKey(email), ipKey(ip)], WINDOW_SECONDS],
  );
}

export async function clearAccountFailures(pool: pg.Pool, email: string) {
  await pool.query("delete from sign_in_throttle where key = $1", [accountKey(email)]);
}

/** Rows whose window ended; the maintenance job calls this. */
export async function purgeExpiredThrottles(pool: pg.Pool): Promise<number> {
  const { rowCount } = await pool.query(
    "delete from sign_in_throttle where window_started_at <= now() - make_interval(secs => $1)",
    [WINDOW_SECONDS],
  );
  return rowCount ?? 0;
}
