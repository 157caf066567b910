/**
 * The `herald` command: start | server | worker | migrate.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./observability/logger.js";
import { type Role, runRole } from "./runtime.js";
import { VERSION } from "./version.js";

const USAGE = `Herald ${VERSION}: schedule and publish social media posts, exactly once.

Usage: herald <command>

Commands:
  start     run the HTTP server and a worker in one process (default)
  server    run the HTTP server only
  worker    run a worker only (publishing, token refresh, maintenance)
  migrate   apply database migrations and exit

Without DATABASE_URL, Herald runs an embedded PostgreSQL in HERALD_DATA_DIR (default ./data).
Configuration is read from the environment; see README.md.`;

const ROLES: readonly Role[] = ["start", "server", "worker", "migrate"];

function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" }, version: { type: "boolean", short: "v" } },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = positionals[0] ?? "start";
  if (!isRole(command)) {
    process.stderr.write(`Unknown command "${command}".\n\n${USAGE}\n`);
    return 2;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  try {
    await runRole(command, config, log);
    return 0;
  } catch (error) {
    log.fatal({ err: error }, "Herald could not start");
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Long-running roles keep the process alive through their servers and timers.
    if (code !== 0) process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
