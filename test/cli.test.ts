/**
 * The `herald` command as a user runs it: real processes, the embedded PostgreSQL in a temporary
 * data directory, SIGKILL and SIGTERM. Slower than the other tests (each start may run initdb).
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "./helpers/app.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const running = new Set<ChildProcess>();
const dirs: string[] = [];

type Herald = { process: ChildProcess; output: () => string; exited: Promise<number | null> };

function herald(args: string[], env: Record<string, string>, user?: { uid: number; gid: number }): Herald {
  let output = "";
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "src/main.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", HERALD_SHUTDOWN_TIMEOUT_MS: "20000", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(user ?? {}),
  });
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return { process: child, output: () => output, exited };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function dataDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-cli-"));
  await fs.chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

/** Polls /ready until it answers 200; fails with the process output after 60 s. */
async function ready(port: number, instance: Herald) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (instance.process.exitCode !== null) throw new Error(`herald exited early:\n${instance.output()}`);
    const status = await fetch(`http://127.0.0.1:${port}/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`herald not ready after 60 s:\n${instance.output()}`);
}

function post(port: number, route: string, body: unknown) {
  return fetch(`http://127.0.0.1:${port}${route}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function pathExists(file: string) {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

afterAll(async () => {
  for (const child of running) child.kill("SIGKILL");
  // Stop any embedded server a killed test process left behind.
  for (const dir of dirs) {
    const pid = Number(
      (await fs.readFile(path.join(dir, "postgres/postmaster.pid"), "utf8").catch(() => "")).split("\n")[0],
    );
    if (pid > 0) {
      try {
        process.kill(pid, "SIGQUIT");
      } catch {}
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

describe("herald command", () => {
  it("rejects bad configuration before doing anything, naming the variable", async () => {
    const run = herald(["start"], { PORT: "not-a-port", HERALD_DATA_DIR: await dataDir() });
    expect(await run.exited).toBe(78);
    expect(run.output()).toMatch(/PORT: .*number.*\(got "not-a-port"\)/);
  });

  it("rejects an unknown command with the usage", async () => {
    const run = herald(["publish-everything"], {});
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain("Usage: herald <command>");
  });

  it("starts on an empty data directory, survives SIGKILL with its data, and stops cleanly on SIGTERM", {
    timeout: 180_000,
  }, async () => {
    const dir = await dataDir();
    const port = await freePort();
    const env = { HERALD_DATA_DIR: dir, PORT: String(port) };

    const first = herald(["start"], env);
    await ready(port, first);
    const email = uniqueEmail();
    expect(
      (await post(port, "/api/v1/auth/sign-up", { name: "Kim", email, password: PASSWORD })).status,
    ).toBe(201);

    first.process.kill("SIGKILL");
    await first.exited;
    // The postmaster outlives its parent: the next start must deal with it.
    expect(await pathExists(path.join(dir, "postgres/postmaster.pid"))).toBe(true);

    const second = herald(["start"], env);
    await ready(port, second);
    expect(second.output()).toContain("left running by a Herald process that died");
    expect((await post(port, "/api/v1/auth/sign-in", { email, password: PASSWORD })).status).toBe(200);

    second.process.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(second.output()).toContain("embedded PostgreSQL stopped");
    expect(await pathExists(path.join(dir, "postgres/postmaster.pid"))).toBe(false);

    // The operator's audit commands on the same data directory.
    const verify = herald(["audit", "verify"], env);
    expect(await verify.exited).toBe(0);
    expect(verify.output()).toMatch(/\{"chains":[1-9]\d*,"broken":0\}/);
    const exported = herald(["audit", "export", "--user", email], env);
    expect(await exported.exited).toBe(0);
    const actions = exported
      .output()
      .split("\n")
      .filter((line) => line.startsWith('{"id"'))
      .map((line) => JSON.parse(line).action);
    expect(actions).toEqual(expect.arrayContaining(["user_signed_up", "user_signed_in"]));
    const unconfirmed = herald(["audit", "erase", "--user", email], env);
    expect(await unconfirmed.exited).toBe(2);
    expect(unconfirmed.output()).toContain("add --yes to confirm");
  });

  it("a worker started beside a running Herald joins its database and leaves it running when it stops", {
    timeout: 180_000,
  }, async () => {
    const dir = await dataDir();
    const port = await freePort();
    const main = herald(["start"], { HERALD_DATA_DIR: dir, PORT: String(port) });
    await ready(port, main);
    const worker = herald(["worker"], { HERALD_DATA_DIR: dir });
    const deadline = Date.now() + 60_000;
    while (!worker.output().includes("worker started") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(worker.output()).toContain("joining embedded PostgreSQL started by another Herald process");
    worker.process.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
    main.process.kill("SIGTERM");
    expect(await main.exited).toBe(0);
  });

  it("started by npm, Herald stops cleanly when npm is killed with SIGKILL", {
    timeout: 180_000,
  }, async () => {
    const dir = await dataDir();
    const port = await freePort();
    // A stand-in for npm: a parent process that starts Herald the way `npm start` does.
    const command = `${process.execPath} --import tsx ${path.join(ROOT, "src/main.ts")} start`;
    const npm = spawn("sh", ["-c", `${command} & echo $! ; wait`], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        HERALD_DATA_DIR: dir,
        PORT: String(port),
        npm_lifecycle_event: "start",
      },
      stdio: ["ignore", "pipe", "ignore"],
    });
    running.add(npm);
    const heraldPid = await new Promise<number>((resolve) =>
      npm.stdout?.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
    );
    // Drain what else the stand-in prints: a full pipe would stall the process writing to it.
    npm.stdout?.resume();
    const deadline = Date.now() + 60_000;
    while (
      (await fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (Date.now() > deadline) throw new Error("Herald did not become ready");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    npm.kill("SIGKILL");
    const stopped = Date.now() + 30_000;
    let alive = true;
    while (alive && Date.now() < stopped) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      try {
        process.kill(heraldPid, 0);
      } catch {
        alive = false;
      }
    }
    expect(alive).toBe(false);
    expect(await pathExists(path.join(dir, "postgres/postmaster.pid"))).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)(
    "runs as an ordinary user too (here: nobody, since the tests run as root)",
    { timeout: 180_000 },
    async () => {
      const dir = await dataDir();
      const nobody = { uid: 65534, gid: 65534 };
      await fs.chown(dir, nobody.uid, nobody.gid);
      const port = await freePort();
      const run = herald(["start"], { HERALD_DATA_DIR: dir, PORT: String(port), HOME: dir }, nobody);
      await ready(port, run);
      const stat = await fs.stat(path.join(dir, "postgres"));
      expect(stat.uid).toBe(nobody.uid);
      run.process.kill("SIGINT");
      expect(await run.exited).toBe(0);
    },
  );
});
