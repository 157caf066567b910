/**
 * Sign-in throttling, per account and per client IP, in fixed 15-minute windows counted in
 * PostgreSQL so that the limits hold across any number of server processes. Keys are SHA-256
 * hashes: the table holds no email addresses or IPs.
 *
 * An attempt is counted *before* the password is checked (`reserveSignInAttempt`), atomically, so
 * that guesses sent in parallel cannot exceed the limit; a successful sign-in then gives the
 * attempt back (`signInSucceeded`): only failures use up the allowance.
 */
import { createHash } from "node:crypto";
import type pg from "pg";
import { RateLimitedError } from "../errors.js";

const WINDOW_SECONDS = 15 * 60;

export type ThrottleLimits = { perAccount: number; perIp: number };

const accountKey = (email: string) => createHash("sha256").update(`account:${email.toLowerCase()}`).digest();
const ipKey = (ip: string) => createHash("sha256").update(`ip:${ip}`).digest();

/**
 * Counts one attempt for the account and the IP; throws 429 if either is over its limit. Returns
 * the attempts counted so far in the window (this one included).
 */
export async function reserveSignInAttempt(
  pool: pg.Pool,
  limits: ThrottleLimits,
  email: string,
  ip: string,
): Promise<{ account: number; ip: number }> {
  const account = accountKey(email);
  const { rows } = await pool.query<{ key: Buffer; attempts: number; retry_after: number }>(
    `insert into sign_in_throttle as t (key, attempts, window_started_at)
     select key, 1, now() from unnest($1::bytea[]) as key
     on conflict (key) do update set
       attempts = case when t.window_started_at <= now() - make_interval(secs => $2) then 1 else t.attempts + 1 end,
       window_started_at = case when t.window_started_at <= now() - make_interval(secs => $2)
                                then now() else t.window_started_at end
     returning key, attempts,
       ceil(extract(epoch from window_started_at + make_interval(secs => $2) - now()))::int as retry_after`,
    [[account, ipKey(ip)], WINDOW_SECONDS],
  );
  const over = rows.filter(
    (row) => row.attempts > (row.key.equals(account) ? limits.perAccount : limits.perIp),
  );
  if (over.length > 0) {
    throw new RateLimitedError(
      "Too many failed sign-in attempts. Wait before trying again.",
      Math.max(1, ...over.map((row) => row.retry_after)),
    );
  }
  return {
    account: rows.find((row) => row.key.equals(account))?.attempts ?? 0,
    ip: rows.find((row) => !row.key.equals(account))?.attempts ?? 0,
  };
}

/** The password was right: the account starts afresh and the IP gets its attempt back. */
export async function signInSucceeded(pool: pg.Pool, email: string, ip: string) {
  await pool.query("delete from sign_in_throttle where key = $1", [accountKey(email)]);
  await pool.query("update sign_in_throttle set attempts = greatest(attempts - 1, 0) where key = $1", [
    ipKey(ip),
  ]);
}

/** Rows whose window ended; the maintenance job calls this. */
export async function purgeExpiredThrottles(pool: pg.Pool): Promise<number> {
  const { rowCount } = await pool.query(
    "delete from sign_in_throttle where window_started_at <= now() - make_interval(secs => $1)",
    [WINDOW_SECONDS],
  );
  return rowCount ?? 0;
}
