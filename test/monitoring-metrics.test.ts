/**
 * GET /workspaces/{id}/monitoring/metrics: exact totals, rates and percentiles per platform and
 * overall, the hourly (or daily) series, token refresh figures from audit events, queue figures,
 * only the workspace's own rows, bad ranges named, scopes enforced.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordAudit, SYSTEM } from "../src/audit/audit.js";
import { withWorkspace } from "../src/db/tenant.js";
import {
  call,
  createApiKey,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";
import { validationPaths } from "./helpers/problems.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const url = (workspaceId: string, query = "") =>
  `/api/v1/workspaces/${workspaceId}/monitoring/metrics${query}`;

type Attempt = {
  outcome: string | null;
  latencyMs: number | null;
  latenessMs: number | null;
  startedAt: Date;
};

/** One target on a new account of the platform, with a target status and these attempts, as the owner. */
async function seed(
  workspaceId: string,
  platform: string,
  attempts: Attempt[],
  target: { status: string; publishAt: string } = { status: "published", publishAt: "now()" },
) {
  await asOwner(t.db.url, async (owner) => {
    const tag = randomBytes(4).toString("hex");
    const credential = await owner.query<{ id: string }>(
      `insert into account_credentials (workspace_id, platform, subject, access_token, key_id)
       values ($1, $2, $3, '\\x01', 'k') returning id`,
      [workspaceId, platform, `user:${tag}`],
    );
    const account = await owner.query<{ id: string }>(
      `insert into social_accounts (workspace_id, platform, platform_account_id, name, status, credential_id)
       values ($1, $2, $3, 'Page', 'active', $4) returning id`,
      [workspaceId, platform, `acct_${tag}`, credential.rows[0]?.id],
    );
    const post = await owner.query<{ id: string }>(
      "insert into posts (workspace_id, content) values ($1, '{}') returning id",
      [workspaceId],
    );
    const row = await owner.query<{ id: string }>(
      `insert into post_targets (workspace_id, post_id, account_id, platform, status, publish_at, attempts,
                                 published_at, lease_until)
       values ($1, $2, $3, $4, $5, ${target.publishAt}, $6,
               case when $5 = 'published' then now() end, case when $5 = 'publishing' then now() + interval '1 minute' end)
       returning id`,
      [workspaceId, post.rows[0]?.id, account.rows[0]?.id, platform, target.status, attempts.length],
    );
    for (const [index, a] of attempts.entries()) {
      await owner.query(
        `insert into publish_attempts (workspace_id, target_id, attempt, platform, started_at, ended_at, outcome,
                                       latency_ms, lateness_ms)
         values ($1, $2, $3, $4, $5, $5, $6, $7, $8)`,
        [
          workspaceId,
          row.rows[0]?.id,
          index + 1,
          platform,
          a.startedAt,
          a.outcome,
          a.latencyMs,
          a.latenessMs,
        ],
      );
    }
  });
}

/** PostgreSQL's percentile_cont over the values. */
function percentileCont(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  const position = p * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return (sorted[low] ?? 0) + ((sorted[high] ?? 0) - (sorted[low] ?? 0)) * (position - low);
}

const HOUR = 3600_000;

describe("GET /workspaces/{id}/monitoring/metrics", () => {
  let owner: Session;
  let a: string;
  let b: string;
  /** The start of the UTC hour five hours ago: attempts land at +10 min and +1 h 10 min. */
  let base: Date;
  let from: string;
  let to: string;

  beforeAll(async () => {
    owner = await signUp(t.app);
    a = await createWorkspace(t.app, owner, "Measured");
    const other = await signUp(t.app);
    b = await createWorkspace(t.app, other, "Other");
    base = new Date(Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR);
    from = new Date(base.getTime() - HOUR).toISOString();
    to = new Date(Date.now() + 60_000).toISOString();
    const at = (minutes: number) => new Date(base.getTime() + minutes * 60_000);

    // sandbox: 20 attempts, latency 100..2000 ms, lateness 10..200 ms; 17 published, 2 failed, 1 retry.
    const outcomes = [...Array(17).fill("published"), "failed", "failed", "retry"];
    await seed(
      a,
      "sandbox",
      outcomes.map((outcome, i) => ({
        outcome,
        latencyMs: 100 * (i + 1),
        latenessMs: 10 * (i + 1),
        startedAt: at(i < 10 ? 10 : 70),
      })),
    );
    // facebook: 4 attempts in the first hour; the unconfirmed one has no latency.
    await seed(a, "facebook", [
      { outcome: "published", latencyMs: 400, latenessMs: 5000, startedAt: at(20) },
      { outcome: "failed", latencyMs: 600, latenessMs: 7000, startedAt: at(21) },
      { outcome: "unconfirmed", latencyMs: null, latenessMs: 9000, startedAt: at(22) },
      { outcome: "already_published", latencyMs: 200, latenessMs: 3000, startedAt: at(23) },
    ]);
    // Workspace B: never in A's figures.
    await seed(b, "sandbox", [
      { outcome: "failed", latencyMs: 99_999, latenessMs: 99_999, startedAt: at(10) },
      { outcome: "failed", latencyMs: 99_999, latenessMs: 99_999, startedAt: at(11) },
    ]);
    // Queue: one due, one overdue, one later, one publishing (A); one overdue in B.
    await seed(a, "sandbox", [], { status: "scheduled", publishAt: "now() - interval '1 minute'" });
    await seed(a, "sandbox", [], { status: "scheduled", publishAt: "now() - interval '10 minutes'" });
    await seed(a, "sandbox", [], { status: "scheduled", publishAt: "now() + interval '1 hour'" });
    await seed(a, "sandbox", [], { status: "publishing", publishAt: "now() - interval '1 minute'" });
    await seed(b, "sandbox", [], { status: "scheduled", publishAt: "now() - interval '10 minutes'" });
    // Token refreshes through the audit trail (hash chain and all): 3 refreshed, 1 failed in A; 2 failed in B.
    const refresh = (workspaceId: string, action: "token_refreshed" | "token_refresh_failed") =>
      withWorkspace(t.pool, workspaceId, (tx) =>
        recordAudit(tx, workspaceId, SYSTEM, { action, details: { platform: "sandbox" } }),
      );
    for (let i = 0; i < 3; i++) await refresh(a, "token_refreshed");
    await refresh(a, "token_refresh_failed");
    await refresh(b, "token_refresh_failed");
    await refresh(b, "token_refresh_failed");
  });

  const metrics = async (query = `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`) => {
    const response = await call(t.app, owner, "GET", url(a, query));
    expect(response.statusCode).toBe(200);
    return response.json();
  };

  it("counts totals, rates and percentiles per platform from the recorded attempts", async () => {
    const body = await metrics();
    expect(body).toMatchObject({ workspaceId: a, from, bucket: "hour" });
    const byPlatform = Object.fromEntries(
      body.publishing.platforms.map((p: { platform: string }) => [p.platform, p]),
    );
    expect(Object.keys(byPlatform).sort()).toEqual(["facebook", "sandbox"]);
    expect(byPlatform.sandbox).toEqual({
      platform: "sandbox",
      attempts: 20,
      published: 17,
      failed: 2,
      unconfirmed: 0,
      retries: 1,
      successRate: 0.85,
      // percentile_cont: p50 at 9.5 → 1050, p95 at 18.05 → 1905
      latencyMs: { avg: 1050, p50: 1050, p95: 1905 },
      latenessMs: { avg: 105, p50: 105, p95: 190.5, max: 200 },
    });
    expect(byPlatform.facebook).toEqual({
      platform: "facebook",
      attempts: 4,
      published: 2,
      failed: 1,
      unconfirmed: 1,
      retries: 0,
      successRate: 0.5,
      latencyMs: { avg: 400, p50: 400, p95: 580 },
      latenessMs: { avg: 6000, p50: 6000, p95: 8700, max: 9000 },
    });
  });

  it("adds the platforms up overall", async () => {
    const { publishing } = await metrics();
    const latencies = [...Array.from({ length: 20 }, (_, i) => 100 * (i + 1)), 400, 600, 200];
    const lateness = [...Array.from({ length: 20 }, (_, i) => 10 * (i + 1)), 5000, 7000, 9000, 3000];
    expect(publishing).toMatchObject({
      attempts: 24,
      published: 19,
      failed: 3,
      unconfirmed: 1,
      retries: 1,
      successRate: 0.792,
      latencyMs: {
        avg: Math.round((latencies.reduce((s, v) => s + v, 0) / 23) * 10) / 10,
        p50: percentileCont(latencies, 0.5),
        p95: Math.round(percentileCont(latencies, 0.95) * 10) / 10,
      },
      latenessMs: { max: 9000, p50: percentileCont(lateness, 0.5) },
    });
  });

  it("buckets the series by hour and platform", async () => {
    const { series } = await metrics();
    const first = base.toISOString();
    const second = new Date(base.getTime() + HOUR).toISOString();
    expect(series).toEqual([
      {
        bucketStart: first,
        platform: "facebook",
        attempts: 4,
        published: 2,
        failed: 1,
        avgLatencyMs: 400,
        avgLatenessMs: 6000,
      },
      {
        bucketStart: first,
        platform: "sandbox",
        attempts: 10,
        published: 10,
        failed: 0,
        avgLatencyMs: 550,
        avgLatenessMs: 55,
      },
      {
        bucketStart: second,
        platform: "sandbox",
        attempts: 10,
        published: 7,
        failed: 2,
        avgLatencyMs: 1550,
        avgLatenessMs: 155,
      },
    ]);
  });

  it("buckets by day for ranges over 3 days", async () => {
    const longFrom = new Date(Date.now() - 4 * 24 * HOUR).toISOString();
    const body = await metrics(`?from=${encodeURIComponent(longFrom)}`);
    expect(body.bucket).toBe("day");
    const total = body.series.reduce((s: number, row: { attempts: number }) => s + row.attempts, 0);
    expect(total).toBe(24);
    for (const row of body.series) expect(row.bucketStart).toMatch(/T00:00:00\.000Z$/);
  });

  it("reports token refreshes and the queue of the workspace only", async () => {
    const body = await metrics();
    expect(body.tokenRefresh).toEqual({ refreshed: 3, failed: 1, successRate: 0.75 });
    expect(body.queue).toEqual({ scheduled: 3, due: 2, overdue: 1, publishing: 1 });
  });

  it("defaults to the last 24 hours", async () => {
    const body = await metrics("");
    expect(Date.parse(body.to) - Date.parse(body.from)).toBe(24 * HOUR);
    expect(body.publishing.attempts).toBe(24);
  });

  it("an empty range has zero counts and null rates", async () => {
    const body = await metrics(`?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00%2B02:00`);
    expect(body.publishing).toMatchObject({ attempts: 0, successRate: null, platforms: [] });
    expect(body.publishing.latencyMs).toEqual({ avg: null, p50: null, p95: null });
    expect(body.series).toEqual([]);
    expect(body.tokenRefresh).toEqual({ refreshed: 0, failed: 0, successRate: null });
  });

  it("names the field of a bad range", async () => {
    const bad = async (query: string) => validationPaths(await call(t.app, owner, "GET", url(a, query)));
    expect(await bad("?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z")).toEqual(["query.to"]);
    expect(await bad("?from=2025-01-01T00:00:00Z&to=2025-01-01T00:00:00Z")).toEqual(["query.to"]);
    expect(await bad("?from=2025-01-01T00:00:00Z&to=2025-02-02T00:00:01Z")).toEqual(["query.to"]);
    const old = new Date(Date.now() - 40 * 24 * HOUR).toISOString();
    expect(await bad(`?from=${encodeURIComponent(old)}`)).toEqual(["query.from"]);
    expect(await bad("?from=yesterday")).toEqual(["query.from"]);
    expect(await bad("?to=2025-01-01T00:00:00")).toEqual(["query.to"]);
    // Exactly 31 days is allowed.
    const ok = await call(t.app, owner, "GET", url(a, "?from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z"));
    expect(ok.statusCode).toBe(200);
  });

  it("needs monitoring:read: an API key without it gets 403, one with it its own figures", async () => {
    const without = await createApiKey(t.app, owner, a, ["posts:read"]);
    const refused = await call(t.app, without, "GET", url(a));
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe("HERALD_INSUFFICIENT_SCOPE");
    const withScope = await createApiKey(t.app, owner, a, ["monitoring:read"]);
    const allowed = await call(t.app, withScope, "GET", url(a));
    expect(allowed.statusCode).toBe(200);
    expect(allowed.json().publishing.attempts).toBe(24);
    expect((await call(t.app, withScope, "GET", url(b))).statusCode).toBe(404);
  });

  it("a stranger to the workspace gets 404", async () => {
    const stranger = await signUp(t.app);
    expect((await call(t.app, stranger, "GET", url(a))).statusCode).toBe(404);
  });
});
