/** Configuration is validated once, and a bad value names the variable and the rule. */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

describe("configuration", () => {
  it("has defaults that run Herald on one machine with no setup", () => {
    const config = loadConfig({}, "/srv/herald");
    expect(config).toMatchObject({
      port: 3000,
      host: "127.0.0.1",
      dataDir: "/srv/herald/data",
      databaseUrl: undefined,
      logLevel: "info",
      corsOrigins: [],
      trustedProxies: [],
      embeddedPgPort: 0,
    });
    expect(config.publicUrl.href).toBe("http://localhost:3000/");
  });

  it("derives the public URL from PORT, and treats empty variables as unset", () => {
    const config = loadConfig({ PORT: "8080", HERALD_PUBLIC_URL: "", LOG_LEVEL: "" });
    expect(config.publicUrl.href).toBe("http://localhost:8080/");
    expect(config.logLevel).toBe("info");
  });

  it("parses lists", () => {
    const config = loadConfig({
      HERALD_CORS_ORIGINS: "https://a.example.com, https://b.example.com",
      HERALD_TRUSTED_PROXIES: "10.0.0.1,10.1.0.0/16,::1",
    });
    expect(config.corsOrigins).toEqual(["https://a.example.com", "https://b.example.com"]);
    expect(config.trustedProxies).toEqual(["10.0.0.1", "10.1.0.0/16", "::1"]);
  });

  it.each([
    ["PORT", "eighty", /PORT: .*number/],
    ["PORT", "70000", /PORT: .*65535/],
    ["DATABASE_URL", "mysql://localhost/db", /DATABASE_URL: must be a postgres:\/\/ URL/],
    ["HERALD_PUBLIC_URL", "ftp://x", /HERALD_PUBLIC_URL: must be an http\(s\) URL/],
    ["LOG_LEVEL", "loud", /LOG_LEVEL: .*"info"/],
    ["HERALD_AUTH_SECRET", "short", /HERALD_AUTH_SECRET: must be at least 32 characters/],
    ["HERALD_TRUSTED_PROXIES", "10.0.0.1/40", /HERALD_TRUSTED_PROXIES: .*IP addresses or CIDR/],
    ["HERALD_CORS_ORIGINS", "not a url", /HERALD_CORS_ORIGINS: must be an http\(s\) URL/],
    ["HERALD_DB_POOL_SIZE", "0", /HERALD_DB_POOL_SIZE: .*>0/],
  ])("rejects %s=%s naming the variable and the rule", (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it("wants both halves of a Facebook app, and the Sandbox off by default on an external database", () => {
    expect(() => loadConfig({ HERALD_FACEBOOK_APP_ID: "1234" })).toThrow(
      /HERALD_FACEBOOK_APP_SECRET: is required when HERALD_FACEBOOK_APP_ID is set/,
    );
    expect(() => loadConfig({ HERALD_FACEBOOK_APP_SECRET: "a-secret-value" })).toThrow(
      /HERALD_FACEBOOK_APP_ID: is required when HERALD_FACEBOOK_APP_SECRET is set/,
    );
    const facebook = loadConfig({
      HERALD_FACEBOOK_APP_ID: "1234",
      HERALD_FACEBOOK_APP_SECRET: "a-secret-value",
    });
    expect(facebook.facebook).toMatchObject({
      graphUrl: "https://graph.facebook.com",
      graphVersion: "v26.0",
    });
    expect(loadConfig({}).sandbox).toMatchObject({ mounted: true, url: "http://localhost:3000/sandbox" });
    const external = loadConfig({ DATABASE_URL: "postgres://db/herald" });
    expect(external.sandbox).toMatchObject({ mounted: false, url: null });
    expect(loadConfig({ DATABASE_URL: "postgres://db/herald", HERALD_SANDBOX: "on" }).sandbox.mounted).toBe(
      true,
    );
  });

  it("reports every bad variable at once", () => {
    try {
      loadConfig({ PORT: "x", LOG_LEVEL: "y" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.split(":")[0])).toEqual(["PORT", "LOG_LEVEL"]);
    }
  });
});

describe("secret variables", () => {
  it("parses encryption keys, the first one encrypting", () => {
    const key = Buffer.alloc(32, 7).toString("base64");
    const config = loadConfig({
      HERALD_ENCRYPTION_KEYS: `new:${key}, old:${Buffer.alloc(32, 1).toString("base64")}`,
    });
    expect(config.encryptionKeys?.map((k) => k.id)).toEqual(["new", "old"]);
  });

  it.each([
    ["HERALD_ENCRYPTION_KEYS", `k1:${Buffer.alloc(16).toString("base64")}`],
    ["HERALD_ENCRYPTION_KEYS", "no-colon-here"],
    ["DATABASE_URL", "mysql://user:hunter2@db/herald"],
    ["HERALD_AUTH_SECRET", "hunter2"],
  ])("a bad %s is reported without echoing its value", (name, value) => {
    try {
      loadConfig({ [name]: value });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain(`${name}:`);
      expect((error as ConfigError).message).toContain("value hidden");
      expect((error as ConfigError).message).not.toContain(value.slice(-6));
    }
  });
});
