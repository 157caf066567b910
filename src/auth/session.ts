/**
 * Reading the session of a request, on the hot path of every API call.
 *
 * better-auth creates, refreshes and ends sessions. Its `getSession` costs about 1 ms of CPU and
 * two queries per call (measured: bench/README.md), which would cap a server process near 1,000
 * authenticated requests per second. So Herald reads sessions itself: it checks the cookie's
 * HMAC-SHA256 signature (better-auth's signed-cookie format, `<token>.<base64 signature>`) with
 * node:crypto and finds the session and its user in one query. When a session is due for
 * better-auth's sliding refresh (once per `updateAge`), the request goes through better-auth's
 * `getSession`, which extends the session and returns the refreshed cookie.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type pg from "pg";
import type { UserPrincipal } from "../access/principal.js";
import type { Auth } from "./auth.js";

export type SessionRead = { principal: UserPrincipal; setCookie: string[] };

export type SessionReader = (cookieHeader: string) => Promise<SessionRead | undefined>;

export async function createSessionReader(pool: pg.Pool, auth: Auth, secret: string): Promise<SessionReader> {
  const context = await auth.$context;
  const cookieName = context.authCookies.sessionToken.name;
  const { expiresIn, updateAge } = context.sessionConfig;

  return async (cookieHeader) => {
    const token = verifiedToken(readCookie(cookieHeader, cookieName), secret);
    if (!token) return undefined;
    // A named statement: parsed and planned once per connection, as it runs on every request.
    const { rows } = await pool.query<{ user_id: string; email: string; name: string; expires_at: Date }>({
      name: "herald_read_session",
      text: `select s.user_id, u.email, u.name, s.expires_at
             from sessions s join users u on u.id = s.user_id
             where s.token = $1 and s.expires_at > now()`,
      values: [token],
    });
    const row = rows[0];
    if (!row) return undefined;
    // better-auth's rule: refresh once the session is older than updateAge.
    if (row.expires_at.getTime() - expiresIn * 1000 + updateAge * 1000 <= Date.now()) {
      const refreshed = await auth.api.getSession({
        headers: new Headers({ cookie: cookieHeader }),
        returnHeaders: true,
      });
      if (!refreshed.response) return undefined;
      const { user } = refreshed.response;
      return {
        principal: { kind: "user", userId: user.id, email: user.email, name: user.name },
        setCookie: refreshed.headers.getSetCookie(),
      };
    }
    return {
      principal: { kind: "user", userId: row.user_id, email: row.email, name: row.name },
      setCookie: [],
    };
  };
}

function readCookie(header: string, name: string): string | undefined {
  for (const part of header.split(";")) {
    const separator = part.indexOf("=");
    if (separator !== -1 && part.slice(0, separator).trim() === name) return part.slice(separator + 1).trim();
  }
  return undefined;
}

/** The session token if the cookie value carries a valid signature for it. */
export function verifiedToken(cookieValue: string | undefined, secret: string): string | undefined {
  if (!cookieValue) return undefined;
  let value: string;
  try {
    value = decodeURIComponent(cookieValue);
  } catch {
    return undefined;
  }
  const dot = value.lastIndexOf(".");
  if (dot < 1) return undefined;
  const token = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1), "base64");
  const expected = createHmac("sha256", secret).update(token).digest();
  return given.length === expected.length && timingSafeEqual(given, expected) ? token : undefined;
}
