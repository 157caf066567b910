/**
 * The whole HTTP application on a fresh test database, driven through `app.inject` (no socket),
 * plus small helpers that act like a client: sign up, create a workspace, call the API.
 */
import { randomBytes } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import type pg from "pg";
import { createAuth } from "../../src/auth/auth.js";
import { type Config, loadConfig } from "../../src/config.js";
import { type App, buildApp } from "../../src/http/app.js";
import { createLogger, type Logger } from "../../src/observability/logger.js";
import { createRegistry, type Registry } from "../../src/providers/registry.js";
import { Vault } from "../../src/vault/vault.js";
import { createTestDatabase, type TestDatabase } from "./database.js";

export type TestApp = {
  app: App;
  vault: Vault;
  registry: Registry;
  db: TestDatabase;
  pool: pg.Pool;
  config: Config;
  close(): Promise<void>;
};

export async function startTestApp(
  env: Record<string, string> = {},
  options: { log?: Logger; db?: TestDatabase; vault?: Vault; registry?: Registry } = {},
): Promise<TestApp> {
  const db = options.db ?? (await createTestDatabase());
  const config = loadConfig({
    DATABASE_URL: db.url,
    LOG_LEVEL: "silent",
    HERALD_DATA_DIR: "/nonexistent",
    ...env,
  });
  const log = options.log ?? createLogger("silent");
  const authSecret = "test-secret-0123456789-0123456789";
  const auth = createAuth({ pool: db.appPool, secret: authSecret, publicUrl: config.publicUrl, log });
  const vault = options.vault ?? new Vault([{ id: "test", key: randomBytes(32) }]);
  const registry = options.registry ?? createRegistry(config, log);
  const app = await buildApp({ config, pool: db.appPool, auth, authSecret, log, vault, registry });
  await app.ready();
  return {
    app,
    vault,
    registry,
    db,
    pool: db.appPool,
    config,
    async close() {
      await app.close();
      if (!options.db) await db.drop();
    },
  };
}

export type Session = { cookie: string; userId: string; email: string };

type Method = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";

/** Calls the API as a signed-in person (cookie) or a program (API key secret starting with hrld_). */
export async function call(
  app: App,
  as: Session | string | undefined,
  method: Method,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  const auth: Record<string, string> =
    as === undefined
      ? {}
      : typeof as === "string"
        ? { authorization: `Bearer ${as}` }
        : { cookie: as.cookie };
  return app.inject({
    method,
    url,
    headers: { ...auth, ...headers },
    ...(body === undefined ? {} : { payload: body as object }),
  });
}

export function uniqueEmail(prefix = "user"): string {
  return `${prefix}-${randomBytes(4).toString("hex")}@example.com`;
}

export const PASSWORD = "correct horse battery staple";

export async function signUp(app: App, email = uniqueEmail(), name = "Test Person"): Promise<Session> {
  const response = await call(app, undefined, "POST", "/api/v1/auth/sign-up", {
    name,
    email,
    password: PASSWORD,
  });
  if (response.statusCode !== 201) throw new Error(`sign-up failed: ${response.statusCode} ${response.body}`);
  return { cookie: sessionCookie(response), userId: response.json().user.id, email: email.toLowerCase() };
}

export function sessionCookie(response: LightMyRequestResponse): string {
  const cookie = response.cookies.find((c) => c.name === "herald.session_token");
  if (!cookie) throw new Error("no session cookie in the response");
  return `${cookie.name}=${cookie.value}`;
}

export async function createWorkspace(app: App, session: Session, name = "Test Workspace"): Promise<string> {
  const response = await call(app, session, "POST", "/api/v1/workspaces", { name });
  if (response.statusCode !== 201) throw new Error(`workspace creation failed: ${response.body}`);
  return response.json().id;
}

export async function createClient(
  app: App,
  as: Session,
  workspaceId: string,
  body: object = {},
): Promise<string> {
  const response = await call(app, as, "POST", `/api/v1/workspaces/${workspaceId}/clients`, {
    name: `Client ${randomBytes(3).toString("hex")}`,
    ...body,
  });
  if (response.statusCode !== 201) throw new Error(`client creation failed: ${response.body}`);
  return response.json().id;
}

export async function createApiKey(
  app: App,
  as: Session,
  workspaceId: string,
  scopes: string[],
): Promise<string> {
  const response = await call(app, as, "POST", `/api/v1/workspaces/${workspaceId}/api-keys`, {
    name: "test key",
    scopes,
  });
  if (response.statusCode !== 201) throw new Error(`API key creation failed: ${response.body}`);
  return response.json().secret;
}

/** Adds a signed-up member with this role (invites, then signs the person up to accept). */
export async function addMember(
  app: App,
  owner: Session,
  workspaceId: string,
  role: string,
  clientIds?: string[],
): Promise<Session & { memberId: string }> {
  const email = uniqueEmail(role);
  const invite = await call(app, owner, "POST", `/api/v1/workspaces/${workspaceId}/members`, {
    email,
    role,
    ...(clientIds ? { clientIds } : {}),
  });
  if (invite.statusCode !== 201) throw new Error(`invitation failed: ${invite.body}`);
  const session = await signUp(app, email);
  return { ...session, memberId: invite.json().id };
}
