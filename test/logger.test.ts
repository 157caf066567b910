/** Secrets never reach the log: by configuration (redact paths), not by care at each call. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redactUrl } from "../src/observability/logger.js";
import { call, PASSWORD, signUp, startTestApp, type TestApp, uniqueEmail } from "./helpers/app.js";
import { capturedLogger } from "./helpers/log-capture.js";

describe("log redaction", () => {
  it("censors secret fields at the top level and one level down", () => {
    const logs = capturedLogger();
    logs.log.info(
      {
        password: "p1",
        token: "t1",
        user: { accessToken: "a1", refreshToken: "r1", apiKey: "k1" },
        req: { headers: { authorization: "Bearer b1", cookie: "c1" } },
      },
      "x",
    );
    const text = logs.text();
    for (const secret of ["p1", "t1", "a1", "r1", "k1", "Bearer b1", "c1"])
      expect(text).not.toContain(`"${secret}"`);
    expect(logs.lines()[0]).toMatchObject({ password: "[Redacted]", user: { accessToken: "[Redacted]" } });
  });

  it("strips OAuth codes, states and tokens from URLs but keeps the rest", () => {
    expect(redactUrl("/cb?code=abc&state=xyz&platform=facebook")).toBe(
      "/cb?code=%5BRedacted%5D&state=%5BRedacted%5D&platform=facebook",
    );
    expect(redactUrl("/x?access_token=1&Token=2")).not.toMatch(/=1|=2/);
    expect(redactUrl("/plain/path")).toBe("/plain/path");
  });
});

describe("request logs", () => {
  let t: TestApp;
  const logs = capturedLogger();

  beforeAll(async () => {
    t = await startTestApp({}, { log: logs.log });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a sign-up and a sign-in leave no password, cookie or session token in any log line", async () => {
    const email = uniqueEmail();
    const session = await signUp(t.app, email);
    await call(t.app, undefined, "POST", "/api/v1/auth/sign-in", { email, password: PASSWORD });
    await call(t.app, undefined, "POST", "/api/v1/auth/sign-in", { email, password: "wrong password here" });
    await call(t.app, session, "GET", "/api/v1/me");
    const text = logs.text();
    expect(logs.lines().filter((l) => l.msg === "request completed").length).toBeGreaterThanOrEqual(4);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain("wrong password here");
    expect(text).not.toContain(session.cookie.split("=")[1]?.split(".")[0]);
  });

  it("every request line carries its request id", async () => {
    await t.app.inject({ method: "GET", url: "/api/v1/me" });
    const lines = logs.lines().filter((l) => l.msg === "request completed");
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.requestId).toEqual(expect.any(String));
  });
});
