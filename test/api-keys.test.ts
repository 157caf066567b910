/**
 * API keys through the whole HTTP application: creating (the secret is shown once and stored only as
 * a hash), using (scopes, one workspace, people-only actions), revoking, expiry, last use, who may
 * manage them, validation and pagination.
 */
import { createHash, randomUUID } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addMember,
  call,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
  uniqueEmail,
} from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";
import { expectProblem, validationPaths, withoutRequestId } from "./helpers/problems.js";

let t: TestApp;
let owner: Session;
/** The owner's workspace, where most keys live. */
let workspaceA: string;
/** Another workspace of the same owner: a key of A must not reach it even so. */
let workspaceB: string;

beforeAll(async () => {
  t = await startTestApp();
  owner = await signUp(t.app, uniqueEmail("owner"), "Olive Owner");
  workspaceA = await createWorkspace(t.app, owner, "Workspace A");
  workspaceB = await createWorkspace(t.app, owner, "Workspace B");
});
afterAll(() => t?.close());

const keysUrl = (workspaceId: string) => `/api/v1/workspaces/${workspaceId}/api-keys`;
const clientsUrl = (workspaceId: string) => `/api/v1/workspaces/${workspaceId}/clients`;

type CreatedKey = {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  secret: string;
};

function createKeyRequest(body: unknown, workspaceId = workspaceA, as: Session | string = owner) {
  return call(t.app, as, "POST", keysUrl(workspaceId), body);
}

async function createKey(
  scopes: string[],
  options: { workspaceId?: string; name?: string; expiresAt?: string } = {},
): Promise<CreatedKey> {
  const { workspaceId = workspaceA, name = "test key", expiresAt } = options;
  const response = await createKeyRequest({ name, scopes, ...(expiresAt ? { expiresAt } : {}) }, workspaceId);
  expect(response.statusCode).toBe(201);
  return response.json();
}

async function listKeys(workspaceId = workspaceA, query = ""): Promise<LightMyRequestResponse> {
  return call(t.app, owner, "GET", `${keysUrl(workspaceId)}${query}`);
}

async function listedKey(id: string, workspaceId = workspaceA) {
  const response = await listKeys(workspaceId, "?limit=100");
  expect(response.statusCode).toBe(200);
  return (response.json().items as CreatedKey[]).find((key) => key.id === id);
}

async function keyRow(id: string) {
  const { rows } = await asOwner(t.db.url, (db) =>
    db.query<{ row: string; secret_hash: Buffer; last_used_at: Date | null; expires_at: Date | null }>(
      "select k::text as row, secret_hash, last_used_at, expires_at from api_keys k where id = $1",
      [id],
    ),
  );
  return rows[0];
}

async function clientCount(workspaceId: string): Promise<number> {
  const { rows } = await asOwner(t.db.url, (db) =>
    db.query<{ n: number }>("select count(*)::int as n from clients where workspace_id = $1", [workspaceId]),
  );
  return rows[0]?.n ?? -1;
}

describe("creating an API key", () => {
  it("is 201 with the secret (hrld_...) shown once, a prefix of it, and Cache-Control: no-store", async () => {
    const response = await createKeyRequest({ name: "Publishing script", scopes: ["posts:write"] });
    expect(response.statusCode).toBe(201);
    expect(response.headers["cache-control"]).toBe("no-store");
    const key: CreatedKey = response.json();
    expect(key).toEqual({
      id: expect.any(String),
      name: "Publishing script",
      prefix: expect.any(String),
      scopes: ["posts:write"],
      createdAt: expect.any(String),
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      secret: expect.stringMatching(/^hrld_[A-Za-z0-9_-]{43}$/),
    });
    expect(key.prefix.startsWith("hrld_")).toBe(true);
    expect(key.secret.startsWith(key.prefix)).toBe(true);
    expect(key.prefix.length).toBeLessThan(key.secret.length - 20);

    // Two keys never share a secret.
    expect((await createKey(["posts:write"])).secret).not.toBe(key.secret);
  });

  it("never shows the secret again: the list has every key without a secret field", async () => {
    const key = await createKey(["posts:read"], { name: "listed" });
    const response = await listKeys(workspaceA, "?limit=100");
    expect(response.statusCode).toBe(200);
    const items: Array<Record<string, unknown>> = response.json().items;
    expect(items.find((item) => item.id === key.id)).toEqual({
      id: key.id,
      name: "listed",
      prefix: key.prefix,
      scopes: ["posts:read"],
      createdAt: key.createdAt,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
    });
    for (const item of items) expect(item).not.toHaveProperty("secret");
    expect(response.body).not.toContain(key.secret);
  });

  it("stores no secret, only its SHA-256 hash", async () => {
    const key = await createKey(["admin"]);
    const row = await keyRow(key.id);
    const random = key.secret.slice("hrld_".length);
    expect(row?.row).not.toContain(key.secret);
    expect(row?.row).not.toContain(random);
    expect(row?.secret_hash.equals(createHash("sha256").update(key.secret).digest())).toBe(true);
  });

  it("stores each scope once when one is given twice", async () => {
    const key = await createKey(["posts:read", "posts:read", "accounts:read"]);
    expect(key.scopes).toEqual(["posts:read", "accounts:read"]);
    expect((await listedKey(key.id))?.scopes).toEqual(["posts:read", "accounts:read"]);
  });

  it("an empty scope list, an unknown scope, a missing or 201-character name are 400 naming the field", async () => {
    expect(validationPaths(await createKeyRequest({ name: "k", scopes: [] }))).toEqual(["body.scopes"]);
    expect(validationPaths(await createKeyRequest({ name: "k", scopes: ["posts:read", "root"] }))).toEqual([
      "body.scopes.1",
    ]);
    expect(validationPaths(await createKeyRequest({ name: "k", scopes: "admin" }))).toEqual(["body.scopes"]);
    expect(validationPaths(await createKeyRequest({ name: "k".repeat(201), scopes: ["admin"] }))).toEqual([
      "body.name",
    ]);
    expect(validationPaths(await createKeyRequest({ name: "  ", scopes: ["admin"] }))).toEqual(["body.name"]);
    expect(validationPaths(await createKeyRequest({ scopes: ["admin"] }))).toEqual(["body.name"]);
    expect(validationPaths(await createKeyRequest({}))).toEqual(["body.name", "body.scopes"]);
  });

  it("an unknown extra field is 400 HERALD_VALIDATION_FAILED whose error names it, and no key is created", async () => {
    const before = (await listKeys(workspaceA, "?limit=100")).json().items.length;
    const response = await createKeyRequest({ name: "k", scopes: ["admin"], workspaceId: workspaceB });
    const body = expectProblem(response, 400, "HERALD_VALIDATION_FAILED");
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]?.message).toContain('"workspaceId"');
    expect((await listKeys(workspaceA, "?limit=100")).json().items).toHaveLength(before);
  });

  it("an expiry in the past, or that is not a date-time with offset, is 400 naming body.expiresAt", async () => {
    for (const expiresAt of [new Date(Date.now() - 60_000).toISOString(), "tomorrow", "2999-01-01", 42]) {
      const response = await createKeyRequest({ name: "k", scopes: ["admin"], expiresAt });
      // Every error names body.expiresAt (a value that is not a date-time also fails "in the future").
      const paths = [...new Set(validationPaths(response))];
      expect({ expiresAt, paths }).toEqual({ expiresAt, paths: ["body.expiresAt"] });
    }
    const past = await createKeyRequest({ name: "k", scopes: ["admin"], expiresAt: "2001-01-01T00:00:00Z" });
    expect(expectProblem(past, 400, "HERALD_VALIDATION_FAILED").errors).toEqual([
      { path: "body.expiresAt", message: "must be in the future", rule: "custom" },
    ]);
  });
});

describe("using an API key", () => {
  let readKey: CreatedKey;
  let adminKey: CreatedKey;
  beforeAll(async () => {
    readKey = await createKey(["posts:read"], { name: "reader" });
    adminKey = await createKey(["admin"], { name: "admin" });
  });

  it("a posts:read key lists clients (200) but cannot create one (403 HERALD_INSUFFICIENT_SCOPE)", async () => {
    const list = await call(t.app, readKey.secret, "GET", clientsUrl(workspaceA));
    expect(list.statusCode).toBe(200);
    expect(list.json()).toHaveProperty("items");

    const before = await clientCount(workspaceA);
    const create = await call(t.app, readKey.secret, "POST", clientsUrl(workspaceA), { name: "Nope" });
    expectProblem(create, 403, "HERALD_INSUFFICIENT_SCOPE");
    expect(await clientCount(workspaceA)).toBe(before);
  });

  it("an admin key creates a client", async () => {
    const before = await clientCount(workspaceA);
    const create = await call(t.app, adminKey.secret, "POST", clientsUrl(workspaceA), {
      name: "Made by key",
    });
    expect(create.statusCode).toBe(201);
    expect(create.json().name).toBe("Made by key");
    expect(await clientCount(workspaceA)).toBe(before + 1);
  });

  it("no key may list, create or revoke API keys, not even an admin key: 403 HERALD_INSUFFICIENT_SCOPE", async () => {
    for (const key of [readKey, adminKey]) {
      expectProblem(
        await call(t.app, key.secret, "GET", keysUrl(workspaceA)),
        403,
        "HERALD_INSUFFICIENT_SCOPE",
      );
      const created = await createKeyRequest({ name: "minted", scopes: ["admin"] }, workspaceA, key.secret);
      expectProblem(created, 403, "HERALD_INSUFFICIENT_SCOPE");
      const revoked = await call(t.app, key.secret, "DELETE", `${keysUrl(workspaceA)}/${readKey.id}`);
      expectProblem(revoked, 403, "HERALD_INSUFFICIENT_SCOPE");
    }
    const items: CreatedKey[] = (await listKeys(workspaceA, "?limit=100")).json().items;
    expect(items.map((key) => key.name)).not.toContain("minted");
    expect(items.find((key) => key.id === readKey.id)?.revokedAt).toBeNull();
  });

  it("a key cannot create a workspace: 403 HERALD_SESSION_REQUIRED", async () => {
    const response = await call(t.app, adminKey.secret, "POST", "/api/v1/workspaces", { name: "By key" });
    expectProblem(response, 403, "HERALD_SESSION_REQUIRED");
    const { rows } = await asOwner(t.db.url, (db) =>
      db.query("select 1 from workspaces where name = 'By key'"),
    );
    expect(rows).toHaveLength(0);
  });

  it("GET /api/v1/me with a key answers user null, the key with its workspace and scopes, and that one workspace", async () => {
    const response = await call(t.app, readKey.secret, "GET", "/api/v1/me");
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      user: null,
      apiKey: { id: readKey.id, name: "reader", workspaceId: workspaceA, scopes: ["posts:read"] },
      workspaces: [
        {
          id: workspaceA,
          name: "Workspace A",
          slug: expect.any(String),
          role: null,
          createdAt: expect.any(String),
        },
      ],
    });
  });

  it("a key of workspace A used on workspace B is 404 HERALD_NOT_FOUND, word for word the answer for a missing workspace", async () => {
    const missing = await call(t.app, adminKey.secret, "GET", `/api/v1/workspaces/${randomUUID()}`);
    expectProblem(missing, 404, "HERALD_NOT_FOUND");
    for (const [method, url] of [
      ["GET", `/api/v1/workspaces/${workspaceB}`],
      ["GET", clientsUrl(workspaceB)],
      ["POST", clientsUrl(workspaceB)],
      ["GET", `/api/v1/workspaces/${workspaceB}/members`],
    ] as const) {
      const response = await call(
        t.app,
        adminKey.secret,
        method,
        url,
        method === "POST" ? { name: "X" } : undefined,
      );
      expectProblem(response, 404, "HERALD_NOT_FOUND");
      expect(withoutRequestId(response.json())).toEqual(withoutRequestId(missing.json()));
    }
    expect(await clientCount(workspaceB)).toBe(0);
  });

  it("a malformed Authorization header is 401 HERALD_UNAUTHENTICATED, even with a valid session cookie", async () => {
    for (const authorization of [
      "Bearer",
      "Bearer ",
      "Basic abc",
      `Bearer ${adminKey.secret} extra`,
      `Bearer hrld_with spaces`,
      `Bearer  ${adminKey.secret}`,
      adminKey.secret,
    ]) {
      const response = await t.app.inject({
        method: "GET",
        url: clientsUrl(workspaceA),
        headers: { authorization, cookie: owner.cookie },
      });
      expect({ authorization, status: response.statusCode }).toEqual({ authorization, status: 401 });
      expectProblem(response, 401, "HERALD_UNAUTHENTICATED");
    }
  });

  it("an unknown key is 401 HERALD_UNAUTHENTICATED", async () => {
    const lookalike = `${adminKey.secret.slice(0, -1)}${adminKey.secret.endsWith("A") ? "B" : "A"}`;
    for (const secret of [lookalike, `hrld_${"x".repeat(43)}`, "hrld_", "not_a_herald_key"]) {
      const response = await call(t.app, secret, "GET", clientsUrl(workspaceA));
      expectProblem(response, 401, "HERALD_UNAUTHENTICATED");
    }
  });
});

describe("revoking an API key", () => {
  it("is 204; the key is refused at once; the list shows revokedAt; revoking again is 204 and keeps the first time", async () => {
    const key = await createKey(["posts:read"]);
    expect((await call(t.app, key.secret, "GET", clientsUrl(workspaceA))).statusCode).toBe(200);

    const first = await call(t.app, owner, "DELETE", `${keysUrl(workspaceA)}/${key.id}`);
    expect(first.statusCode).toBe(204);
    expect(first.body).toBe("");
    expectProblem(
      await call(t.app, key.secret, "GET", clientsUrl(workspaceA)),
      401,
      "HERALD_UNAUTHENTICATED",
    );
    expectProblem(await call(t.app, key.secret, "GET", "/api/v1/me"), 401, "HERALD_UNAUTHENTICATED");

    const revokedAt = (await listedKey(key.id))?.revokedAt;
    expect(revokedAt).toEqual(expect.any(String));
    expect(Math.abs(Date.now() - Date.parse(revokedAt ?? ""))).toBeLessThan(60_000);

    const second = await call(t.app, owner, "DELETE", `${keysUrl(workspaceA)}/${key.id}`);
    expect(second.statusCode).toBe(204);
    expect((await listedKey(key.id))?.revokedAt).toBe(revokedAt);
    expect((await call(t.app, key.secret, "GET", clientsUrl(workspaceA))).statusCode).toBe(401);
  });

  it("revoking an unknown key, or a key of another workspace through this one, is 404 and revokes nothing", async () => {
    const unknown = await call(t.app, owner, "DELETE", `${keysUrl(workspaceA)}/${randomUUID()}`);
    expectProblem(unknown, 404, "HERALD_NOT_FOUND");

    const keyOfB = await createKey(["posts:read"], { workspaceId: workspaceB });
    const crossed = await call(t.app, owner, "DELETE", `${keysUrl(workspaceA)}/${keyOfB.id}`);
    expectProblem(crossed, 404, "HERALD_NOT_FOUND");
    expect(withoutRequestId(crossed.json())).toEqual(withoutRequestId(unknown.json()));
    expect((await listedKey(keyOfB.id, workspaceB))?.revokedAt).toBeNull();
    expect((await call(t.app, keyOfB.secret, "GET", clientsUrl(workspaceB))).statusCode).toBe(200);
  });

  it("a key id that is not a UUID is 400 naming params.keyId", async () => {
    const response = await call(t.app, owner, "DELETE", `${keysUrl(workspaceA)}/not-a-uuid`);
    expect(validationPaths(response)).toEqual(["params.keyId"]);
  });
});

describe("expiry", () => {
  it("a key with a future expiry works and lists it; once the expiry has passed the key is 401", async () => {
    const expiresAt = new Date(Date.now() + 24 * 60 * 60 * 1000).toISOString();
    const key = await createKey(["posts:read"], { expiresAt });
    expect(Date.parse(key.expiresAt ?? "")).toBe(Date.parse(expiresAt));
    expect(Date.parse((await listedKey(key.id))?.expiresAt ?? "")).toBe(Date.parse(expiresAt));
    expect((await call(t.app, key.secret, "GET", clientsUrl(workspaceA))).statusCode).toBe(200);

    await asOwner(t.db.url, (db) =>
      db.query("update api_keys set expires_at = now() - interval '1 second' where id = $1", [key.id]),
    );
    const response = await call(t.app, key.secret, "GET", clientsUrl(workspaceA));
    expectProblem(response, 401, "HERALD_UNAUTHENTICATED");
  });
});

describe("last use", () => {
  it("last_used_at is set on first use and not rewritten by further requests within a minute", async () => {
    const key = await createKey(["posts:read"]);
    expect((await keyRow(key.id))?.last_used_at).toBeNull();

    expect((await call(t.app, key.secret, "GET", clientsUrl(workspaceA))).statusCode).toBe(200);
    const firstUse = (await keyRow(key.id))?.last_used_at;
    expect(firstUse).toBeInstanceOf(Date);
    expect(Math.abs(Date.now() - (firstUse?.getTime() ?? 0))).toBeLessThan(60_000);
    expect(Date.parse((await listedKey(key.id))?.lastUsedAt ?? "")).toBe(firstUse?.getTime());

    for (let i = 0; i < 3; i++) {
      expect((await call(t.app, key.secret, "GET", clientsUrl(workspaceA))).statusCode).toBe(200);
    }
    expect((await keyRow(key.id))?.last_used_at).toEqual(firstUse);
  });

  it("last_used_at is rewritten by a use more than a minute after the last one", async () => {
    const key = await createKey(["posts:read"]);
    expect((await call(t.app, key.secret, "GET", clientsUrl(workspaceA))).statusCode).toBe(200);
    await asOwner(t.db.url, (db) =>
      db.query("update api_keys set last_used_at = now() - interval '2 minutes' where id = $1", [key.id]),
    );
    const stale = (await keyRow(key.id))?.last_used_at?.getTime() ?? 0;

    expect((await call(t.app, key.secret, "GET", clientsUrl(workspaceA))).statusCode).toBe(200);
    const refreshed = (await keyRow(key.id))?.last_used_at?.getTime() ?? 0;
    expect(refreshed - stale).toBeGreaterThan(100_000);
    expect(Math.abs(Date.now() - refreshed)).toBeLessThan(60_000);
  });
});

describe("who may manage API keys", () => {
  it("an editor, a viewer or a manager gets 403 HERALD_FORBIDDEN on listing, creating and revoking", async () => {
    const target = await createKey(["posts:read"]);
    for (const role of ["editor", "viewer", "manager"]) {
      const member = await addMember(t.app, owner, workspaceA, role);
      expectProblem(await call(t.app, member, "GET", keysUrl(workspaceA)), 403, "HERALD_FORBIDDEN");
      const created = await createKeyRequest(
        { name: `by ${role}`, scopes: ["posts:read"] },
        workspaceA,
        member,
      );
      expectProblem(created, 403, "HERALD_FORBIDDEN");
      const revoked = await call(t.app, member, "DELETE", `${keysUrl(workspaceA)}/${target.id}`);
      expectProblem(revoked, 403, "HERALD_FORBIDDEN");
    }
    const items: CreatedKey[] = (await listKeys(workspaceA, "?limit=100")).json().items;
    expect(items.filter((key) => key.name.startsWith("by "))).toEqual([]);
    expect(items.find((key) => key.id === target.id)?.revokedAt).toBeNull();
  });

  it("an admin member may list, create and revoke keys", async () => {
    const admin = await addMember(t.app, owner, workspaceA, "admin");
    const created = await createKeyRequest({ name: "by admin", scopes: ["posts:read"] }, workspaceA, admin);
    expect(created.statusCode).toBe(201);
    const listed = await call(t.app, admin, "GET", `${keysUrl(workspaceA)}?limit=100`);
    expect(listed.json().items.map((key: CreatedKey) => key.id)).toContain(created.json().id);
    const revoked = await call(t.app, admin, "DELETE", `${keysUrl(workspaceA)}/${created.json().id}`);
    expect(revoked.statusCode).toBe(204);
  });
});

describe("listing API keys", () => {
  it("pages newest first: limit=2 gives 2 keys and a cursor, the next page the rest and no cursor", async () => {
    const workspaceId = await createWorkspace(t.app, owner, "Paged");
    const created: CreatedKey[] = [];
    for (const name of ["first", "second", "third"])
      created.push(await createKey(["posts:read"], { workspaceId, name }));

    const page1 = await listKeys(workspaceId, "?limit=2");
    expect(page1.statusCode).toBe(200);
    expect(page1.json().items.map((key: CreatedKey) => key.name)).toEqual(["third", "second"]);
    const cursor = page1.json().nextCursor;
    expect(cursor).toEqual(expect.any(String));

    const page2 = await listKeys(workspaceId, `?limit=2&cursor=${encodeURIComponent(cursor)}`);
    expect(page2.statusCode).toBe(200);
    expect(page2.json()).toEqual({ items: [expect.objectContaining({ name: "first" })], nextCursor: null });

    const all = await listKeys(workspaceId);
    expect(all.json().items.map((key: CreatedKey) => key.id)).toEqual(created.map((key) => key.id).reverse());
    expect(all.json().nextCursor).toBeNull();
  });

  it("a cursor from another list, or a made-up one, is 400 naming query.cursor", async () => {
    for (const email of [uniqueEmail("a"), uniqueEmail("b")]) {
      const invited = await call(t.app, owner, "POST", `/api/v1/workspaces/${workspaceA}/members`, {
        email,
        role: "viewer",
      });
      expect(invited.statusCode).toBe(201);
    }
    const members = await call(t.app, owner, "GET", `/api/v1/workspaces/${workspaceA}/members?limit=1`);
    const membersCursor = members.json().nextCursor;
    expect(membersCursor).toEqual(expect.any(String));

    for (const cursor of [membersCursor, "garbage", Buffer.from("{}").toString("base64url")]) {
      const response = await listKeys(workspaceA, `?limit=2&cursor=${encodeURIComponent(cursor)}`);
      expect(validationPaths(response)).toEqual(["query.cursor"]);
    }
  });

  it("a limit outside 1..100 is 400 naming query.limit", async () => {
    for (const limit of ["0", "101", "abc", "1.5"]) {
      expect(validationPaths(await listKeys(workspaceA, `?limit=${limit}`))).toEqual(["query.limit"]);
    }
  });
});
