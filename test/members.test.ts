/**
 * Members and invitations through the HTTP API: inviting by email, accepting on sign-up, the role
 * rules (who may make, change or remove whom, the last owner), client restrictions, removal and
 * pagination.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addMember,
  call,
  createApiKey,
  createClient,
  createWorkspace,
  PASSWORD,
  type Session,
  sessionCookie,
  signUp,
  startTestApp,
  type TestApp,
  uniqueEmail,
} from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";
import { problem, withoutRequestId } from "./helpers/problems.js";

type Member = {
  id: string;
  email: string;
  name: string | null;
  role: string;
  status: string;
  clientIds: string[];
  createdAt: string;
};

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(() => t?.close());

const membersUrl = (workspaceId: string) => `/api/v1/workspaces/${workspaceId}/members`;

function invite(as: Session | string, workspaceId: string, body: Record<string, unknown>) {
  return call(t.app, as, "POST", membersUrl(workspaceId), body);
}

/** The members rows of a workspace, looked at past RLS. */
async function memberRows(workspaceId: string) {
  const { rows } = await asOwner(t.db.url, (client) =>
    client.query<{ id: string; email: string; role: string; status: string; user_id: string | null }>(
      "select id, email, role, status, user_id from members where workspace_id = $1 order by email",
      [workspaceId],
    ),
  );
  return rows;
}

async function memberClientRows(workspaceId: string) {
  const { rows } = await asOwner(t.db.url, (client) =>
    client.query<{ member_id: string; client_id: string }>(
      "select member_id, client_id from member_clients where workspace_id = $1 order by member_id, client_id",
      [workspaceId],
    ),
  );
  return rows;
}

async function listAll(as: Session, workspaceId: string): Promise<Member[]> {
  const response = await call(t.app, as, "GET", `${membersUrl(workspaceId)}?limit=100`);
  expect(response.statusCode).toBe(200);
  return response.json().items;
}

async function workspaceIdsOf(as: Session): Promise<string[]> {
  const response = await call(t.app, as, "GET", "/api/v1/workspaces");
  expect(response.statusCode).toBe(200);
  return response.json().items.map((w: { id: string }) => w.id);
}

async function visibleClientIds(as: Session, workspaceId: string): Promise<string[]> {
  const response = await call(t.app, as, "GET", `/api/v1/workspaces/${workspaceId}/clients?limit=100`);
  expect(response.statusCode).toBe(200);
  return response.json().items.map((c: { id: string }) => c.id);
}

const sorted = (ids: string[]) => [...ids].sort();

describe("inviting by email", () => {
  let owner: Session;
  let workspaceId: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Invitations");
  });

  it("answers 201 with an invited member: lowercased email, no name, no clients", async () => {
    const response = await invite(owner, workspaceId, { email: "Sam.Jones@Example.COM", role: "editor" });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual({
      id: expect.any(String),
      email: "sam.jones@example.com",
      name: null,
      role: "editor",
      status: "invited",
      limitedToClients: false,
      clientIds: [],
      createdAt: expect.any(String),
    });
    const { rows } = await asOwner(t.db.url, (client) =>
      client.query("select email, status, user_id, invited_by from members where id = $1", [
        response.json().id,
      ]),
    );
    expect(rows).toEqual([
      { email: "sam.jones@example.com", status: "invited", user_id: null, invited_by: owner.userId },
    ]);
  });

  it("refuses the same email again, in any case, with 409 and stores no second row", async () => {
    const email = uniqueEmail("twice");
    expect((await invite(owner, workspaceId, { email, role: "viewer" })).statusCode).toBe(201);
    const before = await memberRows(workspaceId);

    for (const again of [email, email.toUpperCase()]) {
      const response = await invite(owner, workspaceId, { email: again, role: "admin" });
      expect(problem(response)).toEqual({ status: 409, code: "HERALD_MEMBER_EXISTS", paths: ["body.email"] });
    }
    expect(await memberRows(workspaceId)).toEqual(before);
    expect(before.filter((m) => m.email === email)).toEqual([expect.objectContaining({ role: "viewer" })]);
  });

  it("refuses to invite someone who is already an active member", async () => {
    const response = await invite(owner, workspaceId, { email: owner.email.toUpperCase(), role: "viewer" });
    expect(problem(response)).toEqual({ status: 409, code: "HERALD_MEMBER_EXISTS", paths: ["body.email"] });
  });

  it("lets the same email be invited to two workspaces", async () => {
    const email = uniqueEmail("both");
    const other = await createWorkspace(t.app, owner, "Second Invitations");
    expect((await invite(owner, workspaceId, { email, role: "viewer" })).statusCode).toBe(201);
    expect((await invite(owner, other, { email, role: "editor" })).statusCode).toBe(201);
    const joined = await signUp(t.app, email);
    expect(sorted(await workspaceIdsOf(joined))).toEqual(sorted([workspaceId, other]));
  });

  it.each([
    ["a malformed email", { email: "not-an-email", role: "editor" }, "body.email"],
    ["a missing email", { role: "editor" }, "body.email"],
    ["an unknown role", { email: "role@example.com", role: "superuser" }, "body.role"],
    ["a missing role", { email: "role@example.com" }, "body.role"],
    [
      "a client id that is not a UUID",
      { email: "role@example.com", role: "manager", clientIds: ["x"] },
      "body.clientIds.0",
    ],
  ])("rejects %s with 400", async (_, body, path) => {
    const before = await memberRows(workspaceId);
    const response = await invite(owner, workspaceId, body);
    expect(problem(response)).toEqual({ status: 400, code: "HERALD_VALIDATION_FAILED", paths: [path] });
    expect(await memberRows(workspaceId)).toEqual(before);
  });

  it("rejects an unknown field with 400", async () => {
    const response = await invite(owner, workspaceId, {
      email: "extra@example.com",
      role: "editor",
      name: "Extra",
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe("HERALD_VALIDATION_FAILED");
    expect((await memberRows(workspaceId)).some((m) => m.email === "extra@example.com")).toBe(false);
  });

  it("activates the invitation when the person signs up with that email", async () => {
    const email = uniqueEmail("joiner");
    const invited = await invite(owner, workspaceId, { email: email.toUpperCase(), role: "manager" });
    expect(invited.statusCode).toBe(201);

    const signUpResponse = await call(t.app, undefined, "POST", "/api/v1/auth/sign-up", {
      name: "Jo Iner",
      email,
      password: PASSWORD,
    });
    expect(signUpResponse.statusCode).toBe(201);
    expect(signUpResponse.json().workspaces).toEqual([
      expect.objectContaining({ id: workspaceId, role: "manager" }),
    ]);

    const member = (await listAll(owner, workspaceId)).find((m) => m.id === invited.json().id);
    expect(member).toMatchObject({ email, name: "Jo Iner", role: "manager", status: "active" });
    const joiner = { cookie: sessionCookie(signUpResponse), userId: signUpResponse.json().user.id, email };
    const workspaces = await call(t.app, joiner, "GET", "/api/v1/workspaces");
    expect(workspaces.json().items).toEqual([expect.objectContaining({ id: workspaceId, role: "manager" })]);
  });

  it("activates an invitation of an existing account when that person next signs in", async () => {
    const existing = await signUp(t.app);
    const invited = await invite(owner, workspaceId, { email: existing.email, role: "viewer" });
    expect(invited.json().status).toBe("invited");
    expect(await workspaceIdsOf(existing)).toEqual([]);

    const signIn = await call(t.app, undefined, "POST", "/api/v1/auth/sign-in", {
      email: existing.email,
      password: PASSWORD,
    });
    expect(signIn.statusCode).toBe(200);
    expect(await workspaceIdsOf(existing)).toEqual([workspaceId]);
    const rows = (await memberRows(workspaceId)).filter((m) => m.email === existing.email);
    expect(rows).toEqual([expect.objectContaining({ status: "active", user_id: existing.userId })]);
  });
});

describe("role rules", () => {
  let owner: Session;
  let workspaceId: string;
  let admin: Session & { memberId: string };
  let ownerMemberId: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Roles");
    admin = await addMember(t.app, owner, workspaceId, "admin");
    const rows = await memberRows(workspaceId);
    ownerMemberId = rows.find((m) => m.user_id === owner.userId)?.id ?? "";
  });

  const memberUrl = (memberId: string) => `${membersUrl(workspaceId)}/${memberId}`;

  it("an admin can invite an editor", async () => {
    const response = await invite(admin, workspaceId, { email: uniqueEmail("by-admin"), role: "editor" });
    expect(response.statusCode).toBe(201);
    expect(response.json().role).toBe("editor");
  });

  it("an admin cannot invite an owner, and nothing is stored", async () => {
    const email = uniqueEmail("would-be-owner");
    const response = await invite(admin, workspaceId, { email, role: "owner" });
    expect(problem(response)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
    expect((await memberRows(workspaceId)).some((m) => m.email === email)).toBe(false);
  });

  it("an admin cannot promote a member to owner", async () => {
    const editor = await addMember(t.app, owner, workspaceId, "editor");
    const response = await call(t.app, admin, "PATCH", memberUrl(editor.memberId), { role: "owner" });
    expect(problem(response)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
    expect((await memberRows(workspaceId)).find((m) => m.id === editor.memberId)?.role).toBe("editor");
  });

  it("an admin cannot promote themselves to owner", async () => {
    const response = await call(t.app, admin, "PATCH", memberUrl(admin.memberId), { role: "owner" });
    expect(problem(response)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
  });

  it("the last owner cannot be demoted or removed", async () => {
    const demote = await call(t.app, owner, "PATCH", memberUrl(ownerMemberId), { role: "admin" });
    expect(problem(demote)).toEqual({ status: 409, code: "HERALD_LAST_OWNER", paths: [] });
    const remove = await call(t.app, owner, "DELETE", memberUrl(ownerMemberId));
    expect(problem(remove)).toEqual({ status: 409, code: "HERALD_LAST_OWNER", paths: [] });
    expect((await memberRows(workspaceId)).find((m) => m.id === ownerMemberId)?.role).toBe("owner");
  });

  it("a pending owner invitation does not count: the only active owner is still the last", async () => {
    const pending = await invite(owner, workspaceId, { email: uniqueEmail("pending-owner"), role: "owner" });
    expect(pending.statusCode).toBe(201);
    const demote = await call(t.app, owner, "PATCH", memberUrl(ownerMemberId), { role: "admin" });
    expect(problem(demote)).toEqual({ status: 409, code: "HERALD_LAST_OWNER", paths: [] });
    expect((await call(t.app, owner, "DELETE", memberUrl(pending.json().id))).statusCode).toBe(204);
  });

  describe("with a second owner", () => {
    let second: Session & { memberId: string };

    beforeAll(async () => {
      second = await addMember(t.app, owner, workspaceId, "viewer");
    });

    it("an owner can make another member an owner", async () => {
      const response = await call(t.app, owner, "PATCH", memberUrl(second.memberId), { role: "owner" });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ id: second.memberId, role: "owner", status: "active" });
      expect((await listAll(owner, workspaceId)).filter((m) => m.role === "owner")).toHaveLength(2);
    });

    it("an admin cannot change or remove an owner", async () => {
      const change = await call(t.app, admin, "PATCH", memberUrl(second.memberId), { role: "viewer" });
      expect(problem(change)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
      const restrict = await call(t.app, admin, "PATCH", memberUrl(second.memberId), {
        clientIds: [await createClient(t.app, owner, workspaceId)],
      });
      expect(problem(restrict)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
      const remove = await call(t.app, admin, "DELETE", memberUrl(second.memberId));
      expect(problem(remove)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
      const row = (await memberRows(workspaceId)).find((m) => m.id === second.memberId);
      expect(row?.role).toBe("owner");
      expect((await memberClientRows(workspaceId)).filter((r) => r.member_id === second.memberId)).toEqual(
        [],
      );
    });

    it("one of two owners can be demoted, after which the other is the last owner", async () => {
      const demote = await call(t.app, second, "PATCH", memberUrl(ownerMemberId), { role: "admin" });
      expect(demote.statusCode).toBe(200);
      expect(demote.json().role).toBe("admin");

      const last = await call(t.app, second, "PATCH", memberUrl(second.memberId), { role: "admin" });
      expect(problem(last)).toEqual({ status: 409, code: "HERALD_LAST_OWNER", paths: [] });

      // Back to the starting point: the original owner is owner again, the second one leaves.
      const restore = await call(t.app, second, "PATCH", memberUrl(ownerMemberId), { role: "owner" });
      expect(restore.statusCode).toBe(200);
      const leave = await call(t.app, owner, "DELETE", memberUrl(second.memberId));
      expect(leave.statusCode).toBe(204);
      expect((await memberRows(workspaceId)).some((m) => m.id === second.memberId)).toBe(false);
    });
  });

  it.each([
    ["a manager", "manager"],
    ["an editor", "editor"],
    ["a viewer", "viewer"],
  ])("%s cannot invite, and nothing is stored", async (_, role) => {
    const member = await addMember(t.app, owner, workspaceId, role);
    const email = uniqueEmail(`by-${role}`);
    const response = await invite(member, workspaceId, { email, role: "viewer" });
    expect(problem(response)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
    expect((await memberRows(workspaceId)).some((m) => m.email === email)).toBe(false);
  });

  it("an editor cannot change or remove another member", async () => {
    const editor = await addMember(t.app, owner, workspaceId, "editor");
    const viewer = await addMember(t.app, owner, workspaceId, "viewer");
    const change = await call(t.app, editor, "PATCH", memberUrl(viewer.memberId), { role: "admin" });
    const remove = await call(t.app, editor, "DELETE", memberUrl(viewer.memberId));
    expect(problem(change)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
    expect(problem(remove)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
    expect((await memberRows(workspaceId)).find((m) => m.id === viewer.memberId)?.role).toBe("viewer");
  });

  it("a viewer can list members, a client-role member cannot", async () => {
    const viewer = await addMember(t.app, owner, workspaceId, "viewer");
    const clientId = await createClient(t.app, owner, workspaceId);
    const client = await addMember(t.app, owner, workspaceId, "client", [clientId]);
    const asViewer = await call(t.app, viewer, "GET", membersUrl(workspaceId));
    expect(asViewer.statusCode).toBe(200);
    expect(asViewer.json().items.map((m: Member) => m.id)).toContain(viewer.memberId);
    const asClient = await call(t.app, client, "GET", membersUrl(workspaceId));
    expect(problem(asClient)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
  });

  it("an admin API key can invite an editor but not an owner; other keys cannot invite", async () => {
    const adminKey = await createApiKey(t.app, owner, workspaceId, ["admin"]);
    const otherKey = await createApiKey(t.app, owner, workspaceId, ["posts:write", "accounts:write"]);
    const editor = await invite(adminKey, workspaceId, { email: uniqueEmail("by-key"), role: "editor" });
    expect(editor.statusCode).toBe(201);
    const ownerByKey = await invite(adminKey, workspaceId, {
      email: uniqueEmail("key-owner"),
      role: "owner",
    });
    expect(problem(ownerByKey)).toEqual({ status: 403, code: "HERALD_FORBIDDEN", paths: [] });
    const byOther = await invite(otherKey, workspaceId, { email: uniqueEmail("other-key"), role: "viewer" });
    expect(problem(byOther)).toEqual({ status: 403, code: "HERALD_INSUFFICIENT_SCOPE", paths: [] });
  });

  it("a non-member gets the same 404 as for a workspace that does not exist", async () => {
    const stranger = await signUp(t.app);
    const hidden = await call(t.app, stranger, "GET", membersUrl(workspaceId));
    const missing = await call(t.app, stranger, "GET", membersUrl(randomUUID()));
    expect(problem(hidden)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(withoutRequestId(hidden.json())).toEqual(withoutRequestId(missing.json()));
  });
});

describe("client restrictions", () => {
  let owner: Session;
  let workspaceId: string;
  let clientX: string;
  let clientY: string;
  let foreignClient: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Restrictions");
    clientX = await createClient(t.app, owner, workspaceId, { name: "X Brand" });
    clientY = await createClient(t.app, owner, workspaceId, { name: "Y Brand" });
    const otherWorkspace = await createWorkspace(t.app, owner, "Other Restrictions");
    foreignClient = await createClient(t.app, owner, otherWorkspace, { name: "Foreign Brand" });
  });

  async function expectNothingStored(email: string) {
    const rows = await memberRows(workspaceId);
    expect(rows.some((m) => m.email === email)).toBe(false);
    const links = await memberClientRows(workspaceId);
    const memberIds = new Set(rows.map((m) => m.id));
    expect(links.every((link) => memberIds.has(link.member_id))).toBe(true);
  }

  it.each([
    ["no clientIds", {}],
    ["an empty clientIds", { clientIds: [] }],
  ])("a client-role invitation with %s is a 400 on body.clientIds", async (_, extra) => {
    const email = uniqueEmail("client-none");
    const response = await invite(owner, workspaceId, { email, role: "client", ...extra });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.clientIds"],
    });
    await expectNothingStored(email);
  });

  it("a client of another workspace is a 400 naming its index, and nothing is stored", async () => {
    const email = uniqueEmail("client-foreign");
    const linksBefore = await memberClientRows(workspaceId);
    const response = await invite(owner, workspaceId, { email, role: "client", clientIds: [foreignClient] });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.clientIds.0"],
    });
    expect(response.json().errors[0].rule).toBe("not_found");
    await expectNothingStored(email);
    expect(await memberClientRows(workspaceId)).toEqual(linksBefore);
  });

  it("a random client id is a 400 naming its index, and nothing is stored", async () => {
    const email = uniqueEmail("client-random");
    const response = await invite(owner, workspaceId, { email, role: "client", clientIds: [randomUUID()] });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.clientIds.0"],
    });
    await expectNothingStored(email);
  });

  it("only the unknown ids of a list are named, by their index", async () => {
    const email = uniqueEmail("client-mixed");
    const response = await invite(owner, workspaceId, {
      email,
      role: "manager",
      clientIds: [clientX, randomUUID(), clientY, foreignClient],
    });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.clientIds.1", "body.clientIds.3"],
    });
    await expectNothingStored(email);
  });

  it("an unknown client id written in capitals is named by its index", async () => {
    const email = uniqueEmail("client-upper");
    const response = await invite(owner, workspaceId, {
      email,
      role: "client",
      clientIds: [clientX, randomUUID().toUpperCase()],
    });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.clientIds.1"],
    });
    await expectNothingStored(email);
  });

  it("a member limited to client X can read X by its id written in capitals, as an unrestricted one can", async () => {
    const manager = await addMember(t.app, owner, workspaceId, "manager", [clientX]);
    const url = `/api/v1/workspaces/${workspaceId}/clients/${clientX.toUpperCase()}`;
    const asOwnerResponse = await call(t.app, owner, "GET", url);
    expect(asOwnerResponse.statusCode).toBe(200);
    const asManager = await call(t.app, manager, "GET", url);
    expect(asManager.statusCode).toBe(200);
    expect(asManager.json().id).toBe(clientX);
  });

  it("a client-role invitation with a client of the workspace is stored with that client", async () => {
    const response = await invite(owner, workspaceId, {
      email: uniqueEmail("client-ok"),
      role: "client",
      clientIds: [clientX, clientX],
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ role: "client", clientIds: [clientX] });
    const links = (await memberClientRows(workspaceId)).filter((r) => r.member_id === response.json().id);
    expect(links.map((r) => r.client_id)).toEqual([clientX]);
  });

  it("a manager limited to client X sees only X, gets 404 for Y, and keeps seeing the clients they create", async () => {
    const manager = await addMember(t.app, owner, workspaceId, "manager", [clientX]);
    expect(await visibleClientIds(manager, workspaceId)).toEqual([clientX]);

    const base = `/api/v1/workspaces/${workspaceId}/clients`;
    expect((await call(t.app, manager, "GET", `${base}/${clientX}`)).statusCode).toBe(200);
    const hidden = await call(t.app, manager, "GET", `${base}/${clientY}`);
    const missing = await call(t.app, manager, "GET", `${base}/${randomUUID()}`);
    expect(problem(hidden)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(withoutRequestId(hidden.json())).toEqual(withoutRequestId(missing.json()));
    const rename = await call(t.app, manager, "PATCH", `${base}/${clientY}`, { name: "Taken over" });
    expect(problem(rename)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    const remove = await call(t.app, manager, "DELETE", `${base}/${clientY}`);
    expect(problem(remove)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    const y = await call(t.app, owner, "GET", `${base}/${clientY}`);
    expect(y.json().name).toBe("Y Brand");

    const created = await call(t.app, manager, "POST", base, { name: "Z Brand" });
    expect(created.statusCode).toBe(201);
    const clientZ: string = created.json().id;
    expect(sorted(await visibleClientIds(manager, workspaceId))).toEqual(sorted([clientX, clientZ]));
    const listed = (await listAll(owner, workspaceId)).find((m) => m.id === manager.memberId);
    expect(listed?.clientIds).toEqual(sorted([clientX, clientZ]));
  });

  it("an unrestricted manager sees every client", async () => {
    const manager = await addMember(t.app, owner, workspaceId, "manager");
    const visible = await visibleClientIds(manager, workspaceId);
    expect(visible).toEqual(expect.arrayContaining([clientX, clientY]));
    expect(visible).toEqual(await visibleClientIds(owner, workspaceId));
  });

  it("a client-role member sees only their own clients", async () => {
    const client = await addMember(t.app, owner, workspaceId, "client", [clientY]);
    expect(await visibleClientIds(client, workspaceId)).toEqual([clientY]);
    const other = await call(t.app, client, "GET", `/api/v1/workspaces/${workspaceId}/clients/${clientX}`);
    expect(problem(other)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
  });
});

describe("changing a member", () => {
  let owner: Session;
  let workspaceId: string;
  let clientX: string;
  let clientY: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Changes");
    clientX = await createClient(t.app, owner, workspaceId, { name: "X" });
    clientY = await createClient(t.app, owner, workspaceId, { name: "Y" });
  });

  const memberUrl = (memberId: string) => `${membersUrl(workspaceId)}/${memberId}`;

  it("changes the role and the client restriction, as the list then shows", async () => {
    const member = await addMember(t.app, owner, workspaceId, "viewer");
    const role = await call(t.app, owner, "PATCH", memberUrl(member.memberId), { role: "manager" });
    expect(role.statusCode).toBe(200);
    expect(role.json()).toMatchObject({ id: member.memberId, role: "manager", clientIds: [] });

    const clients = await call(t.app, owner, "PATCH", memberUrl(member.memberId), { clientIds: [clientY] });
    expect(clients.statusCode).toBe(200);
    expect(clients.json()).toMatchObject({ role: "manager", clientIds: [clientY] });
    expect(await visibleClientIds(member, workspaceId)).toEqual([clientY]);

    const both = await call(t.app, owner, "PATCH", memberUrl(member.memberId), {
      role: "client",
      clientIds: [clientX, clientY],
    });
    expect(both.statusCode).toBe(200);
    const listed = (await listAll(owner, workspaceId)).find((m) => m.id === member.memberId);
    expect(listed).toMatchObject({ role: "client", clientIds: sorted([clientX, clientY]), status: "active" });
  });

  it("an empty clientIds lifts the restriction of a manager", async () => {
    const member = await addMember(t.app, owner, workspaceId, "manager", [clientX]);
    expect(await visibleClientIds(member, workspaceId)).toEqual([clientX]);
    const response = await call(t.app, owner, "PATCH", memberUrl(member.memberId), { clientIds: [] });
    expect(response.statusCode).toBe(200);
    expect(response.json().clientIds).toEqual([]);
    expect(sorted(await visibleClientIds(member, workspaceId))).toEqual(sorted([clientX, clientY]));
  });

  it("making an unrestricted member a client without naming clients is a 400, changing nothing", async () => {
    const member = await addMember(t.app, owner, workspaceId, "editor");
    const response = await call(t.app, owner, "PATCH", memberUrl(member.memberId), { role: "client" });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.clientIds"],
    });
    expect((await memberRows(workspaceId)).find((m) => m.id === member.memberId)?.role).toBe("editor");
  });

  it("an unknown client id in a change is a 400 naming its index, changing nothing", async () => {
    const member = await addMember(t.app, owner, workspaceId, "manager", [clientX]);
    const response = await call(t.app, owner, "PATCH", memberUrl(member.memberId), {
      role: "editor",
      clientIds: [clientY, randomUUID()],
    });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["body.clientIds.1"],
    });
    expect((await memberRows(workspaceId)).find((m) => m.id === member.memberId)?.role).toBe("manager");
    const links = (await memberClientRows(workspaceId)).filter((r) => r.member_id === member.memberId);
    expect(links.map((r) => r.client_id)).toEqual([clientX]);
  });

  it.each([
    ["an unknown role", { role: "superuser" }, ["body.role"]],
    ["a client id that is not a UUID", { clientIds: ["nope"] }, ["body.clientIds.0"]],
  ])("rejects %s with 400", async (_, body, paths) => {
    const member = await addMember(t.app, owner, workspaceId, "viewer");
    const response = await call(t.app, owner, "PATCH", memberUrl(member.memberId), body);
    expect(problem(response)).toEqual({ status: 400, code: "HERALD_VALIDATION_FAILED", paths });
    expect((await memberRows(workspaceId)).find((m) => m.id === member.memberId)?.role).toBe("viewer");
  });

  it("rejects an empty change with 400", async () => {
    const member = await addMember(t.app, owner, workspaceId, "viewer");
    const response = await call(t.app, owner, "PATCH", memberUrl(member.memberId), {});
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe("HERALD_VALIDATION_FAILED");
  });

  it("answers 404 to PATCH and DELETE of an unknown member", async () => {
    const id = randomUUID();
    const change = await call(t.app, owner, "PATCH", memberUrl(id), { role: "viewer" });
    const remove = await call(t.app, owner, "DELETE", memberUrl(id));
    expect(problem(change)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(problem(remove)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
  });

  it("answers 404 to PATCH and DELETE of a member of another workspace, leaving them as they were", async () => {
    const elsewhere = await createWorkspace(t.app, owner, "Elsewhere");
    const stranger = await addMember(t.app, owner, elsewhere, "viewer");
    const change = await call(t.app, owner, "PATCH", memberUrl(stranger.memberId), { role: "admin" });
    const remove = await call(t.app, owner, "DELETE", memberUrl(stranger.memberId));
    expect(problem(change)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(problem(remove)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect((await memberRows(elsewhere)).find((m) => m.id === stranger.memberId)?.role).toBe("viewer");
  });

  it("rejects a member id that is not a UUID with 400 on params.memberId", async () => {
    const response = await call(t.app, owner, "PATCH", memberUrl("nope"), { role: "viewer" });
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["params.memberId"],
    });
  });
});

describe("removing a member", () => {
  let owner: Session;
  let workspaceId: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Removals");
  });

  it("withdraws an invitation: 204, the row is gone, and signing up later does not join", async () => {
    const email = uniqueEmail("withdrawn");
    const invited = await invite(owner, workspaceId, { email, role: "editor" });
    expect(invited.statusCode).toBe(201);
    const response = await call(t.app, owner, "DELETE", `${membersUrl(workspaceId)}/${invited.json().id}`);
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe("");
    expect((await memberRows(workspaceId)).some((m) => m.email === email)).toBe(false);

    const person = await signUp(t.app, email);
    expect(await workspaceIdsOf(person)).toEqual([]);
    const direct = await call(t.app, person, "GET", `/api/v1/workspaces/${workspaceId}`);
    expect(problem(direct)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
  });

  it("removes an active member, who then loses access, and their client links", async () => {
    const clientId = await createClient(t.app, owner, workspaceId);
    const member = await addMember(t.app, owner, workspaceId, "manager", [clientId]);
    expect((await call(t.app, member, "GET", `/api/v1/workspaces/${workspaceId}`)).statusCode).toBe(200);

    const response = await call(t.app, owner, "DELETE", `${membersUrl(workspaceId)}/${member.memberId}`);
    expect(response.statusCode).toBe(204);
    expect((await memberRows(workspaceId)).some((m) => m.id === member.memberId)).toBe(false);
    expect((await memberClientRows(workspaceId)).some((r) => r.member_id === member.memberId)).toBe(false);
    const after = await call(t.app, member, "GET", `/api/v1/workspaces/${workspaceId}`);
    expect(problem(after)).toEqual({ status: 404, code: "HERALD_NOT_FOUND", paths: [] });
    expect(await workspaceIdsOf(member)).toEqual([]);
  });

  it("answers 404 when the same member is removed twice", async () => {
    const member = await addMember(t.app, owner, workspaceId, "viewer");
    const url = `${membersUrl(workspaceId)}/${member.memberId}`;
    expect((await call(t.app, owner, "DELETE", url)).statusCode).toBe(204);
    expect(problem(await call(t.app, owner, "DELETE", url))).toEqual({
      status: 404,
      code: "HERALD_NOT_FOUND",
      paths: [],
    });
  });
});

describe("listing members", () => {
  let owner: Session;
  let workspaceId: string;
  let emails: string[];

  beforeAll(async () => {
    owner = await signUp(t.app, "mmm-owner@example.com");
    workspaceId = await createWorkspace(t.app, owner, "Pages");
    const invited = ["delta@example.com", "alpha@example.com", "echo@example.com", "bravo@example.com"];
    for (const email of invited) {
      expect((await invite(owner, workspaceId, { email, role: "viewer" })).statusCode).toBe(201);
    }
    emails = [...invited, owner.email].sort();
  });

  it("lists members and invitations by email", async () => {
    const response = await call(t.app, owner, "GET", membersUrl(workspaceId));
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.nextCursor).toBeNull();
    expect(body.items.map((m: Member) => m.email)).toEqual(emails);
    expect(body.items.map((m: Member) => m.status)).toEqual(
      emails.map((e) => (e === owner.email ? "active" : "invited")),
    );
  });

  it("walks every member once with limit and cursor, ending with nextCursor null", async () => {
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "limit=2" : `limit=2&cursor=${encodeURIComponent(cursor)}`;
      const response = await call(t.app, owner, "GET", `${membersUrl(workspaceId)}?${query}`);
      expect(response.statusCode).toBe(200);
      const page = response.json();
      sizes.push(page.items.length);
      seen.push(...page.items.map((m: Member) => m.email));
      cursor = page.nextCursor;
    } while (cursor !== null && sizes.length < 10);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen).toEqual(emails);
  });

  it("gives no next page when the last page is exactly full", async () => {
    const response = await call(t.app, owner, "GET", `${membersUrl(workspaceId)}?limit=${emails.length}`);
    expect(response.json().items).toHaveLength(emails.length);
    expect(response.json().nextCursor).toBeNull();
  });

  it("rejects a cursor from another list and a garbage cursor with 400 on query.cursor", async () => {
    const workspaces = await createWorkspace(t.app, owner, "Pages Two").then(() =>
      call(t.app, owner, "GET", "/api/v1/workspaces?limit=1"),
    );
    const foreign: string = workspaces.json().nextCursor;
    expect(typeof foreign).toBe("string");
    for (const cursor of [foreign, "garbage"]) {
      const response = await call(t.app, owner, "GET", `${membersUrl(workspaceId)}?cursor=${cursor}`);
      expect(problem(response)).toEqual({
        status: 400,
        code: "HERALD_VALIDATION_FAILED",
        paths: ["query.cursor"],
      });
    }
  });

  it.each(["0", "101"])("rejects limit=%s with 400 on query.limit", async (limit) => {
    const response = await call(t.app, owner, "GET", `${membersUrl(workspaceId)}?limit=${limit}`);
    expect(problem(response)).toEqual({
      status: 400,
      code: "HERALD_VALIDATION_FAILED",
      paths: ["query.limit"],
    });
  });
});
