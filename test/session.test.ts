/**
 * Herald reads sessions itself on the hot path (src/auth/session.ts); better-auth still creates,
 * refreshes and ends them. These tests hold the two to the same cookie format and rules.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifiedToken } from "../src/auth/session.js";
import { call, signUp, startTestApp, type TestApp } from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";

let t: TestApp;
const SECRET = "test-secret-0123456789-0123456789";

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(async () => {
  await t?.close();
});

const cookieValue = (cookie: string) => cookie.slice(cookie.indexOf("=") + 1);

describe("session cookies", () => {
  it("accepts the signature better-auth made and rejects a tampered token or signature", async () => {
    const session = await signUp(t.app);
    const value = cookieValue(session.cookie);
    const token = verifiedToken(value, SECRET);
    expect(token).toMatch(/^[A-Za-z0-9]{20,}$/);
    const [, signature] = decodeURIComponent(value).split(".");
    expect(verifiedToken(encodeURIComponent(`${token}x.${signature}`), SECRET)).toBeUndefined();
    expect(verifiedToken(encodeURIComponent(`${token}.${"A".repeat(43)}=`), SECRET)).toBeUndefined();
    expect(verifiedToken(value, "another-secret-0123456789-01234567")).toBeUndefined();
    expect(verifiedToken("%E0%A4%A", SECRET)).toBeUndefined();
    expect(verifiedToken("no-signature", SECRET)).toBeUndefined();
  });

  it("a cookie with a valid token but a forged signature does not authenticate", async () => {
    const session = await signUp(t.app);
    const token = verifiedToken(cookieValue(session.cookie), SECRET);
    const forged = `herald.session_token=${encodeURIComponent(`${token}.${"B".repeat(43)}=`)}`;
    expect(
      (await t.app.inject({ method: "GET", url: "/api/v1/me", headers: { cookie: forged } })).statusCode,
    ).toBe(401);
  });

  it("an expired session does not authenticate", async () => {
    const session = await signUp(t.app);
    await asOwner(t.db.url, (owner) =>
      owner.query("update sessions set expires_at = now() - interval '1 second' where user_id = $1", [
        session.userId,
      ]),
    );
    expect((await call(t.app, session, "GET", "/api/v1/me")).statusCode).toBe(401);
  });

  it("a session older than a day is extended by better-auth, with a refreshed cookie", async () => {
    const session = await signUp(t.app);
    // 29 days left of 30: the session was last refreshed more than a day ago.
    await asOwner(t.db.url, (owner) =>
      owner.query(
        "update sessions set expires_at = now() + interval '29 days' - interval '1 minute' where user_id = $1",
        [session.userId],
      ),
    );
    const response = await call(t.app, session, "GET", "/api/v1/me");
    expect(response.statusCode).toBe(200);
    expect(response.cookies.find((c) => c.name === "herald.session_token")?.maxAge).toBe(30 * 24 * 3600);
    const { rows } = await asOwner(t.db.url, (owner) =>
      owner.query(
        "select expires_at > now() + interval '29 days 23 hours' as extended from sessions where user_id = $1",
        [session.userId],
      ),
    );
    expect(rows[0]).toEqual({ extended: true });
  });

  it("a fresh session is not rewritten on every request", async () => {
    const session = await signUp(t.app);
    const before = await asOwner(t.db.url, (owner) =>
      owner.query("select expires_at, updated_at from sessions where user_id = $1", [session.userId]),
    );
    const response = await call(t.app, session, "GET", "/api/v1/me");
    expect(response.statusCode).toBe(200);
    expect(response.headers["set-cookie"]).toBeUndefined();
    const after = await asOwner(t.db.url, (owner) =>
      owner.query("select expires_at, updated_at from sessions where user_id = $1", [session.userId]),
    );
    expect(after.rows).toEqual(before.rows);
  });
});
