/**
 * Alert rules and the alert lifecycle: defaults for every workspace, one alert per rule and scope
 * however many evaluations, acknowledge, resolve when the condition clears, custom account-scoped
 * rules, bad rules refused, the cron endpoint's secret, the no-live-worker system alert, isolation.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateAlerts } from "../src/alerts/evaluate.js";
import { NO_WORKSPACE } from "../src/audit/catalogue.js";
import { createLogger } from "../src/observability/logger.js";
import { call, createWorkspace, type Session, signUp, startTestApp, type TestApp } from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";
import { expectProblem, validationPaths } from "./helpers/problems.js";

const CRON_SECRET = "cron-secret-0123456789-abcdef";
const log = createLogger("silent");
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ CRON_SECRET });
});

afterAll(async () => {
  await t?.close();
});

const evaluate = () => evaluateAlerts(t.pool, log);

/** A new account in the workspace, as the owner. */
async function account(workspaceId: string): Promise<string> {
  return asOwner(t.db.url, async (owner) => {
    const tag = randomBytes(4).toString("hex");
    const credential = await owner.query<{ id: string }>(
      `insert into account_credentials (workspace_id, platform, subject, access_token, key_id)
       values ($1, 'sandbox', $2, '\\x01', 'k') returning id`,
      [workspaceId, `user:${tag}`],
    );
    const row = await owner.query<{ id: string }>(
      `insert into social_accounts (workspace_id, platform, platform_account_id, name, status, credential_id)
       values ($1, 'sandbox', $2, 'Page', 'active', $3) returning id`,
      [workspaceId, `acct_${tag}`, credential.rows[0]?.id],
    );
    return row.rows[0]?.id ?? "";
  });
}

/** One published target of a new post for the account, with these attempt outcomes 10 minutes ago. */
async function seedTarget(workspaceId: string, accountId: string, outcomes: string[]) {
  await asOwner(t.db.url, async (owner) => {
    const post = await owner.query<{ id: string }>(
      "insert into posts (workspace_id, content) values ($1, '{}') returning id",
      [workspaceId],
    );
    const target = await owner.query<{ id: string }>(
      `insert into post_targets (workspace_id, post_id, account_id, platform, status, publish_at, published_at, attempts)
       values ($1, $2, $3, 'sandbox', 'published', now(), now(), $4) returning id`,
      [workspaceId, post.rows[0]?.id, accountId, outcomes.length],
    );
    for (const [index, outcome] of outcomes.entries()) {
      await owner.query(
        `insert into publish_attempts (workspace_id, target_id, attempt, platform, started_at, ended_at, outcome, latency_ms)
         values ($1, $2, $3, 'sandbox', now() - interval '10 minutes', now(), $4, 200)`,
        [workspaceId, target.rows[0]?.id, index + 1, outcome],
      );
    }
  });
}

const alertsOf = async (as: Session, workspaceId: string, query = "") =>
  call(t.app, as, "GET", `/api/v1/workspaces/${workspaceId}/alerts${query}`);

describe("alert rules", () => {
  let owner: Session;
  let workspaceId: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Rules");
  });

  it("a new workspace has the default rules, editable", async () => {
    const response = await call(t.app, owner, "GET", `/api/v1/workspaces/${workspaceId}/alert-rules`);
    expect(response.statusCode).toBe(200);
    const rules = response.json().items;
    expect(rules).toHaveLength(9);
    expect(rules.every((r: { isDefault: boolean }) => r.isDefault)).toBe(true);
    const spike = rules.find((r: { name: string }) => r.name === "Failed jobs spike");
    expect(spike).toMatchObject({
      metric: "publish_failure_rate",
      comparison: ">",
      threshold: 20,
      minSamples: 11,
      severity: "error",
      windowSeconds: 3600,
    });
    const patched = await call(
      t.app,
      owner,
      "PATCH",
      `/api/v1/workspaces/${workspaceId}/alert-rules/${spike.id}`,
      {
        threshold: 25,
      },
    );
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ threshold: 25, isDefault: true });
  });

  it("refuses an unknown metric with 400 naming body.metric", async () => {
    const response = await call(t.app, owner, "POST", `/api/v1/workspaces/${workspaceId}/alert-rules`, {
      name: "Bad",
      metric: "cpu_temperature",
      windowSeconds: 60,
      comparison: ">",
      threshold: 1,
    });
    expect(validationPaths(response)).toEqual(["body.metric"]);
  });

  it("refuses a negative or zero window with 400 naming body.windowSeconds", async () => {
    for (const windowSeconds of [-60, 0]) {
      const response = await call(t.app, owner, "POST", `/api/v1/workspaces/${workspaceId}/alert-rules`, {
        name: "Bad",
        metric: "publish_attempts",
        windowSeconds,
        comparison: ">",
        threshold: 1,
      });
      expect(validationPaths(response)).toEqual(["body.windowSeconds"]);
    }
  });

  it("a viewer reads rules but cannot change them", async () => {
    const { addMember } = await import("./helpers/app.js");
    const viewer = await addMember(t.app, owner, workspaceId, "viewer");
    const list = await call(t.app, viewer, "GET", `/api/v1/workspaces/${workspaceId}/alert-rules`);
    expect(list.statusCode).toBe(200);
    const create = await call(t.app, viewer, "POST", `/api/v1/workspaces/${workspaceId}/alert-rules`, {
      name: "Mine",
      metric: "publish_attempts",
      windowSeconds: 60,
      comparison: ">",
      threshold: 1,
    });
    expect(create.statusCode).toBe(403);
  });
});

describe("the alert lifecycle", () => {
  let owner: Session;
  let workspaceId: string;
  let accountId: string;
  let alertId: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    workspaceId = await createWorkspace(t.app, owner, "Spiky");
    accountId = await account(workspaceId);
  });

  const spikeAlerts = async () => {
    const body = (await alertsOf(owner, workspaceId)).json();
    return body.items.filter((a: { ruleName: string }) => a.ruleName === "Failed jobs spike");
  };

  /** Notifications queued for the workspace's channels, by event type, for one alert. */
  const notified = async (alert: string) =>
    (
      await asOwner(t.db.url, (o) =>
        o.query(
          "select event_type from notification_deliveries where payload->'data'->>'alertId' = $1 order by created_at",
          [alert],
        ),
      )
    ).rows.map((row) => row.event_type);

  it("a failure spike (12 attempts, 4 failed) fires exactly one alert across three evaluations", async () => {
    await asOwner(t.db.url, (o) =>
      o.query(
        "insert into notification_channels (workspace_id, kind, name, target) values ($1, 'email', 'Ops', 'ops@example.com')",
        [workspaceId],
      ),
    );
    await seedTarget(workspaceId, accountId, [...Array(8).fill("published"), ...Array(4).fill("failed")]);
    for (let i = 0; i < 3; i++) await evaluate();
    const alerts = await spikeAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      status: "firing",
      severity: "error",
      samples: 12,
      scopeKey: "workspace",
    });
    expect(alerts[0].value).toBeCloseTo(33.33, 1);
    alertId = alerts[0].id;
    const events = await asOwner(t.db.url, (o) =>
      o.query(
        "select severity from audit_events where workspace_id = $1 and action = 'alert_fired' and target_id = $2",
        [workspaceId, alertId],
      ),
    );
    expect(events.rows).toEqual([{ severity: "high" }]);
    // One notification, not one per evaluation.
    expect(await notified(alertId)).toEqual(["alert.fired"]);
  });

  it("acknowledging records who and when; the alert stays open, acknowledged", async () => {
    const response = await call(
      t.app,
      owner,
      "POST",
      `/api/v1/workspaces/${workspaceId}/alerts/${alertId}/acknowledge`,
    );
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ status: "acknowledged", acknowledgedBy: owner.userId });
    expect(Date.parse(response.json().acknowledgedAt)).toBeGreaterThan(Date.now() - 60_000);
    await evaluate();
    const alerts = await spikeAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ id: alertId, status: "acknowledged", resolvedAt: null });
    const filtered = (await alertsOf(owner, workspaceId, "?status=acknowledged&severity=error")).json().items;
    expect(filtered.map((a: { id: string }) => a.id)).toEqual([alertId]);
  });

  it("resolves when the condition clears, and a resolved alert cannot be acknowledged", async () => {
    await asOwner(t.db.url, (o) =>
      o.query("update publish_attempts set started_at = now() - interval '2 hours' where workspace_id = $1", [
        workspaceId,
      ]),
    );
    const result = await evaluate();
    expect(result.resolved).toBeGreaterThanOrEqual(1);
    const alerts = await spikeAlerts();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ id: alertId, status: "resolved" });
    expect(alerts[0].resolvedAt).not.toBeNull();
    expect(await notified(alertId)).toEqual(["alert.fired", "alert.resolved"]);
    const again = await call(
      t.app,
      owner,
      "POST",
      `/api/v1/workspaces/${workspaceId}/alerts/${alertId}/acknowledge`,
    );
    expectProblem(again, 409, "HERALD_ALERT_RESOLVED");
  });

  it("a custom rule scoped to one account fires for that account only", async () => {
    const quiet = await account(workspaceId);
    const created = await call(t.app, owner, "POST", `/api/v1/workspaces/${workspaceId}/alert-rules`, {
      name: "Busy page",
      metric: "posts_per_account_hour",
      windowSeconds: 3600,
      comparison: ">=",
      threshold: 3,
      severity: "info",
      scope: "account",
      scopeValue: accountId,
    });
    expect(created.statusCode).toBe(201);
    await seedTarget(workspaceId, accountId, ["published"]);
    await seedTarget(workspaceId, accountId, ["published"]);
    await seedTarget(workspaceId, quiet, ["published"]);
    await seedTarget(workspaceId, quiet, ["published"]);
    await seedTarget(workspaceId, quiet, ["published"]);
    const result = await evaluate();
    const busy = result.opened.filter((a) => a.ruleId === created.json().id);
    expect(busy.map((a) => a.scopeKey)).toEqual([`account:${accountId}`]);
    expect(busy[0]).toMatchObject({ workspaceId, severity: "info", value: 3 });
  });

  it("another workspace's member cannot see or acknowledge the alert (404)", async () => {
    const stranger = await signUp(t.app);
    const own = await createWorkspace(t.app, stranger, "Elsewhere");
    expect((await alertsOf(stranger, workspaceId)).statusCode).toBe(404);
    const ack = await call(
      t.app,
      stranger,
      "POST",
      `/api/v1/workspaces/${own}/alerts/${alertId}/acknowledge`,
    );
    expectProblem(ack, 404, "HERALD_NOT_FOUND");
    const ownList = (await alertsOf(stranger, own)).json().items;
    expect(ownList.map((a: { id: string }) => a.id)).not.toContain(alertId);
  });
});

describe("POST /api/v1/cron/check-alerts", () => {
  const URL = "/api/v1/cron/check-alerts";

  it("without the secret: 401 and a security event", async () => {
    const response = await call(t.app, undefined, "POST", URL);
    expectProblem(response, 401, "HERALD_CRON_UNAUTHORIZED");
    const events = await asOwner(t.db.url, (o) =>
      o.query(
        `select outcome, details->>'reason' as reason from audit_events
          where workspace_id = $1 and action = 'access_denied' and request_id = $2`,
        [NO_WORKSPACE, response.headers["x-request-id"]],
      ),
    );
    expect(events.rows).toEqual([{ outcome: "denied", reason: "no cron secret" }]);
  });

  it("with a wrong secret: 401", async () => {
    const response = await call(t.app, "not-the-cron-secret-at-all", "POST", URL);
    expectProblem(response, 401, "HERALD_CRON_UNAUTHORIZED");
  });

  it("with the secret: 200 and a summary, with a critical alert when no worker is live", async () => {
    await asOwner(t.db.url, (o) => o.query("delete from worker_heartbeats"));
    const response = await call(t.app, CRON_SECRET, "POST", URL);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.workspaces).toBeGreaterThanOrEqual(2);
    expect(body.rulesEvaluated).toBeGreaterThanOrEqual(18);
    expect(body).toMatchObject({ fired: expect.any(Number), resolved: expect.any(Number) });
    expect(body.systemAlerts).toEqual([
      expect.objectContaining({ key: "no_live_worker", severity: "critical" }),
    ]);
  });

  it("no system alert while a worker's heartbeat is fresh", async () => {
    await asOwner(t.db.url, (o) =>
      o.query(
        `insert into worker_heartbeats (worker_id, hostname, pid, version, started_at, last_seen_at)
         values ($1, 'h', 1, 'test', now(), now())`,
        [randomUUID()],
      ),
    );
    const body = (await call(t.app, CRON_SECRET, "POST", URL)).json();
    expect(body.systemAlerts).toEqual([]);
  });

  it("answers 404 when CRON_SECRET is unset", async () => {
    const other = await startTestApp({}, { db: t.db });
    try {
      const response = await call(other.app, CRON_SECRET, "POST", URL);
      expect(response.statusCode).toBe(404);
    } finally {
      await other.close();
    }
  });
});
