/**
 * The worker runs as the application role (no owner rights), heartbeats while alive, and on stop
 * lets a running job finish instead of abandoning it.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { makeWorkerUtils, type WorkerUtils } from "graphile-worker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordAudit, SYSTEM } from "../src/audit/audit.js";
import { loadConfig } from "../src/config.js";
import { withWorkspace } from "../src/db/tenant.js";
import { createLogger } from "../src/observability/logger.js";
import { registryOf } from "../src/providers/registry.js";
import { Vault } from "../src/vault/vault.js";
import { startWorker } from "../src/worker/worker.js";
import { asOwner, createTestDatabase, type TestDatabase } from "./helpers/database.js";
import { eventually } from "./helpers/eventually.js";

let db: TestDatabase;
let utils: WorkerUtils;
const log = createLogger("silent");
const vault = new Vault([{ id: "test", key: randomBytes(32) }]);

beforeAll(async () => {
  db = await createTestDatabase();
  utils = await makeWorkerUtils({ pgPool: db.appPool });
});

afterAll(async () => {
  await utils?.release();
  await db?.drop();
});

const jobCount = async () =>
  Number((await db.appPool.query("select count(*) from graphile_worker.jobs")).rows[0].count);

describe("worker", () => {
  it("runs jobs as the application role and records its heartbeat while it lives", async () => {
    const seenRoles: string[] = [];
    const worker = await startWorker({
      pool: db.appPool,
      concurrency: 2,
      version: "test",
      log,
      vault,
      registry: registryOf([]),
      config: loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent" }),
      crontab: "",
      tasks: {
        whoami: async (_payload, helpers) => {
          const { rows } = await helpers.query<{ role: string }>("select current_user as role");
          seenRoles.push(rows[0]?.role ?? "?");
        },
      },
    });
    try {
      await utils.addJob("whoami", {});
      await eventually(async () => seenRoles.length === 1 && (await jobCount()) === 0, "the job ran");
      expect(seenRoles).toEqual(["herald_app"]);
      const beat = await asOwner(db.url, (owner) =>
        owner.query(
          "select worker_id, stopped_at, last_seen_at > now() - interval '1 minute' as fresh from worker_heartbeats where worker_id = $1",
          [worker.workerId],
        ),
      );
      expect(beat.rows[0]).toMatchObject({ worker_id: worker.workerId, stopped_at: null, fresh: true });
    } finally {
      await worker.stop();
    }
    const stopped = await asOwner(db.url, (owner) =>
      owner.query("select stopped_at is not null as stopped from worker_heartbeats where worker_id = $1", [
        worker.workerId,
      ]),
    );
    expect(stopped.rows[0]).toEqual({ stopped: true });
  });

  it("seals new audit events into the chain shortly after they commit", async () => {
    const workspaceId = randomUUID();
    await asOwner(db.url, (owner) =>
      owner.query("insert into workspaces (id, name, slug) values ($1, 'Sealed', $2)", [
        workspaceId,
        `s-${workspaceId.slice(0, 8)}`,
      ]),
    );
    const worker = await startWorker({
      pool: db.appPool,
      concurrency: 1,
      version: "test",
      log,
      vault,
      registry: registryOf([]),
      config: loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent" }),
      crontab: "",
      tasks: {},
    });
    try {
      await withWorkspace(db.appPool, workspaceId, (tx) =>
        recordAudit(tx, workspaceId, SYSTEM, { action: "client_created", details: { name: "x" } }),
      );
      await eventually(async () => {
        const { rows } = await asOwner(db.url, (owner) =>
          owner.query("select count(*)::int as n from audit_seals where workspace_id = $1", [workspaceId]),
        );
        return rows[0]?.n === 1;
      }, "the event was sealed");
    } finally {
      await worker.stop();
    }
    const verified = await asOwner(db.url, (owner) =>
      owner.query("select * from herald_audit_verify($1)", [workspaceId]),
    );
    expect(verified.rows[0]).toMatchObject({ ok: true, checked: "1", unsealed: "0" });
  });

  it("stopping waits for a running job to finish", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    let finished = false;
    const worker = await startWorker({
      pool: db.appPool,
      concurrency: 1,
      version: "test",
      log,
      vault,
      registry: registryOf([]),
      config: loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent" }),
      crontab: "",
      tasks: {
        slow: async () => {
          started = true;
          await gate;
          finished = true;
        },
      },
    });
    await utils.addJob("slow", {});
    await eventually(async () => started, "the job started");
    const stopping = worker.stop();
    // The job is still running; let it finish only now.
    expect(finished).toBe(false);
    release();
    await stopping;
    expect(finished).toBe(true);
    expect(await jobCount()).toBe(0);
  });

  it("starts its job runner again when the runner stops on its own, as when PostgreSQL shuts down under it", async () => {
    // graphile-worker's pool shuts itself down when the database fails under it; here the pool is
    // told to shut down directly, which is the same path without stopping the shared test server.
    const events = new EventEmitter();
    const pools: { gracefulShutdown(message?: string): Promise<void> }[] = [];
    events.on("pool:create", ({ workerPool }) => pools.push(workerPool));
    const ran: string[] = [];
    const worker = await startWorker({
      pool: db.appPool,
      concurrency: 1,
      version: "test",
      log,
      vault,
      registry: registryOf([]),
      config: loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: "silent" }),
      crontab: "",
      tasks: { record: async (payload) => void ran.push((payload as { n: string }).n) },
      events,
    });
    try {
      await utils.addJob("record", { n: "before" });
      await eventually(async () => ran.includes("before"), "a job ran before");
      expect(pools).toHaveLength(1);
      await pools[0]?.gracefulShutdown("the database system is shutting down");
      await utils.addJob("record", { n: "after" });
      await eventually(async () => ran.includes("after"), "a job ran after the runner had stopped", 10_000);
      expect(pools).toHaveLength(2);
    } finally {
      await worker.stop();
    }
  });
});
