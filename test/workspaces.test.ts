/**
 * Workspaces through the HTTP API: creation (slugs), listing with cursor pagination, reading one,
 * renaming, and who may do each.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addMember,
  call,
  createApiKey,
  createClient,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";
import { problem, withoutRequestId } from "./helpers/problems.js";

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(() => t?.close());

async function workspaceRows(where: string, values: unknown[]) {
  const { rows } = await asOwner(t.db.url, (client) =>
    client.query(`select id, name, slug from workspaces where ${where}`, values),
  );
  return rows;
}

/** Every page of GET url (which already has a query string), following nextCursor. */
async function walk(as: Session | string, url: string) {
  const pages: Array<{ items: Array<{ id: string }>; nextCursor: string | null }> = [];
  let cursor: string | null = null;
  do {
    const suffix: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const response = await call(t.app, as, "GET", `${url}${suffix}`);
    expect(response.statusCode).toBe(200);
    const page = response.json();
    pages.push(page);
    cursor = page.nextCursor;
    if (pages.length > 50) throw new Error("pagination does not end");
  } while (cursor !== null);
  return pages;
}

describe("creating a workspace", () => {
  let owner: Session;

  beforeAll(async () => {
    owner = await signUp(t.app);
  });

  it("answers 201 with the workspace, the caller as owner and a slug derived from the name", async () => {
    const response = await call(t.app, owner, "POST", "/api/v1/workspaces", { name: "Café Crème & Co" });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toEqual({
      id: expect.any(String),
      name: "Café Crème & Co",
      slug: "cafe-creme-co",
      role: "owner",
      createdAt: expect.any(String),
    });
    expect(Number.isNaN(Date.parse(body.createdAt))).toBe(false);
    expect(await workspaceRows("id = $1", [body.id])).toEqual([
      { id: body.id, name: "Café Crème & Co", slug: "cafe-creme-co" },
    ]);
  });

  it("gives a second workspace with the same name a different, still valid slug", async () => {
    const first = await call(t.app, owner, "POST", "/api/v1/workspaces", { name: "Twin Peaks Agency" });
    const second = await call(t.app, owner, "POST", "/api/v1/workspaces", { name: "Twin Peaks Agency" });
    expect([first.statusCode, second.statusCode]).toEqual([201, 201]);
    expect(first.json().slug).toBe("twin-peaks-agency");
    const slug: string = second.json().slug;
    expect(slug).not.toBe("twin-peaks-agency");
    expect(slug).toMatch(SLUG);
    expect(slug.startsWith("twin-peaks-agency-")).toBe(true);
  });

  it("keeps a de-duplicated slug of a long name within 63 characters", async () => {
    const name = "Extremely Long Agency Name ".repeat(7).trim();
    const first = await call(t.app, owner, "POST", "/api/v1/workspaces", { name });
    const second = await call(t.app, owner, "POST", "/api/v1/workspaces", { name });
    expect([first.statusCode, second.statusCode]).toEqual([201, 201]);
    for (const slug of [first.json().slug, second.json().slug]) {
      expect(slug).toMatch(SLUG);
      expect(slug.length).toBeLessThanOrEqual(63);
    }
    expect(first.json().slug).not.toBe(second.json().slug);
  });

  it("names the slug 'workspace' when the name has no letters or digits", async () => {
    const response = await call(t.app, owner, "POST", "/api/v1/workspaces", { name: "!!! ???" });
    expect(response.statusCode).toBe(201);
    expect(response.json().slug).toMatch(/^workspace(-[0-9a-f]{6})?$/);
  });

  it("uses an explicit slug and trims the name", async () => {
    const response = await call(t.app, owner, "POST", "/api/v1/workspaces", {
      name: "  Northwind  ",
      slug: "nw-2024",
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ name: "Northwind", slug: "nw-2024" });
  });

  it("accepts a slug of exactly 63 characters", async () => {
    const slug = `a${"b".repeat(61)}c`;
    const response = await call(t.app, owner, "POST", "/api/v1/workspaces", { name: "Long slug", slug });
    expect(response.statusCode).toBe(201);
    expect(response.json().slug).toBe(slug);
  });

  it("refuses an explicit slug that is already taken with 409, and stores nothing", async () => {
    const first = await signUp(t.app);
    const second = await signUp(t.app);
    const taken = await call(t.app, first, "POST", "/api/v1/workspaces", { name: "Taken", slug: "taken" });
    expect(taken.statusCode).toBe(201);

    const response = await call(t.app, second, "POST", "/api/v1/workspaces", {
      name: "Latecomer Ltd",
      slug: "taken",
    });
    expect(problem(response)).toEqual({ status: 409, code: "HERALD_SLUG_TAKEN", paths: ["body.slug"] });
    expect(response.headers["content-type"]).toContain("application/problem+json");
    expect(await workspaceRows("name = $1", ["Latecomer Ltd"])).toEqual([]);
    const { rows } = await asOwner(t.db.url, (client) =>
      client.query("select count(*)::int as n from members where user_id = $1", [second.userId]),
    );
    expect(rows[0]).toEqual({ n: 0 });
  });

  it.each([
    ["with a space and capitals", "Bad Slug"],
    ["starting with a hyphen", "-x"],
    ["ending with a hyphen", "x-"],
    ["with capitals", "Acme"],
    ["with an underscore", "a_b"],
    ["of 64 characters", "a".repeat(64)],
    ["that is empty", ""],
  ])("rejects a slug %s with 400 on body.slug", async (_, slug) => {
    const name = `Bad slug ${randomUUID()}`;
    const response = await call(t.app, owner, "POST", "/api/v1/workspaces", { name, slug });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.slug"],
    });
    expect(await workspaceRows("name = $1", [name])).toEqual([]);
  });

  it.each([
    ["missing", {}],
    ["empty", { name: "" }],
    ["only whitespace", { name: "   " }],
    ["of 201 characters", { name: "n".repeat(201) }],
    ["not a string", { name: 42 }],
  ])("rejects a name that is %s with 400 on body.name", async (_, body) => {
    const response = await call(t.app, owner, "POST", "/api/v1/workspaces", body);
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.name"],
    });
  });

  it("rejects an unknown field with 400", async () => {
    const response = await call(t.app, owner, "POST", "/api/v1/workspaces", {
      name: "Extra field",
      colour: "red",
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe("HERALD_VALIDATION_FAILED");
    expect(await workspaceRows("name = $1", ["Extra field"])).toEqual([]);
  });

  it("makes the creator an active owner member", async () => {
    const olive = await signUp(t.app, undefined, "Olive Owner");
    const workspaceId = await createWorkspace(t.app, olive, "Owned");
    const response = await call(t.app, olive, "GET", `/api/v1/workspaces/${workspaceId}/members`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      items: [
        {
          id: expect.any(String),
          email: olive.email,
          name: "Olive Owner",
          role: "owner",
          status: "active",
          limitedToClients: false,
          clientIds: [],
          createdAt: expect.any(String),
        },
      ],
      nextCursor: null,
    });
  });

  it("cannot be done with an API key, even an admin one", async () => {
    const workspaceId = await createWorkspace(t.app, owner, "Keyed");
    const key = await createApiKey(t.app, owner, workspaceId, ["admin"]);
    const response = await call(t.app, key, "POST", "/api/v1/workspaces", { name: "Made by a key" });
    expect(problem(response)).toEqual({ status: 403, code: "HERALD_SESSION_REQUIRED", paths: [] });
    expect(await workspaceRows("name = $1", ["Made by a key"])).toEqual([]);
  });
});

describe("listing the caller's workspaces", () => {
  let person: Session;
  let own: string[];

  beforeAll(async () => {
    person = await signUp(t.app);
    own = [];
    for (const name of ["Zulu", "Alpha", "Mike"]) own.push(await createWorkspace(t.app, person, name));
    // Someone else's workspace, and one where `person` is a viewer.
    const other = await signUp(t.app);
    await createWorkspace(t.app, other, "Not theirs");
    const shared = await createWorkspace(t.app, other, "Shared");
    await call(t.app, other, "POST", `/api/v1/workspaces/${shared}/members`, {
      email: person.email,
      role: "viewer",
    });
    // An existing account accepts invitations when it signs in.
    const signIn = await call(t.app, undefined, "POST", "/api/v1/auth/sign-in", {
      email: person.email,
      password: "correct horse battery staple",
    });
    expect(signIn.statusCode).toBe(200);
    own.push(shared);
  });

  it("lists only the caller's workspaces, oldest first, with their role", async () => {
    const response = await call(t.app, person, "GET", "/api/v1/workspaces");
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.nextCursor).toBeNull();
    expect(body.items.map((w: { id: string }) => w.id)).toEqual(own);
    expect(body.items.map((w: { name: string; role: string }) => [w.name, w.role])).toEqual([
      ["Zulu", "owner"],
      ["Alpha", "owner"],
      ["Mike", "owner"],
      ["Shared", "viewer"],
    ]);
  });

  it("walks every workspace once with limit=1, and the last page has nextCursor null", async () => {
    const pages = await walk(person, "/api/v1/workspaces?limit=1");
    expect(pages).toHaveLength(own.length);
    expect(pages.map((p) => p.items.length)).toEqual(own.map(() => 1));
    expect(pages.flatMap((p) => p.items.map((w) => w.id))).toEqual(own);
    expect(pages.at(-1)?.nextCursor).toBeNull();
    expect(pages.slice(0, -1).every((p) => typeof p.nextCursor === "string")).toBe(true);
  });

  it("splits into pages of the given size", async () => {
    const pages = await walk(person, "/api/v1/workspaces?limit=3");
    expect(pages.map((p) => p.items.length)).toEqual([3, 1]);
    expect(pages.flatMap((p) => p.items.map((w) => w.id))).toEqual(own);
  });

  it("gives a newcomer with no workspace an empty list", async () => {
    const newcomer = await signUp(t.app);
    const response = await call(t.app, newcomer, "GET", "/api/v1/workspaces");
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ items: [], nextCursor: null });
  });

  it.each(["0", "101", "-1", "1.5", "abc"])("rejects limit=%s with 400 on query.limit", async (limit) => {
    const response = await call(t.app, person, "GET", `/api/v1/workspaces?limit=${limit}`);
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["query.limit"],
    });
  });

  it("accepts limit=100", async () => {
    const response = await call(t.app, person, "GET", "/api/v1/workspaces?limit=100");
    expect(response.statusCode).toBe(200);
    expect(response.json().items).toHaveLength(own.length);
  });

  it("rejects a garbage cursor with 400 on query.cursor", async () => {
    const response = await call(t.app, person, "GET", "/api/v1/workspaces?cursor=not-a-cursor");
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["query.cursor"],
    });
  });

  it("rejects a cursor of another list with 400 on query.cursor", async () => {
    // The shared workspace has two members, so its member list has a second page.
    const members = await call(t.app, person, "GET", `/api/v1/workspaces/${own[3]}/members?limit=1`);
    expect(members.statusCode).toBe(200);
    const foreign: string = members.json().nextCursor;
    expect(typeof foreign).toBe("string");
    const response = await call(t.app, person, "GET", `/api/v1/workspaces?cursor=${foreign}`);
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["query.cursor"],
    });
  });

  it("shows an API key only its own workspace, with no role", async () => {
    const key = await createApiKey(t.app, person, own[1] as string, ["posts:read"]);
    const response = await call(t.app, key, "GET", "/api/v1/workspaces");
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      items: [{ id: own[1], name: "Alpha", slug: "alpha", role: null, createdAt: expect.any(String) }],
      nextCursor: null,
    });
  });
});

describe("reading one workspace", () => {
  let owner: Session;
  let workspaceId: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Readable");
  });

  it("answers a member with the workspace and their own role", async () => {
    const viewer = await addMember(t.app, owner, workspaceId, "viewer");
    const asOwnerResponse = await call(t.app, owner, "GET", `/api/v1/workspaces/${workspaceId}`);
    const asViewer = await call(t.app, viewer, "GET", `/api/v1/workspaces/${workspaceId}`);
    expect(asOwnerResponse.statusCode).toBe(200);
    expect(asOwnerResponse.json()).toEqual({
      id: workspaceId,
      name: "Readable",
      slug: "readable",
      role: "owner",
      createdAt: expect.any(String),
    });
    expect(asViewer.statusCode).toBe(200);
    expect(asViewer.json()).toMatchObject({ id: workspaceId, role: "viewer" });
  });

  it("answers a client-role member too", async () => {
    const clientId = await createClient(t.app, owner, workspaceId);
    const client = await addMember(t.app, owner, workspaceId, "client", [clientId]);
    const response = await call(t.app, client, "GET", `/api/v1/workspaces/${workspaceId}`);
    expect(response.statusCode).toBe(200);
    expect(response.json().role).toBe("client");
  });

  it("answers a non-member with the same 404 as a workspace that does not exist", async () => {
    const stranger = await signUp(t.app);
    const hidden = await call(t.app, stranger, "GET", `/api/v1/workspaces/${workspaceId}`);
    const missing = await call(t.app, stranger, "GET", `/api/v1/workspaces/${randomUUID()}`);
    expect(problem(hidden)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(missing.statusCode).toBe(404);
    expect(withoutRequestId(hidden.json())).toEqual(withoutRequestId(missing.json()));
  });

  it("answers someone whose invitation is still pending with 404", async () => {
    const invitee = await signUp(t.app);
    const invite = await call(t.app, owner, "POST", `/api/v1/workspaces/${workspaceId}/members`, {
      email: invitee.email,
      role: "editor",
    });
    expect(invite.statusCode).toBe(201);
    const response = await call(t.app, invitee, "GET", `/api/v1/workspaces/${workspaceId}`);
    expect(problem(response)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
  });

  it("rejects an id that is not a UUID with 400 on params.workspaceId", async () => {
    const response = await call(t.app, owner, "GET", "/api/v1/workspaces/not-a-uuid");
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["params.workspaceId"],
    });
  });

  it("answers an API key of the workspace with no role, and one of another workspace with 404", async () => {
    const key = await createApiKey(t.app, owner, workspaceId, ["posts:read"]);
    const own = await call(t.app, key, "GET", `/api/v1/workspaces/${workspaceId}`);
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ id: workspaceId, role: null });

    const elsewhere = await createWorkspace(t.app, owner, "Elsewhere");
    const other = await call(t.app, key, "GET", `/api/v1/workspaces/${elsewhere}`);
    expect(problem(other)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
  });
});

describe("renaming a workspace", () => {
  let owner: Session;
  let workspaceId: string;
  const members: Record<string, Session> = {};

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Renameable");
    const clientId = await createClient(t.app, owner, workspaceId);
    for (const role of ["admin", "manager", "editor", "viewer"]) {
      members[role] = await addMember(t.app, owner, workspaceId, role);
    }
    members.client = await addMember(t.app, owner, workspaceId, "client", [clientId]);
  });

  const current = async () => (await workspaceRows("id = $1", [workspaceId]))[0];

  it("lets the owner rename it, keeping the slug", async () => {
    const before = await current();
    const response = await call(t.app, owner, "PATCH", `/api/v1/workspaces/${workspaceId}`, {
      name: "Renamed by owner",
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      id: workspaceId,
      name: "Renamed by owner",
      slug: before?.slug,
      role: "owner",
      createdAt: expect.any(String),
    });
    expect(await current()).toEqual({ id: workspaceId, name: "Renamed by owner", slug: before?.slug });
  });

  it("lets an admin rename it and change its slug, answering with the admin's role", async () => {
    const admin = members.admin as Session;
    const response = await call(t.app, admin, "PATCH", `/api/v1/workspaces/${workspaceId}`, {
      name: "Renamed by admin",
      slug: "renamed-by-admin",
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      name: "Renamed by admin",
      slug: "renamed-by-admin",
      role: "admin",
    });
    expect(await current()).toEqual({ id: workspaceId, name: "Renamed by admin", slug: "renamed-by-admin" });
  });

  it("lets the owner change only the slug", async () => {
    const response = await call(t.app, owner, "PATCH", `/api/v1/workspaces/${workspaceId}`, {
      slug: "slug-only",
    });
    expect(response.statusCode).toBe(200);
    expect(await current()).toEqual({ id: workspaceId, name: "Renamed by admin", slug: "slug-only" });
  });

  it.each(["manager", "editor", "viewer", "client"])(
    "refuses the %s role with 403, changing nothing",
    async (role) => {
      const before = await current();
      const response = await call(
        t.app,
        members[role] as Session,
        "PATCH",
        `/api/v1/workspaces/${workspaceId}`,
        {
          name: `Renamed by ${role}`,
        },
      );
      expect(problem(response)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
      expect(await current()).toEqual(before);
    },
  );

  it("refuses a non-member with the same 404 as a missing workspace", async () => {
    const stranger = await signUp(t.app);
    const hidden = await call(t.app, stranger, "PATCH", `/api/v1/workspaces/${workspaceId}`, {
      name: "Mine",
    });
    const missing = await call(t.app, stranger, "PATCH", `/api/v1/workspaces/${randomUUID()}`, {
      name: "Mine",
    });
    expect(problem(hidden)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(withoutRequestId(hidden.json())).toEqual(withoutRequestId(missing.json()));
    expect((await current())?.name).not.toBe("Mine");
  });

  it("rejects an empty body with 400", async () => {
    const response = await call(t.app, owner, "PATCH", `/api/v1/workspaces/${workspaceId}`, {});
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe("HERALD_VALIDATION_FAILED");
  });

  it.each([
    ["an empty name", { name: "" }, "body.name"],
    ["a whitespace-only name", { name: "  " }, "body.name"],
    ["a bad slug", { slug: "Bad Slug" }, "body.slug"],
  ])("rejects %s with 400", async (_, body, path) => {
    const before = await current();
    const response = await call(t.app, owner, "PATCH", `/api/v1/workspaces/${workspaceId}`, body);
    expect(problem(response)).toEqual({ status: 400, code: "HERALD_VALIDATION_FAILED", paths: [path] });
    expect(await current()).toEqual(before);
  });

  it("rejects an unknown field with 400", async () => {
    const response = await call(t.app, owner, "PATCH", `/api/v1/workspaces/${workspaceId}`, {
      name: "Fine",
      colour: "red",
    });
    expect(response.statusCode).toBe(400);
    expect((await current())?.name).not.toBe("Fine");
  });

  it("refuses a slug used by another workspace with 409, and leaves the name as it was", async () => {
    await createWorkspace(t.app, owner, "Slug Holder");
    const before = await current();
    const response = await call(t.app, owner, "PATCH", `/api/v1/workspaces/${workspaceId}`, {
      name: "Should not stick",
      slug: "slug-holder",
    });
    expect(problem(response)).toEqual({ status: 409, code: "HERALD_SLUG_TAKEN", paths: ["body.slug"] });
    expect(await current()).toEqual(before);
  });

  it("lets an admin API key rename it, and refuses a key without the admin scope", async () => {
    const adminKey = await createApiKey(t.app, owner, workspaceId, ["admin"]);
    const writeKey = await createApiKey(t.app, owner, workspaceId, ["posts:write", "accounts:write"]);
    const allowed = await call(t.app, adminKey, "PATCH", `/api/v1/workspaces/${workspaceId}`, {
      name: "Renamed by key",
    });
    expect(allowed.statusCode).toBe(200);
    expect(allowed.json()).toMatchObject({ name: "Renamed by key", role: null });

    const refused = await call(t.app, writeKey, "PATCH", `/api/v1/workspaces/${workspaceId}`, {
      name: "Not by this key",
    });
    expect(problem(refused)).toEqual({ status: 403, code: "HERALD_INSUFFICIENT_SCOPE", paths: [] });
    expect((await current())?.name).toBe("Renamed by key");
  });
});

describe("without authentication", () => {
  const someId = randomUUID();
  it.each([
    ["POST", "/api/v1/workspaces", { name: "Anonymous" }],
    ["GET", "/api/v1/workspaces", undefined],
    ["GET", "/api/v1/workspaces/:id", undefined],
    ["PATCH", "/api/v1/workspaces/:id", { name: "Anonymous" }],
  ] as const)("%s %s answers 401", async (method, url, body) => {
    const response = await call(t.app, undefined, method, url.replace(":id", someId), body);
    expect(problem(response)).toEqual({ status: 401, code: "HERALD_UNAUTHENTICATED", paths: [] });
  });

  it("answers 401 to a session cookie that does not exist and to an unknown API key", async () => {
    const cookie = {
      cookie: "herald.session_token=forged.value",
      userId: randomUUID(),
      email: "x@example.com",
    };
    const forged = await call(t.app, cookie, "GET", "/api/v1/workspaces");
    const badKey = await call(t.app, "hrld_not_a_real_key", "GET", "/api/v1/workspaces");
    expect(problem(forged)).toEqual({ status: 401, code: "HERALD_UNAUTHENTICATED", paths: [] });
    expect(problem(badKey)).toEqual({ status: 401, code: "HERALD_UNAUTHENTICATED", paths: [] });
  });

  it("creates nothing for an anonymous caller", async () => {
    await call(t.app, undefined, "POST", "/api/v1/workspaces", { name: "Anonymous Inc" });
    expect(await workspaceRows("name = $1", ["Anonymous Inc"])).toEqual([]);
  });
});
