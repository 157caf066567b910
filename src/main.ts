/**
 * The `herald` command: start | server | worker | migrate | audit.
 */
import { parseArgs } from "node:util";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./observability/logger.js";
import type { Role } from "./runtime.js";
import { VERSION } from "./version.js";

// Modules that reach the database or the network (runtime, audit, sandbox, vault rotation) are
// imported dynamically, after tracing has started: OpenTelemetry instrumentations patch pg, http
// and fastify as they are loaded, and static imports would load them first.

const USAGE = `Herald ${VERSION}: schedule and publish social media posts, exactly once.

Usage: herald <command> [options]

Commands:
  start                          run the HTTP server and a worker in one process (default)
  server                         run the HTTP server only
  worker                         run a worker only (jobs, audit sealing, maintenance)
  migrate                        apply database migrations and exit
  audit verify [--workspace ID]  walk the audit hash chains; exit 1 if one is broken
  audit export --user EMAIL|ID   every audit event about a person, as JSON lines (GDPR access)
  audit erase --user EMAIL|ID --yes
                                 pseudonymise a person in every audit event (GDPR erasure)
  sandbox [--port N]             run the Sandbox network alone (default port 4400; state in memory)
  keys rotate                    re-encrypt every stored secret with the current key; without
                                 HERALD_ENCRYPTION_KEYS, first add a new key to the data directory's key file

Without DATABASE_URL, Herald runs an embedded PostgreSQL in HERALD_DATA_DIR (default ./data).
Configuration is read from the environment; see README.md.`;

const ROLES: readonly Role[] = ["start", "server", "worker", "migrate"];

function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

class UsageError extends Error {}

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
  workspace: { type: "string" },
  user: { type: "string" },
  yes: { type: "boolean" },
  port: { type: "string" },
} as const;

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>
  >;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = positionals[0] ?? "start";
  if (!isRole(command) && !["audit", "keys", "sandbox"].includes(command)) {
    process.stderr.write(`Unknown command "${command}".\n\n${USAGE}\n`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  // Opt-in, and before anything instrumented is imported; without the variable no OpenTelemetry
  // module is loaded.
  let tracing: { shutdown: () => Promise<void> } | undefined;
  if (config.tracing) {
    const { startTracing } = await import("./observability/tracing.js");
    tracing = startTracing(config.tracing);
  }
  try {
    if (command === "audit") return await audit(config, positionals[1], values);
    if (command === "keys") return await keys(config, positionals[1]);
    if (command === "sandbox") return await sandbox(config, values.port);
    if (!isRole(command)) throw new UsageError(`Unknown command "${command}".`);
    const log = createLogger(config.logLevel);
    try {
      const { runRole } = await import("./runtime.js");
      // Spans still in the export batch are flushed when the process stops.
      await runRole(command, config, log, tracing ? [{ name: "tracing", stop: tracing.shutdown }] : []);
      return 0;
    } catch (error) {
      log.fatal({ err: error }, "Herald could not start");
      return 1;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
}

/** `herald audit ...`: output on stdout, logs on stderr. */
async function audit(
  config: Config,
  subcommand: string | undefined,
  options: { workspace?: string | undefined; user?: string | undefined; yes?: boolean | undefined },
): Promise<number> {
  const log = createLogger(config.logLevel === "info" ? "warn" : config.logLevel, "stderr");
  const { withAuditOwner } = await import("./runtime.js");
  const { erasePerson, exportPerson, verifyChains } = await import("./audit/operator.js");
  const { isUuid } = await import("./db/tenant.js");
  switch (subcommand) {
    case "verify": {
      if (options.workspace !== undefined && !isUuid(options.workspace)) {
        throw new UsageError("--workspace must be a workspace id (a UUID).");
      }
      const reports = await withAuditOwner(config, log, (owner) => verifyChains(owner, options.workspace));
      for (const report of reports) process.stdout.write(`${JSON.stringify(report)}\n`);
      const broken = reports.filter((report) => !report.ok).length;
      process.stdout.write(`${JSON.stringify({ chains: reports.length, broken })}\n`);
      return broken === 0 ? 0 : 1;
    }
    case "export": {
      const user = requireUser(options.user);
      const count = await withAuditOwner(config, log, (owner) => exportPerson(owner, user, process.stdout));
      process.stderr.write(`${count} events\n`);
      return 0;
    }
    case "erase": {
      const user = requireUser(options.user);
      if (!options.yes) throw new UsageError("Erasure cannot be undone: add --yes to confirm.");
      const result = await withAuditOwner(config, log, (owner) => erasePerson(owner, user));
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    default:
      throw new UsageError(`Unknown audit command "${subcommand ?? ""}".`);
  }
}

/** `herald sandbox`: the fake network on its own, for benchmarks, the chaos suite and demos. */
async function sandbox(config: Config, port: string | undefined): Promise<number> {
  const portNumber = Number(port ?? 4400);
  if (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) {
    throw new UsageError("--port must be a port number.");
  }
  const log = createLogger(config.logLevel);
  const { startSandboxServer } = await import("./sandbox/sandbox.js");
  const { clientId, clientSecret, accessTokenTtlSeconds } = config.sandbox;
  const server = await startSandboxServer({
    clientId,
    clientSecret,
    accessTokenTtlSeconds,
    log,
    port: portNumber,
    host: config.host,
  });
  log.info({ url: server.url }, "Sandbox network listening");
  const stop = () => void server.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return 0;
}

/** `herald keys rotate`: progress on stderr, the result as one JSON line on stdout. */
async function keys(config: Config, subcommand: string | undefined): Promise<number> {
  if (subcommand !== "rotate") throw new UsageError(`Unknown keys command "${subcommand ?? ""}".`);
  const log = createLogger(config.logLevel === "info" ? "warn" : config.logLevel, "stderr");
  const { withAppDatabase } = await import("./runtime.js");
  const { newKey, readKeyFile, writeKeyFile } = await import("./vault/keyring.js");
  const { reencryptSecrets } = await import("./vault/rotation.js");
  const { Vault } = await import("./vault/vault.js");
  let keyList = config.encryptionKeys;
  let added: string | null = null;
  if (!keyList) {
    const existing = (await readKeyFile(config.dataDir)) ?? [];
    const fresh = newKey();
    keyList = [fresh, ...existing];
    await writeKeyFile(config.dataDir, keyList);
    added = fresh.id;
  }
  const vault = new Vault(keyList);
  const result = await withAppDatabase(config, log, (pool) =>
    reencryptSecrets(pool, vault, log, {
      onProgress: (done) => process.stderr.write(`${done} secrets re-encrypted\n`),
    }),
  );
  process.stdout.write(`${JSON.stringify({ keyId: vault.currentKeyId, addedKey: added, ...result })}\n`);
  return 0;
}

function requireUser(user: string | undefined): string {
  if (!user) throw new UsageError("--user EMAIL|ID is required.");
  return user;
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
