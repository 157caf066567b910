/**
 * Migrations: forward-only, recorded with checksums, safe to run from several processes at once,
 * and refusing to run over a history that was rewritten.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadMigrations, migrate, pendingMigrations } from "../src/db/migrate.js";
import { createLogger } from "../src/observability/logger.js";
import { asOwner } from "./helpers/database.js";
import { databaseUrl } from "./helpers/urls.js";

const log = createLogger("silent");
const created: string[] = [];

async function emptyDatabase(): Promise<string> {
  const name = `herald_test_${randomBytes(6).toString("hex")}`;
  await asOwner(inject("adminUrl"), (admin) => admin.query(`create database ${name}`));
  created.push(name);
  return databaseUrl(inject("adminUrl"), name);
}

let url: string;

beforeAll(async () => {
  url = await emptyDatabase();
});

afterAll(async () => {
  await asOwner(inject("adminUrl"), async (admin) => {
    for (const name of created) await admin.query(`drop database if exists ${name} with (force)`);
  });
});

describe("migrations", () => {
  it("several processes migrating an empty database at once apply each migration exactly once", async () => {
    const results = await Promise.all([migrate(url, log), migrate(url, log), migrate(url, log)]);
    const all = await loadMigrations();
    expect(results.flatMap((r) => r.applied).sort()).toEqual(all.map((m) => m.id).sort());
    const { rows } = await asOwner(url, (owner) =>
      owner.query("select id from herald_migrations order by id"),
    );
    expect(rows.map((row) => row.id)).toEqual(all.map((m) => m.id));
  });

  it("running again applies nothing and reports nothing pending", async () => {
    expect(await migrate(url, log)).toEqual({ applied: [] });
    const pool = new pg.Pool({ connectionString: url });
    try {
      expect(await pendingMigrations(pool)).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it("refuses to continue when an applied migration was edited afterwards", async () => {
    await asOwner(url, (owner) =>
      owner.query("update herald_migrations set checksum = 'edited' where id = '0001_foundation'"),
    );
    await expect(migrate(url, log)).rejects.toThrow(/0001_foundation was changed after it was applied/);
    const { rows } = await asOwner(url, (owner) => owner.query("select id, checksum from herald_migrations"));
    const real = (await loadMigrations()).find((m) => m.id === "0001_foundation")?.checksum;
    await asOwner(url, (owner) =>
      owner.query("update herald_migrations set checksum = $1 where id = '0001_foundation'", [real]),
    );
    expect(rows).toContainEqual({ id: "0001_foundation", checksum: "edited" });
  });

  it("refuses a database migrated by a newer Herald", async () => {
    await asOwner(url, (owner) =>
      owner.query("insert into herald_migrations (id, checksum) values ('9999_future', 'x')"),
    );
    await expect(migrate(url, log)).rejects.toThrow(
      /9999_future, which this version of Herald does not know/,
    );
    await asOwner(url, (owner) => owner.query("delete from herald_migrations where id = '9999_future'"));
  });

  it("a pending migration shows up as pending (what /ready reports)", async () => {
    await asOwner(url, (owner) => owner.query("delete from herald_migrations where id = '0001_foundation'"));
    const pool = new pg.Pool({ connectionString: url });
    try {
      expect(await pendingMigrations(pool)).toEqual(["0001_foundation"]);
    } finally {
      await pool.end();
    }
  });
});
