/**
 * A fresh database for one test file, cloned from the migrated template (see global-setup.ts).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { APP_ROLE, createAppPool } from "../../src/db/pool.js";
import { createLogger } from "../../src/observability/logger.js";
import { databaseUrl } from "./urls.js";

export type TestDatabase = {
  /** Owner (superuser) URL: for test set-up and for checks that must look past RLS. */
  url: string;
  /** A pool whose sessions run as the application role, as the server's do. */
  appPool: pg.Pool;
  drop(): Promise<void>;
};

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("adminUrl");
  const name = `herald_test_${randomBytes(6).toString("hex")}`;
  await withAdmin(adminUrl, (admin) =>
    admin.query(`create database ${name} template ${inject("templateDatabase")}`),
  );
  const url = databaseUrl(adminUrl, name);
  const appPool = createAppPool(url, { max: 8, applicationName: "herald-test", log: createLogger("silent") });
  return {
    url,
    appPool,
    async drop() {
      await appPool.end();
      await withAdmin(adminUrl, (admin) => admin.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/** Runs one query batch as the owner (bypasses RLS: only for set-up and inspection). */
export async function asOwner<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withAdmin(url, fn);
}

/**
 * The database server's clock, as text with its microseconds, for "rows since": a JavaScript Date
 * has only milliseconds, so a row committed just before `new Date()` can carry a later timestamp.
 */
export async function dbNow(): Promise<string> {
  return withAdmin(inject("adminUrl"), async (client) => {
    const { rows } = await client.query<{ now: string }>("select clock_timestamp()::text as now");
    const now = rows[0]?.now;
    if (!now) throw new Error("no clock");
    return now;
  });
}

async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export { APP_ROLE };
