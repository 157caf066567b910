/**
 * Once per test run: a PostgreSQL server (the embedded one in a temporary directory, or the server
 * at TEST_DATABASE_URL) and a template database with every migration applied. Each test file clones
 * the template (test/helpers/database.ts), which takes milliseconds.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../src/db/embedded.js";
import { migrate } from "../src/db/migrate.js";
import { createLogger } from "../src/observability/logger.js";
import { databaseUrl } from "./helpers/urls.js";

declare module "vitest" {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject) {
  const log = createLogger("warn");
  let embedded: EmbeddedPostgres | undefined;
  let dataDir: string | undefined;
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    // World-traversable parent: as root, the server runs as the postgres user.
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-test-pg-"));
    await fs.chmod(dataDir, 0o755);
    embedded = await startEmbeddedPostgres({
      dataDir,
      port: 0,
      log,
      database: "postgres",
      // A throwaway cluster: durability is not needed, speed is.
      settings: { fsync: "off", synchronous_commit: "off", full_page_writes: "off", max_connections: "300" },
    });
    adminUrl = embedded.adminUrl;
  }

  const templateDatabase = `herald_test_template_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${templateDatabase}`);
  await migrate(databaseUrl(adminUrl, templateDatabase), log);

  project.provide("adminUrl", adminUrl);
  project.provide("templateDatabase", templateDatabase);

  return async () => {
    // Drop what this run created (test files drop their own databases; this catches leftovers).
    const { rows } = await admin.query<{ datname: string }>(
      "select datname from pg_database where datname like 'herald_test_%' and datname <> $1",
      [templateDatabase],
    );
    for (const { datname } of rows) await admin.query(`drop database if exists "${datname}" with (force)`);
    await admin.query(`drop database if exists ${templateDatabase} with (force)`);
    await admin.end();
    await embedded?.stop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  };
}
