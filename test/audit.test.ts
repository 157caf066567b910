/**
 * The audit trail: append-only for real, tamper-evident, written in the same transaction as the
 * change, readable and exportable by the workspace's admins, erasable per person (GDPR) without
 * breaking the chain, and kept according to the retention policy.
 */
import { randomUUID } from "node:crypto";
import { PassThrough } from "node:stream";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stripSecrets } from "../src/audit/audit.js";
import { NO_WORKSPACE } from "../src/audit/catalogue.js";
import { erasePerson, exportPerson, verifyChains } from "../src/audit/operator.js";
import { sealAll } from "../src/audit/sealer.js";
import { withWorkspace } from "../src/db/tenant.js";
import {
  addMember,
  call,
  createApiKey,
  createClient,
  createWorkspace,
  PASSWORD,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
  uniqueEmail,
} from "./helpers/app.js";
import { asOwner, createTestDatabase } from "./helpers/database.js";
import { expectProblem, validationPaths } from "./helpers/problems.js";

let t: TestApp;
let owner: Session;
let workspaceId: string;

const auditUrl = (id: string, rest = "") => `/api/v1/workspaces/${id}/audit${rest}`;

type Listed = { id: string; action: string; actor: { id: string | null }; outcome: string; severity: string };

async function events(as: Session | string, id: string, query = ""): Promise<Listed[]> {
  const response = await call(t.app, as, "GET", auditUrl(id, `?limit=100${query}`));
  expect(response.statusCode).toBe(200);
  return response.json().items;
}

/** Runs SQL as the owner acting as herald_audit (what the operator CLI does). */
async function asAuditOwner<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return asOwner(url, async (client) => {
    await client.query("set role herald_audit");
    return fn(client);
  });
}

async function verify(as: Session, id: string) {
  const response = await call(t.app, as, "GET", auditUrl(id, "/verify"));
  expect(response.statusCode).toBe(200);
  return response.json() as { ok: boolean; checked: number; firstBrokenId: string | null; unsealed: number };
}

beforeAll(async () => {
  t = await startTestApp();
  owner = await signUp(t.app, uniqueEmail("owner"), "Olive Owner");
  workspaceId = await createWorkspace(t.app, owner, "Audited");
});

afterAll(async () => {
  await t?.close();
});

describe("append-only storage", () => {
  it("the application role can neither update, delete nor truncate audit events", async () => {
    for (const sql of [
      "update audit_events set action = 'tampered'",
      "delete from audit_events",
      "truncate audit_events",
    ]) {
      await expect(withWorkspace(t.pool, workspaceId, (tx) => tx.query(sql))).rejects.toMatchObject({
        code: "42501",
      });
    }
  });

  it("even a superuser is refused by the trigger: only the erasure and retention functions may change rows", async () => {
    await expect(
      asOwner(t.db.url, (su) => su.query("update audit_events set details = '{}'")),
    ).rejects.toThrow(/append-only/);
    await expect(asOwner(t.db.url, (su) => su.query("delete from audit_events"))).rejects.toThrow(
      /append-only/,
    );
    await sealAll(t.pool);
    await expect(asOwner(t.db.url, (su) => su.query("delete from audit_seals"))).rejects.toThrow(
      /append-only/,
    );
    await expect(asOwner(t.db.url, (su) => su.query("truncate audit_seals"))).rejects.toThrow(/append-only/);
  });

  it("the application cannot choose an event's id, time or hashes", async () => {
    await expect(
      withWorkspace(t.pool, workspaceId, (tx) =>
        tx.query(
          `insert into audit_events (workspace_id, actor_type, action, outcome, severity, created_at)
           values ($1, 'system', 'client_created', 'success', 'low', '2000-01-01')`,
          [workspaceId],
        ),
      ),
    ).rejects.toMatchObject({ code: "42501" });
  });

  it("deleting a user or a workspace leaves their audit events", async () => {
    const person = await signUp(t.app, uniqueEmail("leaver"));
    const doomed = await createWorkspace(t.app, person, "Doomed");
    const before = await asOwner(t.db.url, (su) =>
      su.query("select count(*)::int as n from audit_events where workspace_id = $1 or actor_id = $2", [
        doomed,
        person.userId,
      ]),
    );
    expect(before.rows[0].n).toBeGreaterThanOrEqual(2);
    await asOwner(t.db.url, async (su) => {
      await su.query("delete from workspaces where id = $1", [doomed]);
      await su.query("delete from users where id = $1", [person.userId]);
    });
    const after = await asOwner(t.db.url, (su) =>
      su.query("select count(*)::int as n from audit_events where workspace_id = $1 or actor_id = $2", [
        doomed,
        person.userId,
      ]),
    );
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});

describe("the hash chain", () => {
  it("verify reports recent events as unsealed, then checks them all once sealed", async () => {
    const id = await createWorkspace(t.app, owner, "Chain");
    await createClient(t.app, owner, id, { name: "Chain client" });
    const before = await verify(owner, id);
    expect(before.unsealed).toBeGreaterThanOrEqual(2);
    await sealAll(t.pool);
    const after = await verify(owner, id);
    expect(after).toEqual({
      ok: true,
      checked: before.checked + before.unsealed,
      firstBrokenId: null,
      unsealed: 0,
    });
  });

  it("after a superuser edits one event's details, verify names exactly that event", async () => {
    const id = await createWorkspace(t.app, owner, "Tampered");
    for (const name of ["One", "Two", "Three"]) await createClient(t.app, owner, id, { name });
    await sealAll(t.pool);
    expect((await verify(owner, id)).ok).toBe(true);
    const victim = (await events(owner, id, "&action=client_created")).find(
      (e) => e.action === "client_created",
    );
    // Triggers off for this session: a superuser can do anything, but not unseen.
    await asOwner(t.db.url, (su) =>
      su.query(`set session_replication_role = replica;
                update audit_events set details = '{"name":"Forged"}' where id = '${victim?.id}'`),
    );
    expect(await verify(owner, id)).toMatchObject({ ok: false, firstBrokenId: victim?.id });
    const cli = await asAuditOwner(t.db.url, (client) => verifyChains(client, id));
    expect(cli).toEqual([expect.objectContaining({ workspaceId: id, ok: false, firstBrokenId: victim?.id })]);
  });

  it("a removed event, or removed last seals, break the chain", async () => {
    const id = await createWorkspace(t.app, owner, "Truncated");
    for (const name of ["A", "B", "C"]) await createClient(t.app, owner, id, { name });
    await sealAll(t.pool);
    const seals = await asOwner(t.db.url, (su) =>
      su.query<{ seq: string; event_id: string }>(
        "select seq, event_id from audit_seals where workspace_id = $1 order by seq",
        [id],
      ),
    );
    const middle = seals.rows[1];
    const last = seals.rows.at(-1);
    await asOwner(t.db.url, (su) =>
      su.query(`set session_replication_role = replica;
                delete from audit_events where id = '${middle?.event_id}';
                delete from audit_seals where workspace_id = '${id}' and seq = ${last?.seq}`),
    );
    expect(await verify(owner, id)).toMatchObject({ ok: false, firstBrokenId: middle?.event_id });
  });

  it("four concurrent writers on one workspace, sealed while they write, leave one linear chain", async () => {
    const id = await createWorkspace(t.app, owner, "Busy");
    const writer = async (n: number) => {
      for (let i = 0; i < 20; i++) {
        const response = await call(t.app, owner, "POST", `/api/v1/workspaces/${id}/clients`, {
          name: `W${n}-${i}`,
        });
        expect(response.statusCode).toBe(201);
      }
    };
    let writing = true;
    const sealer = (async () => {
      while (writing) await sealAll(t.pool);
    })();
    await Promise.all([writer(1), writer(2), writer(3), writer(4), sealAll(t.pool)]);
    writing = false;
    await sealer;
    await sealAll(t.pool);
    const chain = await asOwner(t.db.url, (su) =>
      su.query<{ n: number; max: number; distinct_prev: number }>(
        "select count(*)::int as n, max(seq)::int as max, count(distinct prev_hash)::int as distinct_prev from audit_seals where workspace_id = $1",
        [id],
      ),
    );
    // workspace_created + 80 client_created, seq 1..81, no two seals on the same predecessor.
    expect(chain.rows[0]).toEqual({ n: 81, max: 81, distinct_prev: 81 });
    expect(await verify(owner, id)).toEqual({ ok: true, checked: 81, firstBrokenId: null, unsealed: 0 });
  });
});

describe("one transaction with the change", () => {
  it("a request that fails after its change leaves neither the change nor its event", async () => {
    // Make the audit insert fail for this one client: the client insert before it must roll back.
    await asOwner(t.db.url, (su) =>
      su.query(
        "alter table audit_events add constraint test_refuse check (details->>'name' is distinct from 'Doomed client')",
      ),
    );
    try {
      const response = await call(t.app, owner, "POST", `/api/v1/workspaces/${workspaceId}/clients`, {
        name: "Doomed client",
      });
      expect(response.statusCode).toBe(500);
    } finally {
      await asOwner(t.db.url, (su) => su.query("alter table audit_events drop constraint test_refuse"));
    }
    const left = await asOwner(t.db.url, (su) =>
      su.query(
        `select (select count(*)::int from clients where name = 'Doomed client') as clients,
                (select count(*)::int from audit_events where details->>'name' = 'Doomed client') as events`,
      ),
    );
    expect(left.rows[0]).toEqual({ clients: 0, events: 0 });
  });
});

describe("what is recorded", () => {
  it("sign-up, sign-in, a failed sign-in and sign-out go to the identity chain, with IP and user agent", async () => {
    const email = uniqueEmail("identity");
    const person = await signUp(t.app, email);
    const headers = { "user-agent": "audit-test/1.0" };
    await call(
      t.app,
      undefined,
      "POST",
      "/api/v1/auth/sign-in",
      { email, password: "not the password at all" },
      headers,
    );
    const signedIn = await call(
      t.app,
      undefined,
      "POST",
      "/api/v1/auth/sign-in",
      { email, password: PASSWORD },
      headers,
    );
    expect(signedIn.statusCode).toBe(200);
    await call(t.app, person, "POST", "/api/v1/auth/sign-out");
    const { rows } = await asOwner(t.db.url, (su) =>
      su.query(
        `select action, outcome, actor_type, host(ip) as ip, user_agent, subject_email from audit_events
         where workspace_id = $1 and (actor_id = $2 or subject_email = $3) order by created_at`,
        [NO_WORKSPACE, person.userId, email],
      ),
    );
    expect(rows.map((r) => `${r.action}:${r.outcome}`)).toEqual([
      "user_signed_up:success",
      "sign_in_failed:failure",
      "user_signed_in:success",
      "user_signed_out:success",
    ]);
    expect(rows[1]).toMatchObject({
      actor_type: "anonymous",
      subject_email: email,
      user_agent: "audit-test/1.0",
    });
    expect(rows[2]).toMatchObject({ actor_type: "user", ip: "127.0.0.1" });
  });

  it("workspace, member, client and API key changes are recorded with actor, target and request id", async () => {
    const id = await createWorkspace(t.app, owner, "Busy Bee");
    const clientId = await createClient(t.app, owner, id, { name: "Bee client" });
    await call(t.app, owner, "PATCH", `/api/v1/workspaces/${id}/clients/${clientId}`, {
      name: "Bee client 2",
    });
    const member = await addMember(t.app, owner, id, "editor");
    await call(t.app, owner, "PATCH", `/api/v1/workspaces/${id}/members/${member.memberId}`, {
      role: "viewer",
    });
    await call(t.app, owner, "DELETE", `/api/v1/workspaces/${id}/members/${member.memberId}`);
    const key = await call(t.app, owner, "POST", `/api/v1/workspaces/${id}/api-keys`, {
      name: "k",
      scopes: ["posts:read"],
    });
    await call(t.app, owner, "DELETE", `/api/v1/workspaces/${id}/api-keys/${key.json().id}`);
    await call(t.app, owner, "DELETE", `/api/v1/workspaces/${id}/clients/${clientId}`, undefined, {
      "x-request-id": "req-delete-client",
    });
    await call(t.app, owner, "PATCH", `/api/v1/workspaces/${id}`, { name: "Busy Bees" });
    const listed = await events(owner, id);
    expect(listed.map((e) => e.action).reverse()).toEqual([
      "workspace_created",
      "client_created",
      "client_updated",
      "member_invited",
      "member_joined",
      "member_role_changed",
      "member_removed",
      "api_key_created",
      "api_key_revoked",
      "client_deleted",
      "workspace_updated",
    ]);
    const deleted = (await call(t.app, owner, "GET", auditUrl(id, "?action=client_deleted"))).json().items[0];
    expect(deleted).toMatchObject({
      actor: { type: "user", id: owner.userId, name: "Olive Owner", email: owner.email },
      target: { type: "client", id: clientId },
      clientId,
      requestId: "req-delete-client",
      outcome: "success",
    });
    const updated = (await call(t.app, owner, "GET", auditUrl(id, "?action=client_updated"))).json().items[0];
    expect(updated.details).toEqual({ name: { before: "Bee client", after: "Bee client 2" } });
  });

  it("no secret reaches the details: the API key's secret is not in its event", async () => {
    const id = await createWorkspace(t.app, owner, "Secrets");
    const key = await call(t.app, owner, "POST", `/api/v1/workspaces/${id}/api-keys`, {
      name: "k",
      scopes: ["admin"],
    });
    const secret: string = key.json().secret;
    const { rows } = await asOwner(t.db.url, (su) =>
      su.query("select e::text as row from audit_events e where workspace_id = $1", [id]),
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.row).not.toContain(secret);
    expect(
      stripSecrets({
        password: "p",
        nested: { accessToken: "t", tokenExpiresAt: "2030" },
        note: "hrld_abc",
        code: "x",
      }),
    ).toEqual({
      password: "[redacted]",
      nested: { accessToken: "[redacted]", tokenExpiresAt: "2030" },
      note: "[redacted]",
      code: "[redacted]",
    });
  });

  it("a member refused by their role leaves an access_denied event", async () => {
    const id = await createWorkspace(t.app, owner, "Denials");
    const viewer = await addMember(t.app, owner, id, "viewer");
    const response = await call(t.app, viewer, "POST", `/api/v1/workspaces/${id}/clients`, { name: "Nope" });
    expect(response.statusCode).toBe(403);
    const denied = (await events(owner, id, "&action=access_denied"))[0];
    expect(denied).toMatchObject({ outcome: "denied", severity: "medium", actor: { id: viewer.userId } });
  });

  it("ids of another workspace leave a cross_tenant_attempt there, and three raise a security alert", async () => {
    const victimOwner = await signUp(t.app);
    const victim = await createWorkspace(t.app, victimOwner, "Victim");
    const victimClient = await createClient(t.app, victimOwner, victim, { name: "Secret client" });
    const intruder = await signUp(t.app);
    const own = await createWorkspace(t.app, intruder, "Intruder");
    // A stranger probing the victim's workspace, then the victim's client through their own.
    expect((await call(t.app, intruder, "GET", `/api/v1/workspaces/${victim}/clients`)).statusCode).toBe(404);
    expect(
      (await call(t.app, intruder, "GET", `/api/v1/workspaces/${own}/clients/${victimClient}`)).statusCode,
    ).toBe(404);
    expect(
      (await call(t.app, intruder, "GET", `/api/v1/workspaces/${randomUUID()}/clients`)).statusCode,
    ).toBe(404);
    let attempts = await events(victimOwner, victim, "&action=cross_tenant_attempt");
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toMatchObject({
      severity: "high",
      outcome: "denied",
      actor: { id: intruder.userId },
    });
    expect(await events(victimOwner, victim, "&action=security_alert")).toHaveLength(0);
    await call(t.app, intruder, "DELETE", `/api/v1/workspaces/${victim}/clients/${victimClient}`);
    attempts = await events(victimOwner, victim, "&action=cross_tenant_attempt");
    expect(attempts).toHaveLength(3);
    const alerts = await events(victimOwner, victim, "&action=security_alert");
    expect(alerts).toEqual([
      expect.objectContaining({
        severity: "critical",
        actor: expect.objectContaining({ id: intruder.userId }),
      }),
    ]);
    // Nothing about the victim lands in the intruder's trail.
    expect(await events(intruder, own, "&action=cross_tenant_attempt")).toHaveLength(0);
  });

  it("five failed sign-ins for one account raise one security alert", async () => {
    const email = uniqueEmail("target");
    await signUp(t.app, email);
    for (let i = 0; i < 6; i++) {
      await call(
        t.app,
        undefined,
        "POST",
        "/api/v1/auth/sign-in",
        { email, password: `wrong guess ${i}` },
        {},
      );
    }
    const { rows } = await asOwner(t.db.url, (su) =>
      su.query(
        "select details->>'rule' as rule from audit_events where workspace_id = $1 and action = 'security_alert' and subject_email = $2",
        [NO_WORKSPACE, email],
      ),
    );
    expect(rows).toEqual([{ rule: "repeated_failed_sign_ins_for_account" }]);
  });
});

describe("failed sign-ins from one address", () => {
  it("twenty, on any accounts, raise one security alert naming the rule", async () => {
    const guesses = await startTestApp({ HERALD_SIGNIN_LIMIT_PER_IP: "1000" }, { db: t.db });
    try {
      for (let i = 0; i < 21; i++) {
        const response = await guesses.app.inject({
          method: "POST",
          url: "/api/v1/auth/sign-in",
          remoteAddress: "192.0.2.77",
          payload: { email: uniqueEmail("spray"), password: "password spraying" },
        });
        expect(response.statusCode).toBe(401);
      }
    } finally {
      await guesses.close();
    }
    const { rows } = await asOwner(t.db.url, (su) =>
      su.query(
        "select details->>'rule' as rule from audit_events where action = 'security_alert' and ip = '192.0.2.77'",
      ),
    );
    expect(rows).toEqual([{ rule: "repeated_failed_sign_ins_from_ip" }]);
  });
});

describe("reading the trail", () => {
  let id: string;
  beforeAll(async () => {
    id = await createWorkspace(t.app, owner, "Reading");
    for (let i = 0; i < 5; i++) await createClient(t.app, owner, id, { name: `Reading ${i}` });
  });

  it("pages newest first with a cursor", async () => {
    const first = (await call(t.app, owner, "GET", auditUrl(id, "?limit=4"))).json();
    expect(first.items).toHaveLength(4);
    const second = (
      await call(t.app, owner, "GET", auditUrl(id, `?limit=4&cursor=${first.nextCursor}`))
    ).json();
    expect(second.items).toHaveLength(2);
    expect(second.nextCursor).toBeNull();
    const all = [...first.items, ...second.items];
    expect(all.at(-1).action).toBe("workspace_created");
    const times = all.map((e: { createdAt: string }) => Date.parse(e.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it("filters by action, actor, outcome, severity and time", async () => {
    expect((await events(owner, id, "&action=client_created")).length).toBe(5);
    expect(
      (await events(owner, id, `&actorId=${owner.userId}&severity=medium`)).map((e) => e.action),
    ).toEqual(["workspace_created"]);
    expect(await events(owner, id, "&outcome=denied")).toEqual([]);
    expect(await events(owner, id, `&to=${encodeURIComponent("2000-01-01T00:00:00Z")}`)).toEqual([]);
  });

  it("rejects bad filters, an inverted range and a cursor from another query, naming the field", async () => {
    expect(validationPaths(await call(t.app, owner, "GET", auditUrl(id, "?action=client_exploded")))).toEqual(
      ["query.action"],
    );
    expect(
      validationPaths(await call(t.app, owner, "GET", auditUrl(id, "?actorId=42&severity=extreme"))),
    ).toEqual(["query.actorId", "query.severity"]);
    const inverted = `?from=${encodeURIComponent("2030-01-02T00:00:00Z")}&to=${encodeURIComponent("2030-01-01T00:00:00Z")}`;
    expect(validationPaths(await call(t.app, owner, "GET", auditUrl(id, inverted)))).toEqual(["query.from"]);
    const cursor = (await call(t.app, owner, "GET", auditUrl(id, "?limit=1"))).json().nextCursor;
    const reused = await call(
      t.app,
      owner,
      "GET",
      auditUrl(id, `?limit=1&action=client_created&cursor=${cursor}`),
    );
    expect(validationPaths(reused)).toEqual(["query.cursor"]);
  });

  it("is for owners, admins and audit:read keys only", async () => {
    for (const role of ["manager", "editor", "viewer"]) {
      const member = await addMember(t.app, owner, id, role);
      expectProblem(await call(t.app, member, "GET", auditUrl(id)), 403, "HERALD_FORBIDDEN");
    }
    const admin = await addMember(t.app, owner, id, "admin");
    expect((await call(t.app, admin, "GET", auditUrl(id))).statusCode).toBe(200);
    const reader = await createApiKey(t.app, owner, id, ["audit:read"]);
    expect((await call(t.app, reader, "GET", auditUrl(id, "/verify"))).statusCode).toBe(200);
    const poster = await createApiKey(t.app, owner, id, ["posts:write"]);
    expectProblem(await call(t.app, poster, "GET", auditUrl(id)), 403, "HERALD_INSUFFICIENT_SCOPE");
  });

  it("exports CSV and JSON, records the export, and guards spreadsheets against formulas", async () => {
    await createClient(t.app, owner, id, { name: '=HYPERLINK("http://evil")' });
    const csv = await call(t.app, owner, "GET", auditUrl(id, "/export?format=csv&action=client_created"));
    expect(csv.statusCode).toBe(200);
    expect(csv.headers["content-type"]).toMatch(/^text\/csv/);
    expect(csv.headers["content-disposition"]).toMatch(/attachment; filename="herald-audit-.*\.csv"/);
    const lines = csv.body.trim().split("\r\n");
    expect(lines[0]).toMatch(/^id,created_at,action,/);
    expect(lines).toHaveLength(1 + 6);
    expect(csv.body).not.toMatch(/(^|,)"?=HYPERLINK/m);
    const json = await call(t.app, owner, "GET", auditUrl(id, "/export?format=json&action=client_created"));
    const exported = json.json();
    expect(exported).toHaveLength(6);
    expect(exported[0]).toMatchObject({ action: "client_created", actor: { id: owner.userId } });
    const recorded = await events(owner, id, "&action=audit_exported");
    expect(recorded).toHaveLength(2);
  });

  it("refuses an export wider than the configured maximum, naming the limit", async () => {
    const wide = `/export?from=${encodeURIComponent("2020-01-01T00:00:00Z")}&to=${encodeURIComponent("2026-01-01T00:00:00Z")}`;
    const response = await call(t.app, owner, "GET", auditUrl(id, wide));
    const body = expectProblem(response, 400, "HERALD_VALIDATION_FAILED");
    expect(body.detail).toContain("366 days");
    expect(body.errors?.[0]?.path).toBe("query.from");
  });
});

describe("GDPR", () => {
  it("exports everything about a person, across workspaces", async () => {
    const email = uniqueEmail("subject");
    const person = await signUp(t.app, email, "Sam Subject");
    const a = await createWorkspace(t.app, person, "Sam A");
    const b = await createWorkspace(t.app, person, "Sam B");
    const out = new PassThrough();
    let text = "";
    out.on("data", (chunk) => {
      text += chunk;
    });
    const count = await asAuditOwner(t.db.url, (client) => exportPerson(client, email, out));
    const rows = text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(rows).toHaveLength(count);
    expect(rows.map((r) => r.workspace_id)).toEqual(expect.arrayContaining([a, b, NO_WORKSPACE]));
  });

  it("erasure leaves no trace of the person's email or IP in any event, is itself audited, and verify still passes", async () => {
    const email = uniqueEmail("forgetme");
    const person = await signUp(t.app, email, "Forget Me");
    const id = await createWorkspace(t.app, person, "Forgettable");
    await createClient(t.app, person, id, { name: "Their client" });
    await call(t.app, owner, "POST", `/api/v1/workspaces/${workspaceId}/members`, { email, role: "viewer" });
    await call(
      t.app,
      undefined,
      "POST",
      "/api/v1/auth/sign-in",
      { email, password: "wrong wrong wrong" },
      {},
    );
    await sealAll(t.pool);
    const traces = () =>
      asOwner(t.db.url, (su) =>
        su.query<{ n: number }>(
          `select count(*)::int as n from audit_all_events e
           where e::text ilike $1 or e::text ilike '%Forget Me%' or (e.actor_id = $2 and e.ip is not null)`,
          [`%${email}%`, person.userId],
        ),
      );
    expect((await traces()).rows[0]?.n).toBeGreaterThan(0);

    const result = await asAuditOwner(t.db.url, (client) => erasePerson(client, email));
    expect(result.rows).toBeGreaterThanOrEqual(4);
    expect((await traces()).rows[0]?.n).toBe(0);

    await sealAll(t.pool);
    const reports = await asAuditOwner(t.db.url, (client) => verifyChains(client));
    expect(reports.find((r) => r.workspaceId === id)).toMatchObject({ ok: true });
    expect(reports.find((r) => r.workspaceId === NO_WORKSPACE)).toMatchObject({ ok: true });
    const erasure = await asOwner(t.db.url, (su) =>
      su.query("select details from audit_events where action = 'audit_erasure' and target_id = $1", [
        person.userId,
      ]),
    );
    expect(erasure.rows).toEqual([
      { details: expect.objectContaining({ rows: result.rows, pseudonym: result.pseudonym }) },
    ]);
  });
});

describe("retention", () => {
  it("moves old months to the archive and drops older ones, and the chain still verifies across the boundary", async () => {
    const db = await createTestDatabase();
    try {
      const id = randomUUID();
      const now = new Date();
      const monthsAgo = (n: number) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - n, 15));
      await asAuditOwner(db.url, async (client) => {
        await client.query("select herald_audit_ensure_partitions(1, 30)");
        // Two events in each of the last 30 months, oldest first.
        for (let n = 30; n >= 0; n--) {
          for (let k = 0; k < 2; k++) {
            await client.query(
              `insert into audit_events (workspace_id, actor_type, action, outcome, severity, created_at)
               values ($1, 'system', 'client_created', 'success', 'low', $2)`,
              [id, new Date(monthsAgo(n).getTime() + k * 1000)],
            );
          }
        }
        await client.query("select herald_audit_seal(100000)");
        await client.query("update audit_settings set archive_after = '200 days', purge_after = '400 days'");
      });
      const before = await asAuditOwner(db.url, (client) => verifyChains(client, id));
      expect(before).toEqual([{ workspaceId: id, ok: true, checked: 62, firstBrokenId: null, unsealed: 0 }]);

      // The worker's daily task, as the application role.
      const { rows } = await db.appPool.query("select * from herald_audit_retention()");
      expect(rows[0].archived).toBeGreaterThan(0);
      expect(rows[0].purged).toBeGreaterThan(0);

      const state = await asAuditOwner(db.url, (client) =>
        client.query<{ live: number; archived: number; oldest: Date; checkpoint: number }>(
          `select (select count(*)::int from audit_events where workspace_id = $1) as live,
                  (select count(*)::int from audit_archive.events where workspace_id = $1) as archived,
                  (select min(created_at) from audit_all_events where workspace_id = $1) as oldest,
                  (select seq::int from audit_checkpoints where workspace_id = $1) as checkpoint`,
          [id],
        ),
      );
      const { live, archived, oldest, checkpoint } = state.rows[0] ?? {
        live: 0,
        archived: 0,
        oldest: now,
        checkpoint: 0,
      };
      expect(live).toBeGreaterThan(0);
      expect(archived).toBeGreaterThan(0);
      expect(now.getTime() - oldest.getTime()).toBeLessThan(430 * 86_400_000);
      expect(checkpoint + live + archived).toBe(62);

      const after = await asAuditOwner(db.url, (client) => verifyChains(client, id));
      expect(after).toEqual([
        { workspaceId: id, ok: true, checked: live + archived, firstBrokenId: null, unsealed: 0 },
      ]);
      // The application role cannot move the horizon itself.
      await expect(db.appPool.query("update audit_settings set purge_after = '1 day'")).rejects.toMatchObject(
        { code: "42501" },
      );
    } finally {
      await db.drop();
    }
  });
});

describe("suspicious activity becomes an alert", () => {
  it("three cross-tenant attempts open exactly one critical alert and one notification delivery", async () => {
    const victimOwner = await signUp(t.app);
    const victim = await createWorkspace(t.app, victimOwner, "Alerted victim");
    await asOwner(t.db.url, (o) =>
      o.query(
        "insert into notification_channels (workspace_id, kind, name, target) values ($1, 'email', 'Ops', 'ops@example.com')",
        [victim],
      ),
    );
    const intruder = await signUp(t.app);
    // Five probes: the rule fires at the third; the later ones open nothing more.
    for (let i = 0; i < 5; i++) {
      expect((await call(t.app, intruder, "GET", `/api/v1/workspaces/${victim}/clients`)).statusCode).toBe(
        404,
      );
    }
    const alerts = (await call(t.app, victimOwner, "GET", `/api/v1/workspaces/${victim}/alerts`)).json()
      .items;
    expect(alerts).toEqual([
      expect.objectContaining({
        ruleId: null,
        ruleName: "Suspicious activity",
        severity: "critical",
        status: "firing",
        scopeKey: "kind:repeated_cross_tenant_attempts",
      }),
    ]);
    const deliveries = await asOwner(t.db.url, (o) =>
      o.query("select event_type from notification_deliveries where workspace_id = $1", [victim]),
    );
    expect(deliveries.rows).toEqual([{ event_type: "alert.fired" }]);
    // A second intruder crossing the threshold while the alert is open: still one open alert per kind.
    const second = await signUp(t.app);
    for (let i = 0; i < 3; i++) await call(t.app, second, "GET", `/api/v1/workspaces/${victim}/clients`);
    const after = (await call(t.app, victimOwner, "GET", `/api/v1/workspaces/${victim}/alerts`)).json().items;
    expect(after).toHaveLength(1);
    // Acknowledging works as for rule alerts; the health of the victim's owner counts it.
    const ack = await call(
      t.app,
      victimOwner,
      "POST",
      `/api/v1/workspaces/${victim}/alerts/${after[0].id}/acknowledge`,
    );
    expect(ack.json()).toMatchObject({ status: "acknowledged", acknowledgedBy: victimOwner.userId });
    const health = (await call(t.app, victimOwner, "GET", "/api/v1/monitoring/health")).json();
    expect(health.alerts.bySeverity.critical).toBe(1);
  });
});
