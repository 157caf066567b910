/**
 * GET /api/v1/monitoring/health tells the truth: no live worker is "down" (503), a stopped or silent
 * worker is not live, publish figures cover only the caller's workspaces, and a low success rate or
 * an overdue target is "degraded".
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/observability/logger.js";
import { registryOf } from "../src/providers/registry.js";
import { Vault } from "../src/vault/vault.js";
import { startWorker } from "../src/worker/worker.js";
import {
  addMember,
  call,
  createApiKey,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";

const URL = "/api/v1/monitoring/health";
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(async () => {
  await t?.close();
});

const health = (as: Session | string | undefined) => call(t.app, as, "GET", URL);

function worker() {
  return startWorker({
    pool: t.pool,
    concurrency: 1,
    version: "test",
    log: createLogger("silent"),
    vault: new Vault([{ id: "test", key: randomBytes(32) }]),
    registry: registryOf([]),
    config: loadConfig({ DATABASE_URL: t.db.url, LOG_LEVEL: "silent" }),
    crontab: "",
    tasks: {},
  });
}

/** One target in the workspace with the given attempts (outcome, latency, lateness), as the owner. */
async function seedAttempts(
  workspaceId: string,
  attempts: Array<{ outcome: string | null; latencyMs?: number; latenessMs?: number }>,
  target: { status: string; publishAt: string } = { status: "published", publishAt: "now()" },
) {
  await asOwner(t.db.url, async (owner) => {
    const tag = randomBytes(4).toString("hex");
    const credential = await owner.query<{ id: string }>(
      `insert into account_credentials (workspace_id, platform, subject, access_token, key_id)
       values ($1, 'sandbox', $2, '\\x01', 'k') returning id`,
      [workspaceId, `user:${tag}`],
    );
    const account = await owner.query<{ id: string }>(
      `insert into social_accounts (workspace_id, platform, platform_account_id, name, status, credential_id)
       values ($1, 'sandbox', $2, 'Page', 'active', $3) returning id`,
      [workspaceId, `acct_${tag}`, credential.rows[0]?.id],
    );
    const post = await owner.query<{ id: string }>(
      "insert into posts (workspace_id, content) values ($1, '{}') returning id",
      [workspaceId],
    );
    const published = target.status === "published";
    const row = await owner.query<{ id: string }>(
      `insert into post_targets (workspace_id, post_id, account_id, platform, status, publish_at, published_at, attempts)
       values ($1, $2, $3, 'sandbox', $4, ${target.publishAt}, ${published ? "now()" : "null"}, $5) returning id`,
      [workspaceId, post.rows[0]?.id, account.rows[0]?.id, target.status, attempts.length],
    );
    for (const [index, attempt] of attempts.entries()) {
      await owner.query(
        `insert into publish_attempts (workspace_id, target_id, attempt, platform, started_at, ended_at, outcome,
                                       latency_ms, lateness_ms)
         values ($1, $2, $3, 'sandbox', now() - interval '10 minutes', now(), $4, $5, $6)`,
        [
          workspaceId,
          row.rows[0]?.id,
          index + 1,
          attempt.outcome,
          attempt.latencyMs ?? null,
          attempt.latenessMs ?? null,
        ],
      );
    }
  });
}

describe("GET /api/v1/monitoring/health", () => {
  let owner: Session;
  let workspaceId: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Monitored");
  });

  it("needs a signed-in person or an API key", async () => {
    const response = await health(undefined);
    expect(response.statusCode).toBe(401);
  });

  it("refuses an API key without monitoring:read", async () => {
    const key = await createApiKey(t.app, owner, workspaceId, ["posts:read"]);
    const response = await health(key);
    expect(response.statusCode).toBe(403);
    expect(response.json().code).toBe("HERALD_INSUFFICIENT_SCOPE");
  });

  it("is down with a 503 when no worker has ever run", async () => {
    const response = await health(owner);
    expect(response.statusCode).toBe(503);
    const body = response.json();
    expect(body.status).toBe("down");
    expect(body.reasons.join(" ")).toMatch(/no live worker/);
    expect(body.workers).toEqual({ live: [], lastHeartbeatAt: null });
    expect(body.database.ok).toBe(true);
    expect(body.database.latencyMs).toBeGreaterThanOrEqual(0);
    expect(body.migrations).toMatchObject({ ok: true, pending: [] });
    expect(body.migrations.applied).toBe(body.migrations.expected);
    expect(body.alerts).toEqual({ open: 0, bySeverity: { info: 0, warning: 0, error: 0, critical: 0 } });
  });

  it("is ok while a worker runs, lists it, and down again once it stopped", async () => {
    const running = await worker();
    try {
      const response = await health(owner);
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body).toMatchObject({ status: "ok", reasons: [] });
      expect(body.workers.live).toHaveLength(1);
      expect(body.workers.live[0]).toMatchObject({ id: running.workerId, pid: process.pid, version: "test" });
      expect(body.queue).toMatchObject({ failed: 0, overdueTargets: 0 });
    } finally {
      await running.stop();
    }
    const after = await health(owner);
    expect(after.statusCode).toBe(503);
    expect(after.json().status).toBe("down");
    expect(after.json().workers.live).toEqual([]);
    expect(after.json().reasons[0]).toMatch(/^no live worker for \d+ s$/);
  });

  it("does not count a worker whose heartbeat is 3 minutes old", async () => {
    await asOwner(t.db.url, (o) =>
      o.query(
        `insert into worker_heartbeats (worker_id, hostname, pid, version, started_at, last_seen_at)
         values ('silent-worker', 'h', 1, 'test', now() - interval '1 hour', now() - interval '3 minutes')`,
      ),
    );
    // Every other heartbeat is older still: the newest one is the silent worker's.
    await asOwner(t.db.url, (o) =>
      o.query(
        "update worker_heartbeats set last_seen_at = now() - interval '4 minutes' where worker_id <> 'silent-worker'",
      ),
    );
    const response = await health(owner);
    expect(response.statusCode).toBe(503);
    const body = response.json();
    expect(body.workers.live).toEqual([]);
    const seconds = Number(/^no live worker for (\d+) s$/.exec(body.reasons[0])?.[1]);
    expect(seconds).toBeGreaterThanOrEqual(180);
    expect(seconds).toBeLessThan(240);
  });

  it("is down when the oldest due job has waited over 5 minutes", async () => {
    await asOwner(t.db.url, (o) =>
      o.query("select graphile_worker.add_job('nothing', '{}', run_at := now() - interval '6 minutes')"),
    );
    const body = (await health(owner)).json();
    expect(body.queue.due).toBe(1);
    expect(body.queue.oldestDueAgeMs).toBeGreaterThan(5 * 60_000);
    expect(body.reasons.join(" ")).toMatch(/oldest due job has waited \d+ s/);
    await asOwner(t.db.url, (o) => o.query("delete from graphile_worker._private_jobs"));
  });
});

describe("publish figures", () => {
  let alice: Session;
  let a: string;
  let b: string;

  beforeAll(async () => {
    alice = await signUp(t.app);
    a = await createWorkspace(t.app, alice, "A");
    const bob = await signUp(t.app);
    b = await createWorkspace(t.app, bob, "B");
    // A: 9 published and 1 failed (90%: not degraded). B: 10 failed.
    await seedAttempts(a, [
      ...Array.from({ length: 9 }, (_, i) => ({
        outcome: "published",
        latencyMs: 100 * (i + 1),
        latenessMs: 1000,
      })),
    ]);
    await seedAttempts(a, [{ outcome: "failed", latencyMs: 1000, latenessMs: 3000 }], {
      status: "failed",
      publishAt: "now() - interval '10 minutes'",
    });
    await seedAttempts(
      b,
      Array.from({ length: 10 }, () => ({ outcome: "failed", latencyMs: 50 })),
      { status: "failed", publishAt: "now() - interval '10 minutes'" },
    );
  });

  it("a member of workspace A sees only A's figures", async () => {
    const body = (await health(alice)).json();
    expect(body.publishing).toMatchObject({
      windowMinutes: 60,
      attempts: 10,
      published: 9,
      failed: 1,
      successRate: 0.9,
      avgLatencyMs: 550,
      avgLatenessMs: 1200,
    });
    // percentile_cont over 100..1000 ms: 900 + 0.55 × 100
    expect(body.publishing.p95LatencyMs).toBe(955);
    expect(body.publishing.workspaces.map((w: { workspaceId: string }) => w.workspaceId)).toEqual([a]);
    expect(body.reasons.join(" ")).not.toMatch(/success rate/);
  });

  it("an API key with monitoring:read sees its own workspace's figures", async () => {
    const key = await createApiKey(t.app, alice, a, ["monitoring:read"]);
    const response = await health(key);
    expect([200, 503]).toContain(response.statusCode);
    expect(response.json().publishing).toMatchObject({ attempts: 10, published: 9 });
  });

  it("a client user does not see the workspace's figures", async () => {
    const client = await call(t.app, alice, "POST", `/api/v1/workspaces/${a}/clients`, { name: "Only" });
    const member = await addMember(t.app, alice, a, "client", [client.json().id]);
    const body = (await health(member)).json();
    expect(body.publishing).toMatchObject({ attempts: 0, successRate: null, workspaces: [] });
  });

  it("a low success rate over at least 10 attempts is degraded", async () => {
    const bobsView = await signUp(t.app);
    // B's owner is not at hand: a second owner of B is added directly, as a member row.
    await asOwner(t.db.url, (o) =>
      o.query(
        `insert into members (workspace_id, user_id, email, role, status) values ($1, $2, $3, 'owner', 'active')`,
        [b, bobsView.userId, bobsView.email],
      ),
    );
    const body = (await health(bobsView)).json();
    expect(body.publishing).toMatchObject({ attempts: 10, failed: 10, published: 0, successRate: 0 });
    expect(body.reasons).toContain("publish success rate 0% over the last hour (10 attempts)");
  });

  it("counts overdue scheduled targets of every workspace and reports them", async () => {
    await seedAttempts(b, [], { status: "scheduled", publishAt: "now() - interval '6 minutes'" });
    await seedAttempts(b, [], { status: "scheduled", publishAt: "now() - interval '1 minute'" });
    const body = (await health(alice)).json();
    expect(body.queue.overdueTargets).toBe(1);
    expect(body.reasons).toContain("1 scheduled target(s) overdue by over 5 minutes");
    // Counts only: nothing of B's shows in A's figures.
    expect(body.publishing.workspaces.map((w: { workspaceId: string }) => w.workspaceId)).toEqual([a]);
  });

  it("counts open alerts of the caller's workspaces by severity; an open critical one is degraded", async () => {
    const openAlert = (workspaceId: string, severity: string, status = "firing") =>
      asOwner(t.db.url, (o) =>
        o.query(
          `insert into alerts (workspace_id, rule_id, rule_name, metric, severity, scope_key, status, message,
                               acknowledged_at, resolved_at)
           values ($1, gen_random_uuid(), 'Test', 'publish_attempts', $2, $3, $4, 'test',
                   case when $4 = 'acknowledged' then now() end, case when $4 = 'resolved' then now() end)`,
          [workspaceId, severity, `workspace:${randomBytes(4).toString("hex")}`, status],
        ),
      );
    await openAlert(a, "warning");
    await openAlert(a, "critical", "acknowledged");
    await openAlert(a, "error", "resolved");
    await openAlert(b, "critical");
    await openAlert(b, "info");
    const body = (await health(alice)).json();
    expect(body.alerts).toEqual({ open: 2, bySeverity: { info: 0, warning: 1, error: 0, critical: 1 } });
    expect(body.reasons).toContain("1 critical alert(s) open");
  });

  it("is degraded, not down, when a worker is live and only publishing suffers", async () => {
    const running = await worker();
    try {
      const response = await health(alice);
      expect(response.statusCode).toBe(200);
      expect(response.json().status).toBe("degraded");
    } finally {
      await running.stop();
    }
  });
});
