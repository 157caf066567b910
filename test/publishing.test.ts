/**
 * Publishing end to end: Herald's API (in-process) and a real worker on the test database,
 * against the Sandbox network on a loopback port. Posts, validation, approval, scheduling, the
 * worker's claim, retries under faults, recovery after a worker dies, and exactly once as the
 * Sandbox's ledger sees it.
 */
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAppPool } from "../src/db/pool.js";
import { createLogger } from "../src/observability/logger.js";
import { sweepTargets } from "../src/publishing/sweeper.js";
import { startSandboxServer } from "../src/sandbox/sandbox.js";
import { startWorker, type WorkerHandle } from "../src/worker/worker.js";
import {
  addMember,
  call,
  createClient,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { confirm, connectSandbox } from "./helpers/connect.js";
import { asOwner, dbNow } from "./helpers/database.js";
import { eventually } from "./helpers/eventually.js";
import { expectProblem } from "./helpers/problems.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";

const CLIENT_ID = "herald";
const CLIENT_SECRET = `sandbox-secret-${randomBytes(6).toString("hex")}`;
const log = createLogger("silent");

let sandbox: { url: string; close(): Promise<void> };
let t: TestApp;
let worker: WorkerHandle | undefined;
let owner: Session;
let workspaceId: string;
let clientId: string;
/** Two Sandbox accounts linked to the client, and their Sandbox ids. */
let accounts: { id: string; platformAccountId: string }[];

beforeAll(async () => {
  sandbox = await startSandboxServer({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, log, port: 0 });
  t = await startTestApp({
    HERALD_SANDBOX_URL: sandbox.url,
    HERALD_SANDBOX_CLIENT_ID: CLIENT_ID,
    HERALD_SANDBOX_CLIENT_SECRET: CLIENT_SECRET,
    HERALD_WORKER_POLL_MS: "100",
    HERALD_PUBLISH_MAX_ATTEMPTS: "10",
  });
  owner = await signUp(t.app);
  workspaceId = await createWorkspace(t.app, owner);
  clientId = await createClient(t.app, owner, workspaceId, { name: "Contoso" });
  const user = `user${randomBytes(4).toString("hex")}`;
  const pendingId = await connectSandbox(t.app, owner, workspaceId, { user, accounts: ["Main", "Second"] });
  accounts = await confirm(t.app, owner, workspaceId, pendingId, { clientIds: [clientId] });
});

afterEach(async () => {
  await worker?.stop();
  worker = undefined;
  await fetch(`${sandbox.url}/admin/faults`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
});

afterAll(async () => {
  await t?.close();
  await sandbox?.close();
});

const api = (path: string) => `/api/v1/workspaces/${workspaceId}${path}`;

async function runWorker(): Promise<WorkerHandle> {
  worker = await startWorker({
    pool: t.pool,
    concurrency: 8,
    version: "test",
    log,
    vault: t.vault,
    registry: t.registry,
    config: t.config,
    crontab: "",
  });
  return worker;
}

async function setFaults(faults: Record<string, unknown>) {
  const response = await fetch(`${sandbox.url}/admin/faults`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(faults),
  });
  expect(response.status).toBe(200);
}

type LedgerEntry = {
  accountId: string;
  idempotencyKey: string | null;
  outcome: string;
  postId: string | null;
};
async function ledger(): Promise<LedgerEntry[]> {
  const response = await fetch(`${sandbox.url}/admin/ledger?limit=100000`);
  const body = (await response.json()) as { entries: LedgerEntry[] };
  return body.entries;
}

const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

async function createPost(
  body: Record<string, unknown>,
  as: Session = owner,
  headers: Record<string, string> = {},
) {
  return call(t.app, as, "POST", api("/posts"), body, headers);
}

async function targetStates(postIds: string[]): Promise<Map<string, string>> {
  return asOwner(t.db.url, async (client) => {
    const { rows } = await client.query<{ id: string; status: string }>(
      "select id, status from post_targets where post_id = any($1::uuid[])",
      [postIds],
    );
    return new Map(rows.map((row) => [row.id, row.status]));
  });
}

const FINAL = new Set(["published", "failed", "unconfirmed", "cancelled"]);
async function allFinal(postIds: string[]) {
  const states = await targetStates(postIds);
  return [...states.values()].every((status) => FINAL.has(status)) ? states : undefined;
}

describe("creating posts", () => {
  it("schedules one target per account, publishes each once at its time, and records the attempt", async () => {
    const since = await dbNow();
    const requestId = `req-${randomBytes(6).toString("hex")}`;
    const response = await createPost(
      {
        clientId,
        content: { text: "Hello from Herald", link: "https://example.com/menu" },
        targets: accounts.map((a) => ({ accountId: a.id })),
        publishAt: inSeconds(1),
      },
      owner,
      { "x-request-id": requestId },
    );
    expect(response.statusCode).toBe(201);
    const post = response.json();
    expect(post.status).toBe("scheduled");
    expect(post.targets.map((target: { status: string }) => target.status)).toEqual([
      "scheduled",
      "scheduled",
    ]);

    await runWorker();
    await eventually(() => allFinal([post.id]), "both targets are final");
    const detail = (await call(t.app, owner, "GET", api(`/posts/${post.id}`))).json();
    expect(detail.status).toBe("published");
    for (const target of detail.targets) {
      expect(target.status).toBe("published");
      expect(target.platformPostId).toMatch(/.+/);
      expect(target.platformUrl).toContain("/feed/");
      expect(target.attemptLog).toHaveLength(1);
      expect(target.attemptLog[0].outcome).toBe("published");
      expect(target.attemptLog[0].latenessMs).toBeGreaterThanOrEqual(0);
    }
    const created = (await ledger()).filter((entry) =>
      detail.targets.some((tg: { platformPostId: string }) => tg.platformPostId === entry.postId),
    );
    expect(created.map((entry) => entry.outcome)).toEqual(["created", "created"]);
    expect(new Set(created.map((entry) => entry.idempotencyKey)).size).toBe(2);

    const events = await asOwner(t.db.url, async (client) => {
      const { rows } = await client.query<{ action: string; request_id: string | null }>(
        "select action, request_id from audit_events where workspace_id = $1 and created_at >= $2 order by created_at",
        [workspaceId, since],
      );
      return rows;
    });
    const actions = events.map((event) => event.action);
    // The worker's events carry the id of the request that created the post: one story per post.
    const published = events.filter((event) => event.action === "post_published");
    expect(published.map((event) => event.request_id)).toEqual([requestId, requestId]);
    expect(actions.filter((a) => a.startsWith("post_"))).toEqual([
      "post_created",
      "post_scheduled",
      "post_published",
      "post_published",
    ]);
  });

  it("publishNow publishes at once", async () => {
    const response = await createPost({
      clientId,
      content: { text: "Right now" },
      targets: [{ accountId: accounts[0]?.id }],
      publishNow: true,
    });
    expect(response.statusCode).toBe(201);
    await runWorker();
    const states = await eventually(() => allFinal([response.json().id]), "the target is final");
    expect([...states.values()]).toEqual(["published"]);
  });

  it("answers a repeated Idempotency-Key with the first response, and refuses it with another body", async () => {
    const key = `key-${randomBytes(6).toString("hex")}`;
    const body = {
      clientId,
      content: { text: "Once" },
      targets: [{ accountId: accounts[0]?.id }],
      draft: true,
    };
    const first = await createPost(body, owner, { "idempotency-key": key });
    const again = await createPost(body, owner, { "idempotency-key": key });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json()).toEqual(first.json());
    const other = await createPost({ ...body, content: { text: "Twice" } }, owner, {
      "idempotency-key": key,
    });
    expectProblem(other, 422, "HERALD_IDEMPOTENCY_KEY_REUSED");
    const count = await asOwner(t.db.url, async (client) => {
      const { rows } = await client.query(
        "select count(*)::int as n from posts where content->>'text' in ('Once', 'Twice')",
      );
      return rows[0].n;
    });
    expect(count).toBe(1);
  });

  it("two requests racing with one key create one post", async () => {
    const key = `race-${randomBytes(6).toString("hex")}`;
    const body = {
      clientId,
      content: { text: `Race ${key}` },
      targets: [{ accountId: accounts[0]?.id }],
      draft: true,
    };
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => createPost(body, owner, { "idempotency-key": key })),
    );
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(answers.map((a) => a.json().id)).size).toBe(1);
  });
});

describe("validation", () => {
  it("GET /providers shows the limits validation applies", async () => {
    const response = await t.app.inject({ method: "GET", url: "/api/v1/providers" });
    const sandbox = response.json().items.find((p: { platform: string }) => p.platform === "sandbox");
    expect(sandbox.capabilities).toMatchObject({
      formats: ["post"],
      text: { maxLength: 500, required: true },
      media: { maxCount: 4, mixed: false, image: { mimeTypes: expect.arrayContaining(["image/png"]) } },
    });
  });

  it("names every problem of every target at once, with a 422", async () => {
    const otherClient = await createClient(t.app, owner, workspaceId);
    const response = await createPost({
      clientId: otherClient,
      content: { text: "x".repeat(501) },
      targets: [{ accountId: accounts[0]?.id }, { accountId: "00000000-0000-4000-8000-000000000000" }],
      publishAt: inSeconds(-3600),
    });
    const problem = expectProblem(response, 422, "HERALD_POST_INVALID");
    const found = (problem.errors ?? []).map((e) => `${e.path} ${e.rule}`);
    expect(found).toEqual(
      expect.arrayContaining([
        "body.targets.0.accountId account_not_linked",
        "body.targets.0.text text_too_long",
        "body.targets.1.accountId not_found",
        "body.publishAt in_the_past",
      ]),
    );
    const tooLong = problem.errors?.find((e) => e.rule === "text_too_long");
    expect(tooLong?.message).toContain("Sandbox allows at most 500 characters; this text has 501");
  });

  it("POST /posts/validate answers the same problems and stores nothing", async () => {
    const before = await asOwner(
      t.db.url,
      async (c) => (await c.query("select count(*)::int as n from posts")).rows[0].n,
    );
    const response = await call(t.app, owner, "POST", api("/posts/validate"), {
      clientId,
      content: { text: "" },
      targets: [{ accountId: accounts[0]?.id, overrides: { firstComment: "first!" } }],
      publishNow: true,
    });
    expect(response.statusCode).toBe(200);
    const result = response.json();
    expect(result.valid).toBe(false);
    expect(result.errors.map((e: { rule: string }) => e.rule).sort()).toEqual([
      "first_comment_unsupported",
      "text_required",
    ]);
    expect(result.targets[0]).toMatchObject({
      platform: "sandbox",
      valid: false,
      text: { length: 0, maxLength: 500 },
    });
    const after = await asOwner(
      t.db.url,
      async (c) => (await c.query("select count(*)::int as n from posts")).rows[0].n,
    );
    expect(after).toBe(before);
  });

  it("refuses a time in the past beyond the grace, and takes one within it as now", async () => {
    const past = await createPost({
      clientId,
      content: { text: "Late" },
      targets: [{ accountId: accounts[0]?.id }],
      publishAt: inSeconds(-3600),
    });
    const problem = expectProblem(past, 422, "HERALD_POST_INVALID");
    expect(problem.errors?.[0]).toMatchObject({ path: "body.publishAt", rule: "in_the_past" });

    const justPast = await createPost({
      clientId,
      content: { text: "Just late" },
      targets: [{ accountId: accounts[0]?.id }],
      draft: true,
      publishAt: inSeconds(-5),
    });
    expect(justPast.statusCode).toBe(201);
    expect(new Date(justPast.json().publishAt).getTime()).toBeGreaterThan(Date.now() - 5000);
  });

  it("answers 400 naming the field for a malformed body", async () => {
    const response = await createPost({ clientId, content: { text: "x" }, targets: [{ accountId: "nope" }] });
    const problem = expectProblem(response, 400, "HERALD_VALIDATION_FAILED");
    const paths = (problem.errors ?? []).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(["body.targets.0.accountId", "body.publishAt"]));
  });
});

describe("changing a scheduled post", () => {
  it("a reschedule moves the job, and the post goes out at the new time only", async () => {
    const created = (
      await createPost({
        clientId,
        content: { text: "Move me" },
        targets: [{ accountId: accounts[0]?.id }],
        publishAt: inSeconds(2),
      })
    ).json();
    const later = inSeconds(3600);
    const moved = await call(t.app, owner, "PATCH", api(`/posts/${created.id}`), { publishAt: later });
    expect(moved.statusCode).toBe(200);
    expect(moved.json().targets[0].publishAt).toBe(new Date(later).toISOString());
    const runAt = await asOwner(t.db.url, async (c) => {
      const { rows } = await c.query("select run_at from graphile_worker.jobs where key = $1", [
        `publish:${created.targets[0].id}`,
      ]);
      return rows.map((row) => row.run_at.toISOString());
    });
    expect(runAt).toEqual([new Date(later).toISOString()]);
  });

  it("a cancel removes the job, and nothing is published", async () => {
    const created = (
      await createPost({
        clientId,
        content: { text: "Cancel me" },
        targets: [{ accountId: accounts[0]?.id }],
        publishAt: inSeconds(1),
      })
    ).json();
    const cancelled = await call(t.app, owner, "DELETE", api(`/posts/${created.id}`));
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json().status).toBe("cancelled");
    const jobs = await asOwner(
      t.db.url,
      async (c) =>
        (
          await c.query("select count(*)::int as n from graphile_worker.jobs where key = $1", [
            `publish:${created.targets[0].id}`,
          ])
        ).rows[0].n,
    );
    expect(jobs).toBe(0);
    // A stale job (say, left by an operator's restore) finds the target cancelled and does nothing.
    await asOwner(t.db.url, (c) =>
      c.query(
        "select graphile_worker.add_job('publish_target', json_build_object('workspaceId', $1::uuid, 'targetId', $2::uuid))",
        [workspaceId, created.targets[0].id],
      ),
    );
    await runWorker();
    await eventually(async () => {
      const { rows } = await asOwner(t.db.url, (c) =>
        c.query(
          "select count(*)::int as n from graphile_worker._private_jobs where payload->>'targetId' = $1",
          [created.targets[0].id],
        ),
      );
      return rows[0].n === 0;
    }, "the stale job ran");
    expect((await targetStates([created.id])).get(created.targets[0].id)).toBe("cancelled");
    expect(
      (await ledger()).some((entry) => entry.idempotencyKey === `herald-target-${created.targets[0].id}`),
    ).toBe(false);
    expectProblem(
      await call(t.app, owner, "DELETE", api(`/posts/${created.id}`)),
      409,
      "HERALD_POST_FINISHED",
    );
  });

  it("refuses to edit or cancel once a target has published (409)", async () => {
    const created = (
      await createPost({
        clientId,
        content: { text: "Done soon" },
        targets: [{ accountId: accounts[1]?.id }],
        publishNow: true,
      })
    ).json();
    await runWorker();
    await eventually(() => allFinal([created.id]), "published");
    expectProblem(
      await call(t.app, owner, "PATCH", api(`/posts/${created.id}`), { content: { text: "Edited" } }),
      409,
      "HERALD_POST_STARTED",
    );
  });
});

describe("approval", () => {
  it("a client that requires approval holds posts until approved; reject needs a reason", async () => {
    const strict = await createClient(t.app, owner, workspaceId, { requiresApproval: true });
    for (const account of accounts)
      await call(t.app, owner, "PUT", api(`/accounts/${account.id}/clients/${strict}`));
    const approver = await addMember(t.app, owner, workspaceId, "client", [strict]);
    const post = (
      await createPost({
        clientId: strict,
        content: { text: "Please approve" },
        targets: [{ accountId: accounts[0]?.id }],
        publishAt: inSeconds(3600),
      })
    ).json();
    expect(post.status).toBe("pending_approval");
    expect(post.approval.state).toBe("pending");

    expectProblem(
      await call(t.app, approver, "POST", api(`/posts/${post.id}/reject`), { reason: "" }),
      400,
      "HERALD_VALIDATION_FAILED",
    );
    const rejected = await call(t.app, approver, "POST", api(`/posts/${post.id}/reject`), {
      reason: "Wrong price",
    });
    expect(rejected.json()).toMatchObject({
      status: "draft",
      approval: { state: "rejected", reason: "Wrong price" },
    });

    // Editing sends it back for approval; approving schedules it.
    const edited = await call(t.app, owner, "PATCH", api(`/posts/${post.id}`), {
      content: { text: "Fixed price" },
      draft: false,
    });
    expect(edited.json()).toMatchObject({ status: "pending_approval", version: 2 });
    const approved = await call(t.app, approver, "POST", api(`/posts/${post.id}/approve`));
    expect(approved.json()).toMatchObject({
      status: "scheduled",
      approval: { state: "approved", approvedBy: approver.userId },
    });
    expectProblem(
      await call(t.app, approver, "POST", api(`/posts/${post.id}/approve`)),
      409,
      "HERALD_POST_NOT_PENDING",
    );

    // Editing an approved post sends it back too.
    const again = await call(t.app, owner, "PATCH", api(`/posts/${post.id}`), { publishAt: inSeconds(7200) });
    expect(again.json()).toMatchObject({ status: "pending_approval", approval: { state: "pending" } });
    // The client user sees only their client's posts.
    const listed = (await call(t.app, approver, "GET", api("/posts"))).json();
    expect(listed.items.every((p: { clientId: string }) => p.clientId === strict)).toBe(true);
    // ...and cannot write posts.
    expectProblem(
      await createPost(
        { clientId: strict, content: { text: "x" }, targets: [{ accountId: accounts[0]?.id }], draft: true },
        approver,
      ),
      403,
      "HERALD_FORBIDDEN",
    );
  });
});

describe("delivery", () => {
  it("with 20% 5xx, 10% 429 and 5% timeouts after create, every target is published exactly once", async () => {
    await setFaults({
      errorRate: 0.2,
      rateLimitRate: 0.1,
      retryAfterSeconds: 1,
      timeoutAfterCreateRate: 0.05,
      hangMs: 300,
    });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const response = await createPost({
        clientId,
        content: { text: `Under faults ${i} ${randomBytes(3).toString("hex")}` },
        targets: accounts.map((a) => ({ accountId: a.id })),
        publishNow: true,
      });
      ids.push(response.json().id);
    }
    await runWorker();
    const states = await eventually(() => allFinal(ids), "all 40 targets are final", 60_000);
    expect([...states.values()].every((s) => s === "published")).toBe(true);
    const keys = new Set([...states.keys()].map((id) => `herald-target-${id}`));
    const mine = (await ledger()).filter((entry) => entry.idempotencyKey && keys.has(entry.idempotencyKey));
    const created = mine.filter((e) => e.outcome === "created" || e.outcome === "timeout_after_create");
    // One post per target; every later call with the key was deduplicated.
    expect(created).toHaveLength(40);
    expect(new Set(created.map((e) => e.idempotencyKey)).size).toBe(40);
  }, 90_000);

  it("a target left publishing by a dead worker is resumed by the sweeper and deduplicated", async () => {
    const created = (
      await createPost({
        clientId,
        content: { text: `Orphan ${randomBytes(3).toString("hex")}` },
        targets: [{ accountId: accounts[0]?.id }],
        publishAt: inSeconds(3600),
      })
    ).json();
    const targetId = created.targets[0].id;
    // The dead worker's call reached the Sandbox: a post exists with the target's key.
    const tokens = (await (await fetch(`${sandbox.url}/admin/tokens`)).json()) as {
      tokens: { token: string; type: string; accountIds: string[]; revoked: boolean }[];
    };
    const token = tokens.tokens.find(
      (tk) =>
        tk.type === "access" && !tk.revoked && tk.accountIds.includes(accounts[0]?.platformAccountId ?? ""),
    );
    const reached = await fetch(`${sandbox.url}/api/accounts/${accounts[0]?.platformAccountId}/posts`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token?.token}`,
        "idempotency-key": `herald-target-${targetId}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ text: created.content.text }),
    });
    expect(reached.status).toBe(201);
    const platformPostId = ((await reached.json()) as { id: string }).id;
    // ...and it died: the target is publishing, its attempt open, its worker long silent.
    await asOwner(t.db.url, async (c) => {
      await c.query("select graphile_worker.remove_job($1)", [`publish:${targetId}`]);
      await c.query(
        `update post_targets set status = 'publishing', attempts = 1, first_attempt_at = now() - interval '5 minutes',
           lease_until = now() + interval '1 hour', publish_at = now() - interval '5 minutes' where id = $1`,
        [targetId],
      );
      await c.query(
        `insert into publish_attempts (workspace_id, target_id, attempt, platform, worker_id, started_at)
         values ($1, $2, 1, 'sandbox', 'dead-worker', now() - interval '5 minutes')`,
        [workspaceId, targetId],
      );
    });
    const report = await sweepTargets(t.pool, log);
    expect(report.resumed).toBeGreaterThanOrEqual(1);
    await runWorker();
    await eventually(() => allFinal([created.id]), "the orphan is final");
    const detail = (await call(t.app, owner, "GET", api(`/posts/${created.id}`))).json();
    expect(detail.targets[0]).toMatchObject({ status: "published", platformPostId });
    expect(detail.targets[0].attemptLog.map((a: { outcome: string }) => a.outcome)).toEqual([
      "ambiguous",
      "published",
    ]);
    const mine = (await ledger()).filter((e) => e.idempotencyKey === `herald-target-${targetId}`);
    expect(mine.map((e) => e.outcome).sort()).toEqual(["created", "deduped"]);
  });

  it("the database going away while the platform answers: the finish is tried again, one attempt, published once", async () => {
    // The worker reaches the database through a proxy that is cut while the Sandbox takes 1.5 s to
    // answer, and restored 3 s later: the post exists at the platform, and only the finish is left.
    const proxy = await startTcpProxy(t.db.url);
    const pool = createAppPool(proxy.url, {
      max: 4,
      applicationName: "herald-test-proxied",
      log,
      queryTimeoutMs: 5000,
    });
    try {
      await setFaults({ latencyMs: 1500 });
      worker = await startWorker({
        pool,
        concurrency: 4,
        version: "test",
        log,
        vault: t.vault,
        registry: t.registry,
        config: t.config,
        crontab: "",
      });
      const created = (
        await createPost({
          clientId,
          content: { text: `Through an outage ${randomBytes(3).toString("hex")}` },
          targets: [{ accountId: accounts[0]?.id }],
          publishNow: true,
        })
      ).json();
      const targetId = created.targets[0].id;
      await eventually(
        async () => (await targetStates([created.id])).get(targetId) === "publishing",
        "claimed",
      );
      proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 3000));
      proxy.restore();
      await eventually(() => allFinal([created.id]), "the target is final");
      const detail = (await call(t.app, owner, "GET", api(`/posts/${created.id}`))).json();
      expect(detail.targets[0].status).toBe("published");
      // Not handed to the sweeper (its lease is 120 s): the first attempt recorded its own result.
      expect(detail.targets[0].attemptLog.map((a: { outcome: string }) => a.outcome)).toEqual(["published"]);
      const mine = (await ledger()).filter((e) => e.idempotencyKey === `herald-target-${targetId}`);
      expect(mine.map((e) => e.outcome)).toEqual(["created"]);
    } finally {
      await worker?.stop();
      worker = undefined;
      await pool.end();
      await proxy.close();
    }
  }, 60_000);

  it("a target whose account was disconnected fails with a plain reason, and retry queues it again", async () => {
    const pendingId = await connectSandbox(t.app, owner, workspaceId, {
      user: `gone${randomBytes(3).toString("hex")}`,
      accounts: ["Gone"],
    });
    const [gone] = await confirm(t.app, owner, workspaceId, pendingId, { clientIds: [clientId] });
    const created = (
      await createPost({
        clientId,
        content: { text: "To a gone account" },
        targets: [{ accountId: gone?.id }],
        publishAt: inSeconds(1),
      })
    ).json();
    await call(t.app, owner, "DELETE", api(`/accounts/${gone?.id}`));
    await runWorker();
    await eventually(() => allFinal([created.id]), "the target is final");
    const failed = (await call(t.app, owner, "GET", api(`/posts/${created.id}`))).json();
    expect(failed.targets[0]).toMatchObject({
      status: "failed",
      error: { code: "HERALD_ACCOUNT_UNAVAILABLE" },
    });
    expect(failed.targets[0].error.message).toContain("disconnected");
    const retried = await call(t.app, owner, "POST", api(`/posts/${created.id}/retry`));
    expect(retried.json().targets[0].status).toBe("scheduled");
    await eventually(() => allFinal([created.id]), "the retried target is final");
    const after = (await call(t.app, owner, "GET", api(`/posts/${created.id}`))).json();
    expect(after.targets[0].attemptLog).toHaveLength(2);
    expect(after.targets[0].status).toBe("failed");
    // Nothing else failed: a post whose targets all published has nothing to retry.
    const published = (
      await createPost({
        clientId,
        content: { text: "Fine" },
        targets: [{ accountId: accounts[0]?.id }],
        publishNow: true,
      })
    ).json();
    await eventually(() => allFinal([published.id]), "published");
    expectProblem(
      await call(t.app, owner, "POST", api(`/posts/${published.id}/retry`)),
      409,
      "HERALD_NOTHING_TO_RETRY",
    );
  });
});

describe("planning", () => {
  it("the next free slot follows the client's posting times across a daylight-saving change", async () => {
    const paris = await createClient(t.app, owner, workspaceId, {
      timezone: "Europe/Paris",
      postingTimes: [{ weekday: 1, time: "09:30" }],
    });
    // Summer time starts on Sunday 29 March 2026: Monday's 09:30 is 07:30 UTC, not 08:30.
    const slot = await call(
      t.app,
      owner,
      "GET",
      api(`/posting-slots/next?clientId=${paris}&after=2026-03-27T12:00:00Z`),
    );
    expect(slot.json()).toMatchObject({ timezone: "Europe/Paris", slot: "2026-03-30T07:30:00.000Z" });
  });

  it("the calendar returns the posts due in a range", async () => {
    const at = inSeconds(86_400 * 30);
    const post = (
      await createPost({
        clientId,
        content: { text: "Next month" },
        targets: [{ accountId: accounts[0]?.id }],
        publishAt: at,
        draft: true,
      })
    ).json();
    const from = new Date(Date.parse(at) - 60_000).toISOString();
    const to = new Date(Date.parse(at) + 60_000).toISOString();
    const calendar = await call(
      t.app,
      owner,
      "GET",
      api(`/calendar?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`),
    );
    expect(calendar.json().items.map((p: { id: string }) => p.id)).toEqual([post.id]);
    expectProblem(
      await call(
        t.app,
        owner,
        "GET",
        api(`/calendar?from=${encodeURIComponent(to)}&to=${encodeURIComponent(from)}`),
      ),
      400,
      "HERALD_VALIDATION_FAILED",
    );
  });
});
