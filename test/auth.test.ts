/**
 * Sign-up, sign-in, sign-out and /me through the whole HTTP application: cookies, validation,
 * throttling (per account, per IP, behind proxies), invitations accepted on sign-up and sign-in, and
 * the Origin check that stands against CSRF.
 *
 * Password hashing (scrypt) is deliberately slow, so accounts that only need to exist are written
 * straight into the database with the hash a real sign-up produced (`seedAccount`); sign-up itself is
 * tested through the API. Tests that need other settings (limits, public URL, proxies) start their
 * own app on the same database.
 */
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  call,
  createWorkspace,
  PASSWORD,
  type Session,
  sessionCookie,
  startTestApp,
  type TestApp,
  uniqueEmail,
} from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";
import { expectProblem, validationPaths, withoutRequestId } from "./helpers/problems.js";

const SIGN_UP = "/api/v1/auth/sign-up";
const SIGN_IN = "/api/v1/auth/sign-in";
const SIGN_OUT = "/api/v1/auth/sign-out";
const ME = "/api/v1/me";
const WRONG_PASSWORD = "not the right password";

type Account = { userId: string; email: string };

let t: TestApp;
/** The stored hash of PASSWORD, taken from a real sign-up. */
let passwordHash: string;
/** A signed-in person for tests that only read or are refused. */
let someone: Session;

beforeAll(async () => {
  t = await startTestApp();
  const response = await signUpRequest(t, {
    name: "Template",
    email: uniqueEmail("template"),
    password: PASSWORD,
  });
  const { rows } = await asOwner(t.db.url, (owner) =>
    owner.query<{ password: string }>("select password from user_credentials where user_id = $1", [
      response.json().user.id,
    ]),
  );
  passwordHash = rows[0]?.password ?? "";
  expect(passwordHash).not.toBe("");
  someone = await signedIn(t, await seedAccount(t));
});
afterAll(() => t?.close());

/** An account as sign-up leaves it (user and credential rows), with PASSWORD as its password. */
async function seedAccount(
  app: TestApp,
  email = uniqueEmail("seeded"),
  name = "Seeded Person",
): Promise<Account> {
  return asOwner(app.db.url, async (owner) => {
    const { rows } = await owner.query<{ id: string }>(
      "insert into users (name, email) values ($1, $2) returning id",
      [name, email],
    );
    const userId = rows[0]?.id ?? "";
    await owner.query(
      "insert into user_credentials (user_id, account_id, provider_id, password) values ($1, $2, 'credential', $3)",
      [userId, userId, passwordHash],
    );
    return { userId, email };
  });
}

/**
 * An app with other settings, closed when `fn` is done; on the same database unless `ownDatabase`.
 * Throttle counters are per email and per IP, so each test uses its own accounts and client IPs.
 */
async function withApp(
  env: Record<string, string>,
  fn: (app: TestApp) => Promise<void>,
  { ownDatabase = false } = {},
): Promise<void> {
  const app = await startTestApp(env, ownDatabase ? {} : { db: t.db });
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

function signIn(
  app: TestApp,
  email: string,
  password: string,
  options: { headers?: Record<string, string>; remoteAddress?: string } = {},
) {
  return app.app.inject({
    method: "POST",
    url: SIGN_IN,
    payload: { email, password },
    headers: options.headers ?? {},
    ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
  });
}

/** Signs the account in through the API and returns the session. */
async function signedIn(app: TestApp, account: Account): Promise<Session> {
  const response = await signIn(app, account.email, PASSWORD);
  expect(response.statusCode).toBe(200);
  return { ...account, cookie: sessionCookie(response) };
}

function signUpRequest(app: TestApp, body: unknown, headers: Record<string, string> = {}) {
  return call(app.app, undefined, "POST", SIGN_UP, body, headers);
}

function cookieHeader(response: LightMyRequestResponse, name = "herald.session_token"): string {
  const cookie = response.cookies.find((c) => c.name === name);
  if (!cookie) throw new Error(`no ${name} cookie in the response`);
  return `${cookie.name}=${cookie.value}`;
}

async function countUsers(app: TestApp, email: string): Promise<number> {
  const { rows } = await asOwner(app.db.url, (owner) =>
    owner.query<{ n: number }>("select count(*)::int as n from users where lower(email) = lower($1)", [
      email,
    ]),
  );
  return rows[0]?.n ?? -1;
}

function invite(owner: Session, workspaceId: string, email: string, role = "editor") {
  return call(t.app, owner, "POST", `/api/v1/workspaces/${workspaceId}/members`, { email, role });
}

async function memberRow(memberId: string) {
  const { rows } = await asOwner(t.db.url, (owner) =>
    owner.query<{ user_id: string | null; status: string }>(
      "select user_id, status from members where id = $1",
      [memberId],
    ),
  );
  return rows[0];
}

describe("sign-up", () => {
  const email = uniqueEmail("ada");
  let response: LightMyRequestResponse;
  beforeAll(async () => {
    response = await signUpRequest(t, { name: "  Ada Lovelace ", email, password: PASSWORD });
  });

  it("answers 201 with the new user (name trimmed), no API key and no workspaces", () => {
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toEqual({
      user: { id: expect.any(String), name: "Ada Lovelace", email, createdAt: expect.any(String) },
      apiKey: null,
      workspaces: [],
    });
    expect(Math.abs(Date.now() - Date.parse(body.user.createdAt))).toBeLessThan(60_000);
  });

  it("over http sets a session cookie that is HttpOnly, SameSite=Lax, Path=/, not Secure, and authenticates", async () => {
    const cookie = response.cookies.find((c) => c.name === "herald.session_token");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
    expect(cookie?.secure).toBeFalsy();
    expect(response.cookies.map((c) => c.name)).not.toContain("__Secure-herald.session_token");

    const me = await t.app.inject({ method: "GET", url: ME, headers: { cookie: cookieHeader(response) } });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.id).toBe(response.json().user.id);
  });

  it("stores the password only as a hash: no column of users or user_credentials contains it", async () => {
    const userId = response.json().user.id;
    const rows = await asOwner(t.db.url, async (owner) => {
      const users = await owner.query<{ row: string }>("select u::text as row from users u where id = $1", [
        userId,
      ]);
      const credentials = await owner.query<{ row: string; password: string | null }>(
        "select c::text as row, c.password from user_credentials c where user_id = $1",
        [userId],
      );
      return { users: users.rows, credentials: credentials.rows };
    });
    expect(rows.users).toHaveLength(1);
    expect(rows.credentials).toHaveLength(1);
    for (const { row } of [...rows.users, ...rows.credentials]) expect(row).not.toContain(PASSWORD);
    expect(rows.credentials[0]?.password?.length).toBeGreaterThan(PASSWORD.length);
  });

  it("with an https HERALD_PUBLIC_URL the cookie is Secure and named __Secure-herald.session_token, and authenticates", async () => {
    await withApp({ HERALD_PUBLIC_URL: "https://herald.example.com" }, async (https) => {
      const signedUp = await signUpRequest(https, { name: "Ada", email: uniqueEmail(), password: PASSWORD });
      expect(signedUp.statusCode).toBe(201);
      expect(signedUp.cookies.map((c) => c.name)).toEqual(["__Secure-herald.session_token"]);
      expect(signedUp.cookies[0]).toMatchObject({ secure: true, httpOnly: true, sameSite: "Lax", path: "/" });

      const me = await https.app.inject({
        method: "GET",
        url: ME,
        headers: { cookie: cookieHeader(signedUp, "__Secure-herald.session_token") },
      });
      expect(me.statusCode).toBe(200);
      expect(me.json().user.id).toBe(signedUp.json().user.id);
    });
  });

  it("an email already registered, in any letter case, is 409 HERALD_EMAIL_TAKEN naming body.email and changes nothing", async () => {
    const taken = uniqueEmail("taken");
    const first = await signUpRequest(t, { name: "First", email: taken.toUpperCase(), password: PASSWORD });
    expect(first.statusCode).toBe(201);
    expect(first.json().user.email).toBe(taken);
    const credentials = () =>
      asOwner(t.db.url, (owner) =>
        owner.query(
          "select c.* from user_credentials c join users u on u.id = c.user_id where u.email = $1",
          [taken],
        ),
      );
    const before = (await credentials()).rows;

    for (const again of [taken, taken.toUpperCase(), `${taken[0]?.toUpperCase()}${taken.slice(1)}`]) {
      const duplicate = await signUpRequest(t, { name: "Second", email: again, password: `${PASSWORD}!` });
      const body = expectProblem(duplicate, 409, "HERALD_EMAIL_TAKEN");
      expect(body.errors?.map((e) => e.path)).toEqual(["body.email"]);
      expect(duplicate.cookies).toHaveLength(0);
    }
    expect(await countUsers(t, taken)).toBe(1);
    expect((await credentials()).rows).toEqual(before);
  });

  it("missing fields are 400 HERALD_VALIDATION_FAILED with one error per missing field", async () => {
    expect(validationPaths(await signUpRequest(t, {}))).toEqual(["body.email", "body.name", "body.password"]);
    expect(validationPaths(await signUpRequest(t, { name: "Ada", email: uniqueEmail() }))).toEqual([
      "body.password",
    ]);
  });

  it("fields of the wrong type are 400 with one error per field; a body that is not an object is 400 naming body", async () => {
    const response = await signUpRequest(t, { name: 42, email: true, password: 123456789012 });
    expect(validationPaths(response)).toEqual(["body.email", "body.name", "body.password"]);
    expect(validationPaths(await signUpRequest(t, [1, 2]))).toEqual(["body"]);
  });

  it("a password shorter than 12 or longer than 128 characters is 400 naming body.password; 12 and 128 are accepted", async () => {
    for (const password of ["", "a".repeat(11), "a".repeat(129)]) {
      const email = uniqueEmail("short");
      expect(validationPaths(await signUpRequest(t, { name: "Ada", email, password }))).toEqual([
        "body.password",
      ]);
      expect(await countUsers(t, email)).toBe(0);
    }
    for (const password of ["a".repeat(12), "b".repeat(128)]) {
      expect((await signUpRequest(t, { name: "Ada", email: uniqueEmail(), password })).statusCode).toBe(201);
    }
  });

  it("an invalid email is 400 naming body.email, and no account is created", async () => {
    for (const bad of ["not-an-email", "ada@", "@example.com", "ada@example", `${"a".repeat(250)}@x.io`]) {
      const invalid = await signUpRequest(t, { name: "Ada", email: bad, password: PASSWORD });
      expect(validationPaths(invalid)).toEqual(["body.email"]);
      expect(await countUsers(t, bad)).toBe(0);
    }
  });

  it("a name of 201 characters, or of spaces only, is 400 naming body.name; 200 characters are accepted", async () => {
    for (const name of ["n".repeat(201), "   "]) {
      const invalid = await signUpRequest(t, { name, email: uniqueEmail(), password: PASSWORD });
      expect(validationPaths(invalid)).toEqual(["body.name"]);
    }
    const valid = await signUpRequest(t, { name: "n".repeat(200), email: uniqueEmail(), password: PASSWORD });
    expect(valid.statusCode).toBe(201);
    expect(valid.json().user.name).toBe("n".repeat(200));
  });

  it("an unknown extra field is 400 HERALD_VALIDATION_FAILED whose error names it, and no account is created", async () => {
    const extra = uniqueEmail("extra");
    const response = await signUpRequest(t, { name: "Ada", email: extra, password: PASSWORD, role: "owner" });
    const body = expectProblem(response, 400, "HERALD_VALIDATION_FAILED");
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]?.message).toContain('"role"');
    expect(await countUsers(t, extra)).toBe(0);
  });

  it("an unknown extra field is reported at its own path (body.role), like every other field error", async () => {
    const response = await signUpRequest(t, {
      name: "Ada",
      email: uniqueEmail(),
      password: PASSWORD,
      role: "owner",
    });
    expect(validationPaths(response)).toEqual(["body.role"]);
  });

  it("malformed JSON is 400 HERALD_MALFORMED_JSON", async () => {
    const malformed = await t.app.inject({
      method: "POST",
      url: SIGN_UP,
      headers: { "content-type": "application/json" },
      payload: '{"name": "Ada", "email": ',
    });
    expectProblem(malformed, 400, "HERALD_MALFORMED_JSON");
  });
});

describe("sign-in", () => {
  let account: Account;
  beforeAll(async () => {
    account = await seedAccount(t);
  });

  it("the right password answers 200 with the user and a new session cookie, whatever the email's case", async () => {
    const response = await signIn(t, account.email.toUpperCase(), PASSWORD);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      user: { id: account.userId, email: account.email },
      apiKey: null,
      workspaces: [],
    });
    const cookie = response.cookies.find((c) => c.name === "herald.session_token");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });

    const me = await call(t.app, { ...account, cookie: sessionCookie(response) }, "GET", ME);
    expect(me.statusCode).toBe(200);
    expect(me.json().user.id).toBe(account.userId);
  });

  it("a wrong password is 401 HERALD_INVALID_CREDENTIALS, word for word the answer for an unknown email", async () => {
    const wrongPassword = await signIn(t, account.email, WRONG_PASSWORD);
    const unknownEmail = await signIn(t, uniqueEmail("nobody"), WRONG_PASSWORD);
    for (const response of [wrongPassword, unknownEmail]) {
      expectProblem(response, 401, "HERALD_INVALID_CREDENTIALS");
      expect(response.cookies).toHaveLength(0);
    }
    expect(withoutRequestId(wrongPassword.json())).toEqual(withoutRequestId(unknownEmail.json()));
    expect(wrongPassword.json().requestId).not.toBe(unknownEmail.json().requestId);
  });

  it("an invalid body is 400 naming the fields", async () => {
    const missing = await call(t.app, undefined, "POST", SIGN_IN, { email: account.email });
    expect(validationPaths(missing)).toEqual(["body.password"]);
    expect(validationPaths(await signIn(t, account.email, "p".repeat(129)))).toEqual(["body.password"]);
    expect(validationPaths(await signIn(t, account.email, ""))).toEqual(["body.password"]);
    expect(validationPaths(await signIn(t, "nope", PASSWORD))).toEqual(["body.email"]);
  });

  it("a failure is counted per account and per IP under hashes: sign_in_throttle holds no email address or IP", async () => {
    const throttleRows = async () => {
      const { rows } = await asOwner(t.db.url, (owner) =>
        owner.query<{ key: Buffer }>("select key from sign_in_throttle"),
      );
      return rows;
    };
    const before = (await throttleRows()).length;
    const email = uniqueEmail("hashed");
    expect((await signIn(t, email, WRONG_PASSWORD, { remoteAddress: "10.3.0.1" })).statusCode).toBe(401);
    const rows = await throttleRows();
    expect(rows.length).toBe(before + 2);
    for (const { key } of rows) {
      expect(key).toHaveLength(32);
      expect(key.toString("latin1")).not.toMatch(/@example\.com|10\.3\.0\.1/);
    }
  });
});

// Each test here has its own app, accounts and client IPs: they run side by side, so that their
// password hashing (the slow part) overlaps.
describe.concurrent("sign-in throttling", () => {
  it("per account: after 3 failures even the right password is 429 with Retry-After; another account on the same IP is unaffected", async () => {
    await withApp({ HERALD_SIGNIN_LIMIT_PER_ACCOUNT: "3" }, async (app) => {
      const [victim, bystander] = [await seedAccount(app), await seedAccount(app)];
      const ip = { remoteAddress: "10.1.0.1" };
      for (let i = 0; i < 3; i++) {
        const failure = await signIn(app, victim.email, WRONG_PASSWORD, ip);
        expectProblem(failure, 401, "HERALD_INVALID_CREDENTIALS");
      }
      for (const email of [victim.email, victim.email.toUpperCase()]) {
        const blocked = await signIn(app, email, PASSWORD, ip);
        expectProblem(blocked, 429, "HERALD_RATE_LIMITED");
        const retryAfter = blocked.headers["retry-after"];
        expect(retryAfter).toMatch(/^\d+$/);
        expect(Number(retryAfter)).toBeGreaterThan(0);
        expect(Number(retryAfter)).toBeLessThanOrEqual(15 * 60);
        expect(blocked.cookies).toHaveLength(0);
      }
      expect((await signIn(app, bystander.email, PASSWORD, ip)).statusCode).toBe(200);
    });
  });

  it("per IP: failures on different accounts from one IP lead to 429; another IP is unaffected", async () => {
    await withApp({ HERALD_SIGNIN_LIMIT_PER_IP: "3" }, async (app) => {
      const person = await seedAccount(app);
      for (let i = 0; i < 3; i++) {
        const failure = await signIn(app, uniqueEmail("guess"), WRONG_PASSWORD, {
          remoteAddress: "10.2.0.1",
        });
        expectProblem(failure, 401, "HERALD_INVALID_CREDENTIALS");
      }
      const blocked = await signIn(app, person.email, PASSWORD, { remoteAddress: "10.2.0.1" });
      expectProblem(blocked, 429, "HERALD_RATE_LIMITED");
      expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);

      expect((await signIn(app, person.email, PASSWORD, { remoteAddress: "10.2.0.2" })).statusCode).toBe(200);
    });
  });

  it("a successful sign-in clears the account's failures (2 failures, success, 2 failures: still allowed with limit 3)", async () => {
    await withApp({ HERALD_SIGNIN_LIMIT_PER_ACCOUNT: "3" }, async (app) => {
      const person = await seedAccount(app);
      const attempt = (password: string) =>
        signIn(app, person.email, password, { remoteAddress: "10.4.0.1" });
      for (let i = 0; i < 2; i++) expect((await attempt(WRONG_PASSWORD)).statusCode).toBe(401);
      expect((await attempt(PASSWORD)).statusCode).toBe(200);
      for (let i = 0; i < 2; i++) expect((await attempt(WRONG_PASSWORD)).statusCode).toBe(401);
      // Still allowed: a third failure since the success is checked and answered 401...
      expectProblem(await attempt(WRONG_PASSWORD), 401, "HERALD_INVALID_CREDENTIALS");
      // ...and only now is the limit reached.
      expectProblem(await attempt(PASSWORD), 429, "HERALD_RATE_LIMITED");
    });
  });

  // Each attempt is counted before its password is checked, so attempts that overlap cannot all
  // slip under the limit.
  it("overlapping wrong passwords get no more guesses than the per-account limit", async () => {
    await withApp(
      { HERALD_SIGNIN_LIMIT_PER_ACCOUNT: "3" },
      async (app) => {
        const person = await seedAccount(app);
        const statuses = await asOwner(app.db.url, async (owner) => {
          // Writes to the throttle table wait until every attempt is in flight (or finished), so the
          // attempts overlap however fast or slow this machine is. (Its own database: the lock must
          // not hold up the other tests.)
          await owner.query("begin; lock table sign_in_throttle in exclusive mode");
          let settled = 0;
          const attempts = Array.from({ length: 6 }, () =>
            signIn(app, person.email, WRONG_PASSWORD, { remoteAddress: "10.5.0.1" }).finally(() => {
              settled++;
            }),
          );
          try {
            await vi.waitFor(
              async () => {
                const { rows } = await owner.query<{ n: number }>(
                  `select count(*)::int as n from pg_locks
                   where database = (select oid from pg_database where datname = current_database())
                     and relation = 'sign_in_throttle'::regclass and not granted`,
                );
                expect((rows[0]?.n ?? 0) + settled).toBeGreaterThanOrEqual(attempts.length);
              },
              { timeout: 10_000, interval: 10 },
            );
          } finally {
            await owner.query("commit");
          }
          return (await Promise.all(attempts)).map((response) => response.statusCode).sort();
        });
        expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
      },
      { ownDatabase: true },
    );
  });

  describe("the client IP used for throttling: X-Forwarded-For only from trusted proxies", () => {
    it("behind a trusted proxy, each forwarded client IP is counted on its own, and the session records it", async () => {
      await withApp({ HERALD_TRUSTED_PROXIES: "127.0.0.1", HERALD_SIGNIN_LIMIT_PER_IP: "3" }, async (app) => {
        const person = await seedAccount(app);
        const via = (ip: string) => ({ remoteAddress: "127.0.0.1", headers: { "x-forwarded-for": ip } });
        for (let i = 0; i < 3; i++) {
          const failure = await signIn(app, uniqueEmail("guess"), WRONG_PASSWORD, via("203.0.113.1"));
          expect(failure.statusCode).toBe(401);
        }
        expectProblem(
          await signIn(app, person.email, PASSWORD, via("203.0.113.1")),
          429,
          "HERALD_RATE_LIMITED",
        );

        const other = await signIn(app, person.email, PASSWORD, via("203.0.113.2"));
        expect(other.statusCode).toBe(200);
        const { rows } = await asOwner(app.db.url, (owner) =>
          owner.query("select ip_address from sessions where user_id = $1", [person.userId]),
        );
        expect(rows).toEqual([{ ip_address: "203.0.113.2" }]);
      });
    });

    it("without trusted proxies, changing X-Forwarded-For does not escape the per-IP limit", async () => {
      await withApp({ HERALD_SIGNIN_LIMIT_PER_IP: "3" }, async (app) => {
        const person = await seedAccount(app);
        const from = (forwarded: string) => ({
          remoteAddress: "10.6.0.1",
          headers: { "x-forwarded-for": forwarded },
        });
        for (let i = 1; i <= 3; i++) {
          const failure = await signIn(app, uniqueEmail("guess"), WRONG_PASSWORD, from(`198.51.100.${i}`));
          expect(failure.statusCode).toBe(401);
        }
        const blocked = await signIn(app, person.email, PASSWORD, from("198.51.100.99"));
        expectProblem(blocked, 429, "HERALD_RATE_LIMITED");
      });
    });

    it("with trusted proxies configured, a peer that is not one of them cannot choose its IP with X-Forwarded-For", async () => {
      await withApp({ HERALD_TRUSTED_PROXIES: "127.0.0.1", HERALD_SIGNIN_LIMIT_PER_IP: "3" }, async (app) => {
        const person = await seedAccount(app);
        const from = (forwarded: string) => ({
          remoteAddress: "192.0.2.50",
          headers: { "x-forwarded-for": forwarded },
        });
        for (let i = 1; i <= 3; i++) {
          const failure = await signIn(app, uniqueEmail("guess"), WRONG_PASSWORD, from(`198.51.100.${i}`));
          expect(failure.statusCode).toBe(401);
        }
        const blocked = await signIn(app, person.email, PASSWORD, from("198.51.100.99"));
        expectProblem(blocked, 429, "HERALD_RATE_LIMITED");
      });
    });
  });
});

describe("sign-out", () => {
  it("is 204, clears the cookie, deletes the session, and the old cookie no longer authenticates", async () => {
    const session = await signedIn(t, await seedAccount(t));
    expect((await call(t.app, session, "GET", ME)).statusCode).toBe(200);

    const response = await call(t.app, session, "POST", SIGN_OUT);
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe("");
    expect(response.cookies.find((c) => c.name === "herald.session_token")).toMatchObject({
      value: "",
      maxAge: 0,
    });

    expectProblem(await call(t.app, session, "GET", ME), 401, "HERALD_UNAUTHENTICATED");
    const { rows } = await asOwner(t.db.url, (owner) =>
      owner.query<{ n: number }>("select count(*)::int as n from sessions where user_id = $1", [
        session.userId,
      ]),
    );
    expect(rows[0]?.n).toBe(0);
  });

  it("ends only that session: the same person's other session keeps working", async () => {
    const account = await seedAccount(t);
    const first = await signedIn(t, account);
    const second = await signedIn(t, account);
    expect((await call(t.app, first, "POST", SIGN_OUT)).statusCode).toBe(204);
    expect((await call(t.app, first, "GET", ME)).statusCode).toBe(401);
    expect((await call(t.app, second, "GET", ME)).statusCode).toBe(200);
  });

  it("without a session, or with a garbage cookie, is still 204", async () => {
    expect((await call(t.app, undefined, "POST", SIGN_OUT)).statusCode).toBe(204);
    const garbage = await t.app.inject({
      method: "POST",
      url: SIGN_OUT,
      headers: { cookie: "herald.session_token=garbage.value" },
    });
    expect(garbage.statusCode).toBe(204);
  });
});

describe("GET /api/v1/me", () => {
  it("without credentials is 401 HERALD_UNAUTHENTICATED", async () => {
    expectProblem(await call(t.app, undefined, "GET", ME), 401, "HERALD_UNAUTHENTICATED");
  });

  it("with a garbage, empty or forged session cookie is 401 HERALD_UNAUTHENTICATED", async () => {
    const [, value = ""] = someone.cookie.split("=");
    const [token = ""] = decodeURIComponent(value).split(".");
    for (const cookie of [
      "herald.session_token=garbage",
      "herald.session_token=",
      "other=1",
      // The real token with a signature that is not the server's.
      `herald.session_token=${encodeURIComponent(`${token}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`)}`,
    ]) {
      const response = await t.app.inject({ method: "GET", url: ME, headers: { cookie } });
      expectProblem(response, 401, "HERALD_UNAUTHENTICATED");
    }
    expect((await call(t.app, someone, "GET", ME)).statusCode).toBe(200);
  });

  it("with a session past its expiry is 401 HERALD_UNAUTHENTICATED", async () => {
    const session = await signedIn(t, await seedAccount(t));
    await asOwner(t.db.url, (owner) =>
      owner.query("update sessions set expires_at = now() - interval '1 second' where user_id = $1", [
        session.userId,
      ]),
    );
    expectProblem(await call(t.app, session, "GET", ME), 401, "HERALD_UNAUTHENTICATED");
  });

  it("with a session due for its daily refresh extends it to 30 days and sends the cookie again", async () => {
    const session = await signedIn(t, await seedAccount(t));
    const expiry = async () => {
      const { rows } = await asOwner(t.db.url, (owner) =>
        owner.query<{ expires_at: Date }>("select expires_at from sessions where user_id = $1", [
          session.userId,
        ]),
      );
      return rows[0]?.expires_at.getTime() ?? 0;
    };
    const day = 24 * 60 * 60 * 1000;
    await asOwner(t.db.url, (owner) =>
      owner.query("update sessions set expires_at = now() + interval '28 days' where user_id = $1", [
        session.userId,
      ]),
    );

    const response = await call(t.app, session, "GET", ME);
    expect(response.statusCode).toBe(200);
    const cookie = response.cookies.find((c) => c.name === "herald.session_token");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/", maxAge: 30 * 24 * 60 * 60 });
    expect((await expiry()) - Date.now()).toBeGreaterThan(30 * day - 60_000);
    const again = await call(t.app, { ...session, cookie: cookieHeader(response) }, "GET", ME);
    expect(again.statusCode).toBe(200);
  });

  it("with a session lists the person and each of their workspaces with their role in it", async () => {
    const owner = await signedIn(t, await seedAccount(t));
    const theirs = await createWorkspace(t.app, owner, "Theirs");
    const email = uniqueEmail("me");
    expect((await invite(owner, theirs, email, "viewer")).statusCode).toBe(201);

    const signedUp = await signUpRequest(t, { name: "Mia Member", email, password: PASSWORD });
    const person: Session = { cookie: cookieHeader(signedUp), userId: signedUp.json().user.id, email };
    const own = await createWorkspace(t.app, person, "Mine");

    const response = await call(t.app, person, "GET", ME);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      user: { id: person.userId, name: "Mia Member", email, createdAt: expect.any(String) },
      apiKey: null,
      workspaces: [
        {
          id: theirs,
          name: "Theirs",
          slug: expect.any(String),
          role: "viewer",
          createdAt: expect.any(String),
        },
        { id: own, name: "Mine", slug: expect.any(String), role: "owner", createdAt: expect.any(String) },
      ],
    });
  });
});

describe("invitations", () => {
  let owner: Session;
  let workspaceId: string;
  beforeAll(async () => {
    owner = await signedIn(t, await seedAccount(t));
    workspaceId = await createWorkspace(t.app, owner, "Invites");
  });

  it("are accepted when the invited email signs up: the new account sees the workspace as editor, the member is active", async () => {
    const email = uniqueEmail("newcomer");
    const invited = await invite(owner, workspaceId, email.toUpperCase());
    expect(invited.statusCode).toBe(201);
    expect(invited.json()).toMatchObject({ email, status: "invited", name: null, role: "editor" });

    const signedUp = await signUpRequest(t, { name: "Newcomer", email, password: PASSWORD });
    expect(signedUp.statusCode).toBe(201);
    expect(signedUp.json().workspaces).toEqual([
      expect.objectContaining({ id: workspaceId, role: "editor" }),
    ]);

    const me = await t.app.inject({ method: "GET", url: ME, headers: { cookie: cookieHeader(signedUp) } });
    expect(me.json().workspaces).toEqual([expect.objectContaining({ id: workspaceId, role: "editor" })]);

    const members = await call(t.app, owner, "GET", `/api/v1/workspaces/${workspaceId}/members`);
    expect(members.json().items).toContainEqual(
      expect.objectContaining({
        id: invited.json().id,
        email,
        status: "active",
        name: "Newcomer",
        role: "editor",
      }),
    );
    expect(await memberRow(invited.json().id)).toEqual({
      user_id: signedUp.json().user.id,
      status: "active",
    });
  });

  it("are accepted when an existing person with that email signs in again", async () => {
    const person = await seedAccount(t, uniqueEmail("existing"), "Existing Person");
    const invited = await invite(owner, workspaceId, person.email);
    expect(invited.json()).toMatchObject({ status: "invited", name: null });
    expect(await memberRow(invited.json().id)).toEqual({ user_id: null, status: "invited" });

    const response = await signIn(t, person.email, PASSWORD);
    expect(response.statusCode).toBe(200);
    expect(response.json().workspaces).toEqual([
      expect.objectContaining({ id: workspaceId, role: "editor" }),
    ]);
    expect(await memberRow(invited.json().id)).toEqual({ user_id: person.userId, status: "active" });

    const session = { ...person, cookie: sessionCookie(response) };
    const workspace = await call(t.app, session, "GET", `/api/v1/workspaces/${workspaceId}`);
    expect(workspace.statusCode).toBe(200);
    expect(workspace.json().role).toBe("editor");
  });

  it("are not accepted by someone who signs in with another email", async () => {
    const invitedEmail = uniqueEmail("invited");
    const invited = await invite(owner, workspaceId, invitedEmail);
    const stranger = await seedAccount(t, uniqueEmail("stranger"));
    const response = await signIn(t, stranger.email, PASSWORD);
    expect(response.statusCode).toBe(200);
    expect(response.json().workspaces).toEqual([]);
    expect(await memberRow(invited.json().id)).toEqual({ user_id: null, status: "invited" });
  });
});

describe("CSRF: state-changing requests must come from Herald's own origin", () => {
  const evil = { origin: "https://evil.example" };

  it("a POST with a foreign Origin is 403 HERALD_ORIGIN_REJECTED and changes nothing", async () => {
    const workspaceCount = async () => {
      const { rows } = await asOwner(t.db.url, (owner) =>
        owner.query<{ n: number }>("select count(*)::int as n from members where user_id = $1", [
          someone.userId,
        ]),
      );
      return rows[0]?.n;
    };
    const before = await workspaceCount();
    const created = await call(t.app, someone, "POST", "/api/v1/workspaces", { name: "Hijacked" }, evil);
    expectProblem(created, 403, "HERALD_ORIGIN_REJECTED");
    expect(await workspaceCount()).toBe(before);

    // A foreign page cannot end the session either.
    expectProblem(
      await call(t.app, someone, "POST", SIGN_OUT, undefined, evil),
      403,
      "HERALD_ORIGIN_REJECTED",
    );
    expect((await call(t.app, someone, "GET", ME)).statusCode).toBe(200);
  });

  it("sign-in and sign-up with a foreign Origin are 403 HERALD_ORIGIN_REJECTED: no session, no account", async () => {
    const signInAttempt = await signIn(t, someone.email, PASSWORD, { headers: evil });
    expectProblem(signInAttempt, 403, "HERALD_ORIGIN_REJECTED");
    expect(signInAttempt.cookies).toHaveLength(0);

    const email = uniqueEmail("csrf");
    const signUpAttempt = await signUpRequest(t, { name: "Eve", email, password: PASSWORD }, evil);
    expectProblem(signUpAttempt, 403, "HERALD_ORIGIN_REJECTED");
    expect(signUpAttempt.cookies).toHaveLength(0);
    expect(await countUsers(t, email)).toBe(0);
  });

  it("origins that merely resemble Herald's are foreign too", async () => {
    for (const origin of [
      "http://localhost:3000.evil.example",
      "http://localhost:3001",
      "https://localhost:3000",
      "http://localhost",
      "null",
    ]) {
      const response = await signIn(t, someone.email, PASSWORD, { headers: { origin } });
      expect({ origin, status: response.statusCode }).toEqual({ origin, status: 403 });
      expect(response.json().code).toBe("HERALD_ORIGIN_REJECTED");
    }
  });

  it("a POST from http://localhost:3000 (the default public URL) or http://127.0.0.1:3000 works", async () => {
    const email = uniqueEmail("local");
    const signedUp = await signUpRequest(
      t,
      { name: "Local", email, password: PASSWORD },
      { origin: "http://localhost:3000" },
    );
    expect(signedUp.statusCode).toBe(201);
    const session: Session = { cookie: cookieHeader(signedUp), userId: signedUp.json().user.id, email };
    for (const origin of ["http://localhost:3000", "http://127.0.0.1:3000"]) {
      const created = await call(t.app, session, "POST", "/api/v1/workspaces", { name: "Local" }, { origin });
      expect({ origin, status: created.statusCode }).toEqual({ origin, status: 201 });
    }
    const again = await signIn(t, email, PASSWORD, { headers: { origin: "http://127.0.0.1:3000" } });
    expect(again.statusCode).toBe(200);
    expect(again.json().workspaces).toHaveLength(2);
  });

  it("a GET with a foreign Origin is not rejected", async () => {
    const response = await call(t.app, someone, "GET", ME, undefined, evil);
    expect(response.statusCode).toBe(200);
    expect(response.json().user.id).toBe(someone.userId);
  });

  it("with HERALD_CORS_ORIGINS, that origin and the public URL's may POST, and localhost no longer may", async () => {
    await withApp(
      { HERALD_PUBLIC_URL: "https://herald.example.com", HERALD_CORS_ORIGINS: "https://app.example.com" },
      async (app) => {
        const account = await seedAccount(app);
        const fromApp = await signIn(app, account.email, PASSWORD, {
          headers: { origin: "https://app.example.com" },
        });
        expect(fromApp.statusCode).toBe(200);
        const cookie = cookieHeader(fromApp, "__Secure-herald.session_token");
        const signOut = await app.app.inject({
          method: "POST",
          url: SIGN_OUT,
          headers: { cookie, origin: "https://herald.example.com" },
        });
        expect(signOut.statusCode).toBe(204);
        expectProblem(
          await signIn(app, account.email, PASSWORD, { headers: { origin: "http://localhost:3000" } }),
          403,
          "HERALD_ORIGIN_REJECTED",
        );
      },
    );
  });
});
