import type pg from "pg";
import type { Auth } from "../auth/auth.js";
import type { Config } from "../config.js";
import type { Logger } from "../observability/logger.js";
import type { Registry } from "../providers/registry.js";
import type { Vault } from "../vault/vault.js";

/** What the HTTP layer is built from; tests build the same app with a test database. */
export type AppDeps = {
  config: Config;
  /** Application-role pool (RLS applies). */
  pool: pg.Pool;
  auth: Auth;
  /** The secret better-auth signs session cookies with (Herald verifies them on the hot path). */
  authSecret: string;
  log: Logger;
  vault: Vault;
  registry: Registry;
  /** Where the mounted Sandbox keeps its state between restarts; unset: in memory. */
  sandboxStateFile?: string;
};
