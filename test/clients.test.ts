/**
 * Clients (brands) through the HTTP API: creation with defaults and normalisation (time zones,
 * posting times), names unique per workspace, listing by name with cursor pagination, changes,
 * deletion, and who may do each (roles and API key scopes).
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

type Client = {
  id: string;
  name: string;
  timezone: string;
  postingTimes: Array<{ weekday: number; time: string }>;
  requiresApproval: boolean;
  createdAt: string;
  updatedAt: string;
};

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(() => t?.close());

const clientsUrl = (workspaceId: string) => `/api/v1/workspaces/${workspaceId}/clients`;

/** The clients rows of a workspace, looked at past RLS. */
async function clientRows(workspaceId: string) {
  const { rows } = await asOwner(t.db.url, (client) =>
    client.query<{
      id: string;
      name: string;
      timezone: string;
      posting_times: unknown;
      requires_approval: boolean;
    }>(
      `select id, name, timezone, posting_times, requires_approval from clients
       where workspace_id = $1 order by lower(name), id`,
      [workspaceId],
    ),
  );
  return rows;
}

/** Every page of the client list, following nextCursor. */
async function walk(as: Session | string, workspaceId: string, limit: number) {
  const pages: Client[][] = [];
  let cursor: string | null = null;
  do {
    const query: string =
      cursor === null ? `limit=${limit}` : `limit=${limit}&cursor=${encodeURIComponent(cursor)}`;
    const response = await call(t.app, as, "GET", `${clientsUrl(workspaceId)}?${query}`);
    expect(response.statusCode).toBe(200);
    const page = response.json();
    pages.push(page.items);
    cursor = page.nextCursor;
    if (pages.length > 50) throw new Error("pagination does not end");
  } while (cursor !== null);
  return pages;
}

describe("creating a client", () => {
  let owner: Session;
  let workspaceId: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Creations");
  });

  const create = (body: unknown) => call(t.app, owner, "POST", clientsUrl(workspaceId), body);

  it("fills in the defaults: UTC, no posting times, no approval", async () => {
    const response = await create({ name: "Contoso Coffee" });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toEqual({
      id: expect.any(String),
      name: "Contoso Coffee",
      timezone: "UTC",
      postingTimes: [],
      requiresApproval: false,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect((await clientRows(workspaceId)).find((c) => c.id === body.id)).toEqual({
      id: body.id,
      name: "Contoso Coffee",
      timezone: "UTC",
      posting_times: [],
      requires_approval: false,
    });
  });

  it("stores every field given", async () => {
    const response = await create({
      name: "Fabrikam",
      timezone: "America/New_York",
      postingTimes: [{ weekday: 1, time: "09:30" }],
      requiresApproval: true,
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({
      name: "Fabrikam",
      timezone: "America/New_York",
      postingTimes: [{ weekday: 1, time: "09:30" }],
      requiresApproval: true,
    });
    expect((await clientRows(workspaceId)).find((c) => c.id === response.json().id)).toMatchObject({
      timezone: "America/New_York",
      posting_times: [{ weekday: 1, time: "09:30" }],
      requires_approval: true,
    });
  });

  it("stores a time zone in its canonical spelling", async () => {
    const response = await create({ name: "Paris Bakery", timezone: "europe/paris" });
    expect(response.statusCode).toBe(201);
    expect(response.json().timezone).toBe("Europe/Paris");
    expect((await clientRows(workspaceId)).find((c) => c.id === response.json().id)?.timezone).toBe(
      "Europe/Paris",
    );
  });

  it("keeps a current IANA name such as Asia/Kolkata instead of replacing it with an old alias", async () => {
    const response = await create({ name: "Mumbai Masala", timezone: "Asia/Kolkata" });
    expect(response.statusCode).toBe(201);
    expect(response.json().timezone).toBe("Asia/Kolkata");
  });

  it("sorts posting times by weekday then time and drops duplicates", async () => {
    const response = await create({
      name: "Busy Brand",
      postingTimes: [
        { weekday: 5, time: "08:00" },
        { weekday: 1, time: "17:45" },
        { weekday: 1, time: "09:00" },
        { weekday: 7, time: "00:00" },
        { weekday: 1, time: "17:45" },
        { weekday: 5, time: "08:00" },
        { weekday: 3, time: "23:59" },
      ],
    });
    expect(response.statusCode).toBe(201);
    const expected = [
      { weekday: 1, time: "09:00" },
      { weekday: 1, time: "17:45" },
      { weekday: 3, time: "23:59" },
      { weekday: 5, time: "08:00" },
      { weekday: 7, time: "00:00" },
    ];
    expect(response.json().postingTimes).toEqual(expected);
    expect((await clientRows(workspaceId)).find((c) => c.id === response.json().id)?.posting_times).toEqual(
      expected,
    );
  });

  it.each([
    ["an unknown time zone", { timezone: "Mars/Olympus" }, ["body.timezone"]],
    ["a time zone that is not a string", { timezone: 1 }, ["body.timezone"]],
    ["weekday 0", { postingTimes: [{ weekday: 0, time: "09:00" }] }, ["body.postingTimes.0.weekday"]],
    ["weekday 8", { postingTimes: [{ weekday: 8, time: "09:00" }] }, ["body.postingTimes.0.weekday"]],
    [
      "a fractional weekday",
      { postingTimes: [{ weekday: 1.5, time: "09:00" }] },
      ["body.postingTimes.0.weekday"],
    ],
    [
      "time 24:00 in the second slot",
      {
        postingTimes: [
          { weekday: 1, time: "09:00" },
          { weekday: 2, time: "24:00" },
        ],
      },
      ["body.postingTimes.1.time"],
    ],
    ["time 9:30", { postingTimes: [{ weekday: 1, time: "9:30" }] }, ["body.postingTimes.0.time"]],
    ["time 09:60", { postingTimes: [{ weekday: 1, time: "09:60" }] }, ["body.postingTimes.0.time"]],
    ["a missing time", { postingTimes: [{ weekday: 1 }] }, ["body.postingTimes.0.time"]],
    [
      "an extra key in a posting time",
      { postingTimes: [{ weekday: 1, time: "09:00", zone: "UTC" }] },
      ["body.postingTimes.0.zone"],
    ],
    [
      "posting times that are not a list",
      { postingTimes: { weekday: 1, time: "09:00" } },
      ["body.postingTimes"],
    ],
    ["a requiresApproval that is not a boolean", { requiresApproval: "yes" }, ["body.requiresApproval"]],
    ["an empty name", { name: "" }, ["body.name"]],
    ["a whitespace-only name", { name: "   " }, ["body.name"]],
    ["a name of 201 characters", { name: "n".repeat(201) }, ["body.name"]],
  ])("rejects %s with 400 on the field, and stores nothing", async (_, fields, paths) => {
    const name = `Invalid ${randomUUID()}`;
    const before = await clientRows(workspaceId);
    const response = await create({ name, ...fields });
    expect(problem(response)).toEqual({ status: 400, code: "HERALD_VALIDATION_FAILED", paths });
    expect(await clientRows(workspaceId)).toEqual(before);
  });

  it("rejects a missing name with 400 on body.name", async () => {
    const response = await create({ timezone: "UTC" });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.name"],
    });
  });

  it("accepts a name of 200 characters and trims surrounding spaces", async () => {
    const long = await create({ name: "L".repeat(200) });
    expect(long.statusCode).toBe(201);
    expect(long.json().name).toHaveLength(200);
    const padded = await create({ name: "  Padded  " });
    expect(padded.statusCode).toBe(201);
    expect(padded.json().name).toBe("Padded");
  });

  it("rejects an unknown field such as requireApproval with 400, storing nothing", async () => {
    const response = await create({ name: "Typo Brand", requireApproval: true });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe("HERALD_VALIDATION_FAILED");
    expect((await clientRows(workspaceId)).some((c) => c.name === "Typo Brand")).toBe(false);
  });

  it("refuses a name already used in the workspace, in any case, with 409", async () => {
    expect((await create({ name: "Northwind Traders" })).statusCode).toBe(201);
    for (const name of ["Northwind Traders", "NORTHWIND traders", "  northwind traders "]) {
      const response = await create({ name, timezone: "Europe/Paris" });
      expect(problem(response)).toEqual({ status: 409, code: "HERALD_CLIENT_EXISTS", paths: ["body.name"] });
    }
    const rows = (await clientRows(workspaceId)).filter((c) => c.name.toLowerCase() === "northwind traders");
    expect(rows).toEqual([expect.objectContaining({ name: "Northwind Traders", timezone: "UTC" })]);
  });

  it("refuses a name that differs only in the case of an accented letter", async () => {
    expect((await create({ name: "Café Olé" })).statusCode).toBe(201);
    const response = await create({ name: "CAFÉ OLÉ" });
    expect(problem(response)).toEqual({ status: 409, code: "HERALD_CLIENT_EXISTS", paths: ["body.name"] });
    const rows = (await clientRows(workspaceId)).filter((c) => c.name.toLowerCase() === "café olé");
    expect(rows.map((c) => c.name)).toEqual(["Café Olé"]);
  });

  it("allows the same name in another workspace", async () => {
    const other = await createWorkspace(t.app, owner, "Other Creations");
    expect((await create({ name: "Shared Name" })).statusCode).toBe(201);
    const response = await call(t.app, owner, "POST", clientsUrl(other), { name: "Shared Name" });
    expect(response.statusCode).toBe(201);
    expect((await clientRows(other)).map((c) => c.name)).toEqual(["Shared Name"]);
  });
});

describe("listing and reading clients", () => {
  let owner: Session;
  let workspaceId: string;
  const names = ["delta", "Alpha", "charlie", "Bravo", "echo", "ALPHA two"];
  let byName: string[];

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Listings");
    for (const name of names) await createClient(t.app, owner, workspaceId, { name });
    byName = ["Alpha", "ALPHA two", "Bravo", "charlie", "delta", "echo"];
  });

  it("lists clients by name, ignoring case", async () => {
    const response = await call(t.app, owner, "GET", clientsUrl(workspaceId));
    expect(response.statusCode).toBe(200);
    expect(response.json().nextCursor).toBeNull();
    expect(response.json().items.map((c: Client) => c.name)).toEqual(byName);
  });

  it.each([1, 2, 4])("walks every client once with limit=%i, ending with nextCursor null", async (limit) => {
    const pages = await walk(owner, workspaceId, limit);
    expect(pages.flat().map((c) => c.name)).toEqual(byName);
    expect(pages).toHaveLength(Math.ceil(names.length / limit));
    expect(pages.slice(0, -1).every((p) => p.length === limit)).toBe(true);
  });

  it("walks every client once with limit=1 when names start with accented or Greek capitals", async () => {
    const other = await createWorkspace(t.app, owner, "Accents");
    // Lower-casing these is not the same in JavaScript and in PostgreSQL for every letter.
    for (const name of ["Éclat", "éclair", "ΟΔΟΣ", "οδοι", "Zebra"]) {
      await createClient(t.app, owner, other, { name });
    }
    const full = await call(t.app, owner, "GET", `${clientsUrl(other)}?limit=100`);
    const all = full.json().items.map((c: Client) => c.name);
    expect(all).toHaveLength(5);
    const pages = await walk(owner, other, 1);
    expect(pages.flat().map((c) => c.name)).toEqual(all);
  });

  it("reads one client", async () => {
    const id = await createClient(t.app, owner, workspaceId, { name: "Foxtrot", timezone: "Asia/Tokyo" });
    const response = await call(t.app, owner, "GET", `${clientsUrl(workspaceId)}/${id}`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      id,
      name: "Foxtrot",
      timezone: "Asia/Tokyo",
      postingTimes: [],
      requiresApproval: false,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    await call(t.app, owner, "DELETE", `${clientsUrl(workspaceId)}/${id}`);
  });

  it("answers 404 for a client of another workspace, the same as for a random id", async () => {
    const other = await createWorkspace(t.app, owner, "Other Listings");
    const foreign = await createClient(t.app, owner, other);
    const hidden = await call(t.app, owner, "GET", `${clientsUrl(workspaceId)}/${foreign}`);
    const missing = await call(t.app, owner, "GET", `${clientsUrl(workspaceId)}/${randomUUID()}`);
    expect(problem(hidden)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(withoutRequestId(hidden.json())).toEqual(withoutRequestId(missing.json()));
  });

  it("rejects a client id that is not a UUID with 400 on params.clientId", async () => {
    const response = await call(t.app, owner, "GET", `${clientsUrl(workspaceId)}/nope`);
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["params.clientId"],
    });
  });

  it("rejects bad limits and cursors with 400", async () => {
    const zero = await call(t.app, owner, "GET", `${clientsUrl(workspaceId)}?limit=0`);
    const tooMany = await call(t.app, owner, "GET", `${clientsUrl(workspaceId)}?limit=101`);
    const garbage = await call(t.app, owner, "GET", `${clientsUrl(workspaceId)}?cursor=%7B%7D`);
    const workspacesCursor = Buffer.from(JSON.stringify({ list: "workspaces", after: ["x", "y"] })).toString(
      "base64url",
    );
    const foreign = await call(t.app, owner, "GET", `${clientsUrl(workspaceId)}?cursor=${workspacesCursor}`);
    for (const [response, path] of [
      [zero, "query.limit"],
      [tooMany, "query.limit"],
      [garbage, "query.cursor"],
      [foreign, "query.cursor"],
    ] as const) {
      expect(problem(response)).toEqual({ status: 400, code: "HERALD_VALIDATION_FAILED", paths: [path] });
    }
  });
});

describe("changing and deleting a client", () => {
  let owner: Session;
  let workspaceId: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Changes");
  });

  const clientUrl = (id: string) => `${clientsUrl(workspaceId)}/${id}`;

  it("changes each field on its own, leaving the others", async () => {
    const id = await createClient(t.app, owner, workspaceId, {
      name: "Before",
      timezone: "UTC",
      postingTimes: [{ weekday: 2, time: "10:00" }],
      requiresApproval: true,
    });
    const original: Client = (await call(t.app, owner, "GET", clientUrl(id))).json();

    const renamed = await call(t.app, owner, "PATCH", clientUrl(id), { name: "After" });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toEqual({ ...original, name: "After", updatedAt: expect.any(String) });
    expect(Date.parse(renamed.json().updatedAt)).toBeGreaterThanOrEqual(Date.parse(original.updatedAt));

    const zone = await call(t.app, owner, "PATCH", clientUrl(id), { timezone: "america/new_york" });
    expect(zone.json()).toMatchObject({
      name: "After",
      timezone: "America/New_York",
      requiresApproval: true,
    });

    const times = await call(t.app, owner, "PATCH", clientUrl(id), {
      postingTimes: [
        { weekday: 6, time: "12:00" },
        { weekday: 4, time: "07:15" },
        { weekday: 6, time: "12:00" },
      ],
    });
    expect(times.json().postingTimes).toEqual([
      { weekday: 4, time: "07:15" },
      { weekday: 6, time: "12:00" },
    ]);

    const approval = await call(t.app, owner, "PATCH", clientUrl(id), { requiresApproval: false });
    expect(approval.json().requiresApproval).toBe(false);

    const cleared = await call(t.app, owner, "PATCH", clientUrl(id), { postingTimes: [] });
    expect(cleared.json().postingTimes).toEqual([]);

    expect((await clientRows(workspaceId)).find((c) => c.id === id)).toEqual({
      id,
      name: "After",
      timezone: "America/New_York",
      posting_times: [],
      requires_approval: false,
    });
  });

  it("rejects an empty change with 400", async () => {
    const id = await createClient(t.app, owner, workspaceId);
    const response = await call(t.app, owner, "PATCH", clientUrl(id), {});
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe("HERALD_VALIDATION_FAILED");
  });

  it.each([
    ["an unknown time zone", { timezone: "Mars/Olympus" }, ["body.timezone"]],
    [
      "a bad posting time",
      { postingTimes: [{ weekday: 8, time: "09:00" }] },
      ["body.postingTimes.0.weekday"],
    ],
    ["a whitespace-only name", { name: " " }, ["body.name"]],
  ])("rejects %s in a change with 400, changing nothing", async (_, body, paths) => {
    const id = await createClient(t.app, owner, workspaceId, { name: `Stable ${randomUUID()}` });
    const before = (await clientRows(workspaceId)).find((c) => c.id === id);
    const response = await call(t.app, owner, "PATCH", clientUrl(id), { requiresApproval: true, ...body });
    expect(problem(response)).toEqual({ status: 400, code: "HERALD_VALIDATION_FAILED", paths });
    expect((await clientRows(workspaceId)).find((c) => c.id === id)).toEqual(before);
  });

  it("rejects an unknown field in a change with 400", async () => {
    const id = await createClient(t.app, owner, workspaceId);
    const response = await call(t.app, owner, "PATCH", clientUrl(id), { requireApproval: true });
    expect(response.statusCode).toBe(400);
    expect((await clientRows(workspaceId)).find((c) => c.id === id)?.requires_approval).toBe(false);
  });

  it("refuses a rename to a name already used, in any case, with 409 and changes nothing", async () => {
    await createClient(t.app, owner, workspaceId, { name: "Existing Name" });
    const id = await createClient(t.app, owner, workspaceId, { name: "Renaming" });
    const response = await call(t.app, owner, "PATCH", clientUrl(id), {
      name: "EXISTING name",
      requiresApproval: true,
    });
    expect(problem(response)).toEqual({ status: 409, code: "HERALD_CLIENT_EXISTS", paths: ["body.name"] });
    expect((await clientRows(workspaceId)).find((c) => c.id === id)).toMatchObject({
      name: "Renaming",
      requires_approval: false,
    });
  });

  it("allows a rename that only changes the case of the client's own name", async () => {
    const id = await createClient(t.app, owner, workspaceId, { name: "lower case" });
    const response = await call(t.app, owner, "PATCH", clientUrl(id), { name: "Lower Case" });
    expect(response.statusCode).toBe(200);
    expect(response.json().name).toBe("Lower Case");
  });

  it("answers 404 to a change of an unknown client", async () => {
    const response = await call(t.app, owner, "PATCH", clientUrl(randomUUID()), { name: "Ghost" });
    expect(problem(response)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
  });

  it("deletes a client: 204, then GET and a second DELETE answer 404", async () => {
    const id = await createClient(t.app, owner, workspaceId);
    const response = await call(t.app, owner, "DELETE", clientUrl(id));
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe("");
    expect(problem(await call(t.app, owner, "GET", clientUrl(id)))).toEqual({
      status: 404,
      code: "HERALD_NOT_FOUND",
      paths: [],
    });
    expect(problem(await call(t.app, owner, "DELETE", clientUrl(id)))).toEqual({
      status: 404,
      code: "HERALD_NOT_FOUND",
      paths: [],
    });
    expect((await clientRows(workspaceId)).some((c) => c.id === id)).toBe(false);
  });

  it("frees the name of a deleted client", async () => {
    const id = await createClient(t.app, owner, workspaceId, { name: "Reusable" });
    expect((await call(t.app, owner, "DELETE", clientUrl(id))).statusCode).toBe(204);
    const again = await call(t.app, owner, "POST", clientsUrl(workspaceId), { name: "reusable" });
    expect(again.statusCode).toBe(201);
  });

  it("a client of another workspace cannot be changed or deleted through this one", async () => {
    const other = await createWorkspace(t.app, owner, "Other Changes");
    const foreign = await createClient(t.app, owner, other, { name: "Foreign" });
    const change = await call(t.app, owner, "PATCH", clientUrl(foreign), { name: "Hijacked" });
    const remove = await call(t.app, owner, "DELETE", clientUrl(foreign));
    expect(problem(change)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(problem(remove)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect((await clientRows(other)).map((c) => c.name)).toEqual(["Foreign"]);
  });

  it("removes a deleted client from members' client lists but keeps the members", async () => {
    const keep = await createClient(t.app, owner, workspaceId, { name: "Kept" });
    const gone = await createClient(t.app, owner, workspaceId, { name: "Gone" });
    const manager = await addMember(t.app, owner, workspaceId, "manager", [keep, gone]);
    const client = await addMember(t.app, owner, workspaceId, "client", [gone]);

    expect((await call(t.app, owner, "DELETE", clientUrl(gone))).statusCode).toBe(204);

    const { rows } = await asOwner(t.db.url, (db) =>
      db.query("select client_id from member_clients where workspace_id = $1 and client_id = $2", [
        workspaceId,
        gone,
      ]),
    );
    expect(rows).toEqual([]);
    const members = await call(t.app, owner, "GET", `/api/v1/workspaces/${workspaceId}/members?limit=100`);
    const byId = new Map(members.json().items.map((m: { id: string }) => [m.id, m]));
    expect(byId.get(manager.memberId)).toMatchObject({
      role: "manager",
      status: "active",
      clientIds: [keep],
    });
    expect(byId.get(client.memberId)).toMatchObject({ role: "client", status: "active", clientIds: [] });

    // The client-role member is left with no client: they see none, not all of them.
    const visible = await call(t.app, client, "GET", `${clientsUrl(workspaceId)}?limit=100`);
    expect(visible.statusCode).toBe(200);
    expect(visible.json().items).toEqual([]);
    const managerView = await call(t.app, manager, "GET", `${clientsUrl(workspaceId)}?limit=100`);
    expect(managerView.json().items.map((c: Client) => c.id)).toEqual([keep]);
  });
});

describe("client restrictions when clients are deleted", () => {
  let owner: Session;
  let workspaceId: string;
  let otherClient: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Restricted Deletions");
    otherClient = await createClient(t.app, owner, workspaceId, { name: "Someone else's brand" });
  });

  it("a manager limited to one client does not gain every client by deleting it", async () => {
    const own = await createClient(t.app, owner, workspaceId, { name: "Only mine" });
    const manager = await addMember(t.app, owner, workspaceId, "manager", [own]);
    expect((await call(t.app, manager, "DELETE", `${clientsUrl(workspaceId)}/${own}`)).statusCode).toBe(204);

    const list = await call(t.app, manager, "GET", clientsUrl(workspaceId));
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((c: Client) => c.id)).not.toContain(otherClient);
    const other = await call(t.app, manager, "GET", `${clientsUrl(workspaceId)}/${otherClient}`);
    expect(problem(other)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
  });
});

describe("who may do what", () => {
  let owner: Session;
  let workspaceId: string;
  let clientId: string;
  const members: Record<string, Session> = {};
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Permissions");
    clientId = await createClient(t.app, owner, workspaceId, { name: "Guarded" });
    for (const role of ["admin", "manager", "editor", "viewer"]) {
      members[role] = await addMember(t.app, owner, workspaceId, role);
    }
    members.client = await addMember(t.app, owner, workspaceId, "client", [clientId]);
    for (const scope of [
      "posts:read",
      "posts:write",
      "accounts:read",
      "accounts:write",
      "audit:read",
      "admin",
    ]) {
      keys[scope] = await createApiKey(t.app, owner, workspaceId, [scope]);
    }
  });

  const clientUrl = (id: string) => `${clientsUrl(workspaceId)}/${id}`;
  const guardedRow = async () => (await clientRows(workspaceId)).find((c) => c.id === clientId);

  it.each(["viewer", "editor", "client"])("the %s role can list and read clients", async (role) => {
    const as = members[role] as Session;
    const list = await call(t.app, as, "GET", clientsUrl(workspaceId));
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((c: Client) => c.id)).toContain(clientId);
    const one = await call(t.app, as, "GET", clientUrl(clientId));
    expect(one.statusCode).toBe(200);
    expect(one.json().name).toBe("Guarded");
  });

  it.each(["viewer", "editor", "client"])(
    "the %s role cannot create, change or delete clients",
    async (role) => {
      const as = members[role] as Session;
      const before = await clientRows(workspaceId);
      const create = await call(t.app, as, "POST", clientsUrl(workspaceId), { name: `By ${role}` });
      const change = await call(t.app, as, "PATCH", clientUrl(clientId), { name: `Renamed by ${role}` });
      const remove = await call(t.app, as, "DELETE", clientUrl(clientId));
      for (const response of [create, change, remove]) {
        expect(problem(response)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
      }
      expect(await clientRows(workspaceId)).toEqual(before);
    },
  );

  it.each(["manager", "admin"])("the %s role can create, change and delete clients", async (role) => {
    const as = members[role] as Session;
    const create = await call(t.app, as, "POST", clientsUrl(workspaceId), { name: `By ${role}` });
    expect(create.statusCode).toBe(201);
    const id: string = create.json().id;
    const change = await call(t.app, as, "PATCH", clientUrl(id), { requiresApproval: true });
    expect(change.statusCode).toBe(200);
    expect(change.json().requiresApproval).toBe(true);
    expect((await call(t.app, as, "DELETE", clientUrl(id))).statusCode).toBe(204);
    expect((await clientRows(workspaceId)).some((c) => c.id === id)).toBe(false);
  });

  it("an unrestricted manager's new client does not restrict them to it", async () => {
    const manager = members.manager as Session;
    const id = await createClient(t.app, manager, workspaceId, { name: "Manager's own" });
    const list = await call(t.app, manager, "GET", `${clientsUrl(workspaceId)}?limit=100`);
    expect(list.json().items.map((c: Client) => c.id)).toEqual(expect.arrayContaining([clientId, id]));
    await call(t.app, owner, "DELETE", clientUrl(id));
  });

  it.each(["posts:read", "posts:write", "accounts:read", "accounts:write", "admin"])(
    "an API key with %s can list and read clients",
    async (scope) => {
      const key = keys[scope] as string;
      const list = await call(t.app, key, "GET", clientsUrl(workspaceId));
      expect(list.statusCode).toBe(200);
      expect(list.json().items.map((c: Client) => c.id)).toContain(clientId);
      const one = await call(t.app, key, "GET", clientUrl(clientId));
      expect(one.statusCode).toBe(200);
    },
  );

  it("an API key with only audit:read cannot list clients", async () => {
    const response = await call(t.app, keys["audit:read"] as string, "GET", clientsUrl(workspaceId));
    expect(problem(response)).toEqual({ status: 403, code: "HERALD_INSUFFICIENT_SCOPE", paths: [] });
  });

  it.each(["posts:read", "posts:write", "accounts:read", "accounts:write", "audit:read"])(
    "an API key with %s cannot create, change or delete clients",
    async (scope) => {
      const key = keys[scope] as string;
      const before = await guardedRow();
      const create = await call(t.app, key, "POST", clientsUrl(workspaceId), { name: `Key ${scope}` });
      const change = await call(t.app, key, "PATCH", clientUrl(clientId), { name: `Key ${scope}` });
      const remove = await call(t.app, key, "DELETE", clientUrl(clientId));
      for (const response of [create, change, remove]) {
        expect(problem(response)).toEqual({ status: 403, code: "HERALD_INSUFFICIENT_SCOPE", paths: [] });
      }
      expect(await guardedRow()).toEqual(before);
      expect((await clientRows(workspaceId)).some((c) => c.name === `Key ${scope}`)).toBe(false);
    },
  );

  it("an admin API key can create, change and delete clients", async () => {
    const key = keys.admin as string;
    const create = await call(t.app, key, "POST", clientsUrl(workspaceId), { name: "By admin key" });
    expect(create.statusCode).toBe(201);
    const id: string = create.json().id;
    const change = await call(t.app, key, "PATCH", clientUrl(id), { timezone: "Europe/Berlin" });
    expect(change.json().timezone).toBe("Europe/Berlin");
    expect((await call(t.app, key, "DELETE", clientUrl(id))).statusCode).toBe(204);
  });

  it("an API key of another workspace gets 404", async () => {
    const other = await createWorkspace(t.app, owner, "Other Permissions");
    const key = await createApiKey(t.app, owner, other, ["admin"]);
    const list = await call(t.app, key, "GET", clientsUrl(workspaceId));
    const one = await call(t.app, key, "GET", clientUrl(clientId));
    expect(problem(list)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(problem(one)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
  });

  it("a non-member gets 404 and an anonymous caller 401", async () => {
    const stranger = await signUp(t.app);
    const hidden = await call(t.app, stranger, "POST", clientsUrl(workspaceId), { name: "Stranger's" });
    expect(problem(hidden)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    const anonymous = await call(t.app, undefined, "GET", clientsUrl(workspaceId));
    expect(problem(anonymous)).toEqual({ status: 401, code: "HERALD_UNAUTHENTICATED", paths: [] });
    expect((await clientRows(workspaceId)).some((c) => c.name === "Stranger's")).toBe(false);
  });
});
