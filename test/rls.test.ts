/**
 * Row-level security on its own: queries run as the application role, with no service code and no
 * WHERE clauses, and still see only the workspace set for the transaction.
 *
 * Every table with a workspace_id column is found from the catalogue, so a table added later is
 * covered automatically; it must also get a fixture row below, or this test fails and says so.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withTransaction, withWorkspace } from "../src/db/tenant.js";
import { APP_ROLE, asOwner, createTestDatabase, type TestDatabase } from "./helpers/database.js";

type Ids = {
  workspace: string;
  user: string;
  member: string;
  client: string;
  account: string;
  credential: string;
  post: string;
  target: string;
  webhook: string;
  rule: string;
  channel: string;
};

/** One row per tenant table for a workspace, written as the owner. */
const FIXTURES: Record<string, (ids: Ids) => { sql: string; values: unknown[] }> = {
  workspaces: (ids) => ({
    sql: "insert into workspaces (id, name, slug) values ($1, 'W', $2)",
    values: [ids.workspace, `w-${ids.workspace.slice(0, 8)}`],
  }),
  members: (ids) => ({
    sql: "insert into members (id, workspace_id, user_id, email, role, status) values ($1, $2, $3, $4, 'owner', 'active')",
    values: [ids.member, ids.workspace, ids.user, `${ids.user}@example.com`],
  }),
  clients: (ids) => ({
    sql: "insert into clients (id, workspace_id, name, name_key) values ($1, $2, 'Client', 'client')",
    values: [ids.client, ids.workspace],
  }),
  member_clients: (ids) => ({
    sql: "insert into member_clients (workspace_id, member_id, client_id) values ($1, $2, $3)",
    values: [ids.workspace, ids.member, ids.client],
  }),
  audit_events: (ids) => ({
    sql: "insert into audit_events (workspace_id, actor_type, action, outcome, severity) values ($1, 'system', 'client_created', 'success', 'low')",
    values: [ids.workspace],
  }),
  audit_seals: (ids) => ({
    sql: "insert into audit_seals (workspace_id, seq, event_id, event_created_at, prev_hash, hash) values ($1, 1, $2, now(), '\\x00', '\\x00')",
    values: [ids.workspace, randomUUID()],
  }),
  account_credentials: (ids) => ({
    sql: "insert into account_credentials (id, workspace_id, platform, subject, access_token, key_id) values ($1, $2, 'sandbox', 'someone', '\\x01', 'k')",
    values: [ids.credential, ids.workspace],
  }),
  social_accounts: (ids) => ({
    sql: "insert into social_accounts (id, workspace_id, platform, platform_account_id, name, status, credential_id) values ($1, $2, 'sandbox', 'acct', 'Acct', 'active', $3)",
    values: [ids.account, ids.workspace, ids.credential],
  }),
  account_clients: (ids) => ({
    sql: "insert into account_clients (workspace_id, account_id, client_id) values ($1, $2, $3)",
    values: [ids.workspace, ids.account, ids.client],
  }),
  oauth_states: (ids) => ({
    sql: "insert into oauth_states (workspace_id, user_id, platform, state_hash, key_id, redirect_uri, expires_at) values ($1, $2, 'sandbox', $3, 'k', 'http://x', now())",
    values: [ids.workspace, ids.user, Buffer.from(randomUUID())],
  }),
  pending_connections: (ids) => ({
    sql: "insert into pending_connections (workspace_id, user_id, platform, accounts, credentials, key_id, expires_at) values ($1, $2, 'sandbox', '[]', '\\x01', 'k', now())",
    values: [ids.workspace, ids.user],
  }),
  media: (ids) => ({
    sql: "insert into media (workspace_id, kind, mime_type, size_bytes, sha256, storage_key) values ($1, 'image', 'image/png', 1, '\\x00', $2)",
    values: [ids.workspace, `key-${randomUUID()}.png`],
  }),
  posts: (ids) => ({
    sql: "insert into posts (id, workspace_id, client_id, content) values ($1, $2, $3, '{}')",
    values: [ids.post, ids.workspace, ids.client],
  }),
  post_targets: (ids) => ({
    sql: "insert into post_targets (id, workspace_id, post_id, account_id, platform, status) values ($1, $2, $3, $4, 'sandbox', 'draft')",
    values: [ids.target, ids.workspace, ids.post, ids.account],
  }),
  publish_attempts: (ids) => ({
    sql: "insert into publish_attempts (workspace_id, target_id, attempt, platform) values ($1, $2, 1, 'sandbox')",
    values: [ids.workspace, ids.target],
  }),
  post_requests: (ids) => ({
    sql: "insert into post_requests (workspace_id, principal_id, key, request_hash) values ($1, $2, 'k', '\\x00')",
    values: [ids.workspace, ids.user],
  }),
  webhooks: (ids) => ({
    sql: "insert into webhooks (id, workspace_id, url, events, secret, key_id) values ($1, $2, 'https://example.com/h', '{post.failed}', '\\x01', 'k')",
    values: [ids.webhook, ids.workspace],
  }),
  webhook_deliveries: (ids) => ({
    sql: "insert into webhook_deliveries (workspace_id, webhook_id, event_type, message_id, payload) values ($1, $2, 'post.failed', 'msg', '{}')",
    values: [ids.workspace, ids.webhook],
  }),
  notification_channels: (ids) => ({
    sql: "insert into notification_channels (id, workspace_id, kind, name, target) values ($1, $2, 'email', 'Ops', 'ops@example.com')",
    values: [ids.channel, ids.workspace],
  }),
  notification_deliveries: (ids) => ({
    sql: "insert into notification_deliveries (workspace_id, channel_id, event_type, severity, message_id, payload) values ($1, $2, 'alert.fired', 'error', 'msg', '{}')",
    values: [ids.workspace, ids.channel],
  }),
  alert_rules: (ids) => ({
    sql: "insert into alert_rules (id, workspace_id, name, metric, window_seconds, comparison, threshold, severity) values ($1, $2, 'R', 'publish_attempts', 3600, '>', 1, 'info')",
    values: [ids.rule, ids.workspace],
  }),
  alerts: (ids) => ({
    sql: "insert into alerts (workspace_id, rule_id, rule_name, metric, severity, scope_key, message) values ($1, $2, 'R', 'publish_attempts', 'info', 'workspace', 'm')",
    values: [ids.workspace, ids.rule],
  }),
  api_keys: (ids) => ({
    sql: "insert into api_keys (workspace_id, name, secret_hash, prefix, scopes) values ($1, 'k', $2, 'hrld_x', '{admin}')",
    values: [ids.workspace, Buffer.from(randomUUID())],
  }),
};

let db: TestDatabase;
let tenantTables: string[];
const newIds = (): Ids => ({
  workspace: randomUUID(),
  user: randomUUID(),
  member: randomUUID(),
  client: randomUUID(),
  account: randomUUID(),
  credential: randomUUID(),
  post: randomUUID(),
  target: randomUUID(),
  webhook: randomUUID(),
  rule: randomUUID(),
  channel: randomUUID(),
});
const a = newIds();
const b = newIds();

/** The column naming the tenant: `id` for workspaces itself, `workspace_id` elsewhere. */
const tenantColumn = (table: string) => (table === "workspaces" ? "id" : "workspace_id");

beforeAll(async () => {
  db = await createTestDatabase();
  tenantTables = await asOwner(db.url, async (owner) => {
    const { rows } = await owner.query<{ table_name: string }>(
      `select c.table_name from information_schema.columns c
       join pg_class k on k.relname = c.table_name and k.relnamespace = 'public'::regnamespace
       where c.table_schema = 'public' and c.column_name = 'workspace_id' and not k.relispartition
         and has_table_privilege($1, k.oid, 'select')
       union select 'workspaces' order by 1`,
      [APP_ROLE],
    );
    return rows.map((row) => row.table_name);
  });
  await asOwner(db.url, async (owner) => {
    for (const ids of [a, b]) {
      await owner.query("insert into users (id, name, email) values ($1, 'U', $2)", [
        ids.user,
        `${ids.user}@example.com`,
      ]);
      for (const table of Object.keys(FIXTURES)) {
        const fixture = FIXTURES[table]?.(ids);
        if (fixture) await owner.query(fixture.sql, fixture.values);
      }
    }
  });
});

afterAll(async () => {
  await db?.drop();
});

async function countRows(pool: pg.Pool, workspaceId: string | undefined, table: string) {
  const run = async (tx: Pick<pg.PoolClient, "query">) => {
    const { rows } = await tx.query<{ own: string; other: string }>(
      `select count(*) filter (where ${tenantColumn(table)} = $1) as own,
              count(*) filter (where ${tenantColumn(table)} is distinct from $1) as other
       from ${table}`,
      [workspaceId ?? a.workspace],
    );
    return { own: Number(rows[0]?.own), other: Number(rows[0]?.other) };
  };
  return workspaceId ? withWorkspace(pool, workspaceId, run) : withTransaction(pool, run);
}

describe("row-level security, with no service code in the way", () => {
  it("the application role is not a superuser, does not bypass RLS and owns no table", async () => {
    const { rows } = await db.appPool.query<{
      role: string;
      rolsuper: boolean;
      rolbypassrls: boolean;
      owned: string;
    }>(
      `select current_user as role, r.rolsuper, r.rolbypassrls,
              (select count(*) from pg_class where relowner = r.oid) as owned
       from pg_roles r where r.rolname = current_user`,
    );
    expect(rows[0]).toEqual({ role: APP_ROLE, rolsuper: false, rolbypassrls: false, owned: "0" });
  });

  it("every tenant table has RLS enabled and forced, a policy for the application role, and a fixture here", async () => {
    expect(tenantTables.length).toBeGreaterThanOrEqual(5);
    const { rows } = await db.appPool.query<{
      relname: string;
      enabled: boolean;
      forced: boolean;
      policies: string;
    }>(
      `select c.relname, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
              (select count(*) from pg_policies p where p.tablename = c.relname and $2 = any(p.roles)) as policies
       from pg_class c where c.relnamespace = 'public'::regnamespace and c.relname = any($1)`,
      [tenantTables, APP_ROLE],
    );
    for (const table of tenantTables) {
      const row = rows.find((r) => r.relname === table);
      expect({ table, enabled: row?.enabled, forced: row?.forced }).toEqual({
        table,
        enabled: true,
        forced: true,
      });
      expect(Number(row?.policies), `${table} has no policy for ${APP_ROLE}`).toBeGreaterThan(0);
      expect(
        FIXTURES[table],
        `add a fixture for the new tenant table ${table} to test/rls.test.ts`,
      ).toBeDefined();
    }
  });

  it("with a workspace set, each tenant table shows that workspace's rows and no other's", async () => {
    for (const table of tenantTables) {
      for (const ids of [a, b]) {
        const counts = await countRows(db.appPool, ids.workspace, table);
        expect({ table, ...counts }).toEqual({ table, own: 1, other: 0 });
      }
    }
  });

  it("with no workspace set, tenant tables show nothing", async () => {
    for (const table of tenantTables) {
      const counts = await countRows(db.appPool, undefined, table);
      expect({ table, visible: counts.own + counts.other }).toEqual({ table, visible: 0 });
    }
  });

  it("refuses to write a row into another workspace", async () => {
    await expect(
      withWorkspace(db.appPool, a.workspace, (tx) =>
        tx.query("insert into clients (workspace_id, name, name_key) values ($1, 'Intruder', 'intruder')", [
          b.workspace,
        ]),
      ),
    ).rejects.toMatchObject({ code: "42501" });
  });

  it("updates and deletes cannot reach another workspace's rows", async () => {
    const changed = await withWorkspace(db.appPool, a.workspace, async (tx) => {
      const update = await tx.query("update clients set name = 'Renamed' where id = $1", [b.client]);
      const remove = await tx.query("delete from members where id = $1", [b.member]);
      return (update.rowCount ?? 0) + (remove.rowCount ?? 0);
    });
    expect(changed).toBe(0);
    const untouched = await asOwner(db.url, (owner) =>
      owner.query(
        "select (select name from clients where id = $1) as name, (select count(*) from members where id = $2) as members",
        [b.client, b.member],
      ),
    );
    expect(untouched.rows[0]).toEqual({ name: "Client", members: "1" });
  });

  it("the workspace setting ends with its transaction", async () => {
    const client = await db.appPool.connect();
    try {
      await client.query(`begin; select set_config('herald.workspace_id', '${a.workspace}', true)`);
      await client.query("commit");
      const { rows } = await client.query("select count(*)::int as n from clients");
      expect(rows[0]).toEqual({ n: 0 });
    } finally {
      client.release();
    }
  });

  it("every tenant table with an id can be searched by herald_locate (cross-tenant detection)", async () => {
    const { rows } = await db.appPool.query<{ table_name: string; policies: string }>(
      `select c.table_name,
              (select count(*) from pg_policies p where p.tablename = c.table_name and 'herald_directory' = any(p.roles)) as policies
       from information_schema.columns c
       where c.table_schema = 'public' and c.column_name = 'id' and c.table_name = any($1)`,
      [tenantTables.filter((table) => !table.startsWith("audit_"))],
    );
    expect(rows.length).toBeGreaterThanOrEqual(4);
    for (const row of rows)
      expect({ table: row.table_name, policies: Number(row.policies) > 0 }).toEqual({
        table: row.table_name,
        policies: true,
      });
    const located = await db.appPool.query("select * from herald_locate($1::uuid[])", [
      [a.client, b.member, b.workspace],
    ]);
    expect(located.rows).toEqual(
      expect.arrayContaining([
        { id: a.client, workspace_id: a.workspace },
        { id: b.member, workspace_id: b.workspace },
        { id: b.workspace, workspace_id: b.workspace },
      ]),
    );
  });

  it("API keys cannot be deleted by the application role, only revoked", async () => {
    await expect(
      withWorkspace(db.appPool, a.workspace, (tx) => tx.query("delete from api_keys")),
    ).rejects.toMatchObject({ code: "42501" });
  });
});
