/**
 * Forward-only SQL migrations (`migrations/NNNN_name.sql`), each applied in its own transaction and
 * recorded with its checksum in `herald_migrations`. An applied file that was edited afterwards
 * stops the process: history is never rewritten, a new file is added instead.
 *
 * Several processes may start at once (N servers, M workers): an advisory lock makes them take
 * turns, and the ones that come second find nothing left to do.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runMigrations } from "graphile-worker";
import type pg from "pg";
import type { Logger } from "../observability/logger.js";
import { graphileLogger } from "../worker/graphile-logger.js";
import { APP_ROLE, createOwnerClient } from "./pool.js";

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));
const LOCK_KEY = 7_302_115_001; // arbitrary, constant: "herald migrations"
const MIN_SERVER_VERSION = 140000;

export type Migration = { id: string; sql: string; checksum: string };

let cached: Promise<Migration[]> | undefined;

/** The migration files shipped with this version of Herald (read once per process). */
export function loadMigrations(): Promise<Migration[]> {
  cached ??= readMigrations();
  return cached;
}

async function readMigrations(): Promise<Migration[]> {
  const files = (await fs.readdir(MIGRATIONS_DIR)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await fs.readFile(path.join(MIGRATIONS_DIR, file), "utf8");
      return {
        id: file.replace(/\.sql$/, ""),
        sql,
        checksum: createHash("sha256").update(sql).digest("hex"),
      };
    }),
  );
}

export type MigrateOptions = {
  /** The audit retention policy to store (HERALD_AUDIT_ARCHIVE_AFTER / _PURGE_AFTER), in days. */
  auditRetention?: { archiveAfterDays: number; purgeAfterDays: number };
};

export async function migrate(
  databaseUrl: string,
  log: Logger,
  options: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const client = createOwnerClient(databaseUrl);
  await client.connect();
  try {
    await assertServerVersion(client);
    await client.query("select pg_advisory_lock($1)", [LOCK_KEY]);
    try {
      const applied = await applyHeraldMigrations(client, log);
      await runMigrations({ connectionString: databaseUrl, logger: graphileLogger(log) });
      await grantWorkerSchema(client);
      if (options.auditRetention) await storeAuditRetention(client, options.auditRetention);
      return { applied };
    } finally {
      await client.query("select pg_advisory_unlock($1)", [LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

async function assertServerVersion(client: pg.Client) {
  const { rows } = await client.query<{ version: string }>(
    "select current_setting('server_version_num') as version",
  );
  const version = Number(rows[0]?.version);
  if (!(version >= MIN_SERVER_VERSION)) {
    throw new Error(`Herald needs PostgreSQL 14 or later; this server is ${rows[0]?.version}.`);
  }
}

async function applyHeraldMigrations(client: pg.Client, log: Logger): Promise<string[]> {
  await client.query(`
    create table if not exists herald_migrations (
      id text primary key,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
  const { rows } = await client.query<{ id: string; checksum: string }>(
    "select id, checksum from herald_migrations",
  );
  const done = new Map(rows.map((row) => [row.id, row.checksum]));
  const migrations = await loadMigrations();
  const known = new Set(migrations.map((m) => m.id));
  for (const id of done.keys()) {
    if (!known.has(id)) {
      throw new Error(
        `The database has migration ${id}, which this version of Herald does not know: is it older?`,
      );
    }
  }
  const applied: string[] = [];
  for (const migration of migrations) {
    const checksum = done.get(migration.id);
    if (checksum !== undefined) {
      if (checksum !== migration.checksum) {
        throw new Error(
          `Migration ${migration.id} was changed after it was applied; add a new migration instead.`,
        );
      }
      continue;
    }
    log.info({ migration: migration.id }, "applying migration");
    await client.query("begin");
    try {
      await client.query(migration.sql);
      await client.query("insert into herald_migrations (id, checksum) values ($1, $2)", [
        migration.id,
        migration.checksum,
      ]);
      await client.query("commit");
    } catch (error) {
      await client.query("rollback");
      throw new Error(`Migration ${migration.id} failed: ${(error as Error).message}`, { cause: error });
    }
    applied.push(migration.id);
  }
  await client.query(`grant select on herald_migrations to ${APP_ROLE}`);
  return applied;
}

/** Only the owner side writes the retention policy; the worker applies it (migration 0002). */
async function storeAuditRetention(
  client: pg.Client,
  retention: { archiveAfterDays: number; purgeAfterDays: number },
) {
  await client.query("begin");
  try {
    await client.query("set local role herald_audit");
    await client.query(
      "update audit_settings set archive_after = make_interval(days => $1), purge_after = make_interval(days => $2)",
      [retention.archiveAfterDays, retention.purgeAfterDays],
    );
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
}

/**
 * graphile-worker installs its own schema as the owner; jobs then run as the application role.
 * It enables RLS on its tables with no policies (so that API generators cannot expose them), so
 * the application role also gets a policy of its own on each. Idempotent: runs on every migrate.
 */
async function grantWorkerSchema(client: pg.Client) {
  await client.query(`
    grant usage on schema graphile_worker to ${APP_ROLE};
    grant select, insert, update, delete on all tables in schema graphile_worker to ${APP_ROLE};
    grant usage, select on all sequences in schema graphile_worker to ${APP_ROLE};
    grant execute on all functions in schema graphile_worker to ${APP_ROLE};
    do $$
    declare t record;
    begin
      for t in
        select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'graphile_worker' and c.relkind in ('r', 'p') and c.relrowsecurity
          and not exists (select 1 from pg_policies p where p.schemaname = 'graphile_worker'
                          and p.tablename = c.relname and p.policyname = 'herald_worker')
      loop
        execute format('create policy herald_worker on graphile_worker.%I to ${APP_ROLE} using (true) with check (true)',
                       t.relname);
      end loop;
    end $$;
  `);
}

/** Migration ids that are in the code but not yet in the database (used by /ready). */
export async function pendingMigrations(db: pg.Pool): Promise<string[]> {
  const migrations = await loadMigrations();
  const { rows } = await db.query<{ id: string }>("select id from herald_migrations");
  const done = new Set(rows.map((row) => row.id));
  return migrations.filter((m) => !done.has(m.id)).map((m) => m.id);
}
