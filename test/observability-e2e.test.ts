/**
 * Issue 6's acceptance checks, end to end: Herald's API (in-process) and a real worker running
 * Herald's own task list (publish, alert and notification jobs) against the Sandbox on loopback.
 * Sandbox faults make the failed-jobs alert fire once, a webhook channel receives one signed
 * notification, acknowledging and then clearing the condition resolves it; stopping the only worker
 * makes health `down` and the no-live-worker alert fire; one request id threads a post's log lines.
 *
 * The worker runs with no crontab: the test calls `evaluateAlerts` where the minute cron
 * (`alert_check`) would run, so that the file takes seconds rather than minutes.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { evaluateAlerts } from "../src/alerts/evaluate.js";
import { createLogger } from "../src/observability/logger.js";
import { startSandboxServer } from "../src/sandbox/sandbox.js";
import { startWorker, type WorkerHandle } from "../src/worker/worker.js";
import {
  call,
  createClient,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { confirm, connectSandbox } from "./helpers/connect.js";
import { asOwner } from "./helpers/database.js";
import { eventually } from "./helpers/eventually.js";
import { capturedLogger } from "./helpers/log-capture.js";

const CLIENT_ID = "herald";
const CLIENT_SECRET = `sandbox-secret-${randomBytes(6).toString("hex")}`;
const CRON_SECRET = "cron-secret-0123456789-abcdef";
/** Herald's app and worker log here (debug and up); the Sandbox, a separate service, stays silent. */
const captured = capturedLogger("debug");

type Received = { headers: Record<string, string>; body: string };

/** A Standard Webhooks receiver on loopback that records every request and answers 204. */
class Receiver {
  readonly requests: Received[] = [];
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [name, String(value)]),
      );
      this.requests.push({ headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  url = "";

  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/herald`;
  }

  stop() {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let sandbox: { url: string; close(): Promise<void> };
let receiver: Receiver;
let t: TestApp;
let worker: WorkerHandle | undefined;
let owner: Session;
let workspaceId: string;
let clientId: string;
let accounts: { id: string; platformAccountId: string }[];

beforeAll(async () => {
  // The fault draws alternate below and above 0.5: `errorRate: 0.5` fails exactly every other
  // platform call, so the failure rate is known rather than probable.
  let draw = 0;
  sandbox = await startSandboxServer({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    log: createLogger("silent"),
    port: 0,
    random: () => (draw++ % 2 === 0 ? 0.25 : 0.75),
  });
  receiver = new Receiver();
  await receiver.start();
  t = await startTestApp(
    {
      HERALD_SANDBOX_URL: sandbox.url,
      HERALD_SANDBOX_CLIENT_ID: CLIENT_ID,
      HERALD_SANDBOX_CLIENT_SECRET: CLIENT_SECRET,
      HERALD_WORKER_POLL_MS: "50",
      // Two attempts: a target under faults is final within about a second.
      HERALD_PUBLISH_MAX_ATTEMPTS: "2",
      HERALD_OUTBOUND_ALLOWLIST: "127.0.0.1",
      CRON_SECRET,
    },
    { log: captured.log },
  );
  owner = await signUp(t.app);
  workspaceId = await createWorkspace(t.app, owner, "Observed");
  clientId = await createClient(t.app, owner, workspaceId, { name: "Contoso" });
  const user = `user${randomBytes(4).toString("hex")}`;
  const pendingId = await connectSandbox(t.app, owner, workspaceId, { user, accounts: ["Main", "Second"] });
  accounts = await confirm(t.app, owner, workspaceId, pendingId, { clientIds: [clientId] });
});

afterEach(async () => {
  await worker?.stop();
  worker = undefined;
  await setFaults({});
});

afterAll(async () => {
  await t?.close();
  await sandbox?.close();
  await receiver?.stop();
});

const api = (path: string) => `/api/v1/workspaces/${workspaceId}${path}`;

/** A worker with Herald's real task list; no crontab (the test evaluates alerts itself). */
async function runWorker(): Promise<WorkerHandle> {
  worker = await startWorker({
    pool: t.pool,
    concurrency: 8,
    version: "test",
    log: captured.log,
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

/** Creates posts published now, one target per account, and answers their ids. */
async function publishNow(count: number, text: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await call(t.app, owner, "POST", api("/posts"), {
      clientId,
      content: { text: `${text} ${i}` },
      targets: accounts.map((a) => ({ accountId: a.id })),
      publishNow: true,
    });
    expect(response.statusCode).toBe(201);
    ids.push(response.json().id);
  }
  return ids;
}

const FINAL = new Set(["published", "failed", "unconfirmed", "cancelled"]);

/** The targets' statuses once all of them are final. */
async function allFinal(postIds: string[]): Promise<string[] | undefined> {
  const statuses = await asOwner(t.db.url, async (client) => {
    const { rows } = await client.query<{ status: string }>(
      "select status from post_targets where post_id = any($1::uuid[])",
      [postIds],
    );
    return rows.map((row) => row.status);
  });
  return statuses.every((status) => FINAL.has(status)) ? statuses : undefined;
}

type Alert = {
  id: string;
  ruleName: string;
  status: string;
  acknowledgedBy: string | null;
  samples: number;
  value: number;
};

async function spikeAlerts(): Promise<Alert[]> {
  const response = await call(t.app, owner, "GET", api("/alerts"));
  expect(response.statusCode).toBe(200);
  return response.json().items.filter((a: Alert) => a.ruleName === "Failed jobs spike");
}

type Notification = { type: string; data: { alertId: string; severity: string; title: string } };

describe("the failed-jobs alert under Sandbox faults", () => {
  it("fires once, sends one signed notification, is acknowledged, and resolves by itself", async () => {
    // Only error and critical alerts: the "Failed publish rate" warning fires too, on other channels.
    const channel = await call(t.app, owner, "POST", api("/notification-channels"), {
      kind: "webhook",
      name: "On call",
      target: receiver.url,
      minSeverity: "error",
    });
    expect(channel.statusCode).toBe(201);
    const secret: string = channel.json().secret;
    const verified = () =>
      receiver.requests.map(
        (request) => new Webhook(secret).verify(request.body, request.headers) as Notification,
      );

    await setFaults({ errorRate: 0.5 });
    await runWorker();
    // 16 targets: every other Sandbox call fails, so about half of the first attempts fail and
    // retry, and about half of those fail again (typically 24 attempts, 12 failed, 4 targets failed;
    // the exact split depends on how the worker's concurrent calls interleave).
    const failing = await publishNow(8, "Under faults");
    const statuses = await eventually(() => allFinal(failing), "every target under faults is final");
    expect(statuses.filter((s) => s === "failed" || s === "published")).toHaveLength(16);

    // Where the minute cron would run, three times: one alert, however many evaluations.
    for (let i = 0; i < 3; i++) await evaluateAlerts(t.pool, captured.log);
    const fired = await spikeAlerts();
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({ status: "firing", severity: "error" });
    // Half of the attempts failed, give or take the one call an odd count leaves over.
    const { samples = 0, value = 0 } = fired[0] ?? {};
    expect(samples).toBeGreaterThan(16);
    expect(Math.abs(value - 50)).toBeLessThanOrEqual(100 / samples);
    const alertId = fired[0]?.id ?? "";

    // The real worker delivers the notification; its signature verifies with the channel's secret.
    await eventually(() => receiver.requests.length >= 1, "the webhook receiver gets the notification");
    const [notification] = verified();
    expect(notification).toMatchObject({
      type: "alert.fired",
      data: { alertId, severity: "error", title: "Failed jobs spike" },
    });

    const acknowledged = await call(t.app, owner, "POST", api(`/alerts/${alertId}/acknowledge`));
    expect(acknowledged.statusCode).toBe(200);
    expect(acknowledged.json()).toMatchObject({ status: "acknowledged", acknowledgedBy: owner.userId });
    expect(Date.parse(acknowledged.json().acknowledgedAt)).toBeGreaterThan(Date.now() - 60_000);
    // Still under faults: another evaluation keeps the one alert, acknowledged, and sends nothing new.
    await evaluateAlerts(t.pool, captured.log);
    expect(await spikeAlerts()).toEqual([expect.objectContaining({ id: alertId, status: "acknowledged" })]);

    // The faults stop; the failures leave the one-hour window (moved back, as the clock would) and
    // new posts publish.
    await setFaults({});
    await asOwner(t.db.url, (o) =>
      o.query("update publish_attempts set started_at = now() - interval '2 hours' where workspace_id = $1", [
        workspaceId,
      ]),
    );
    const healthy = await publishNow(2, "After faults");
    expect(await eventually(() => allFinal(healthy), "the new targets are final")).toEqual([
      "published",
      "published",
      "published",
      "published",
    ]);
    const result = await evaluateAlerts(t.pool, captured.log);
    expect(result.resolved).toBeGreaterThanOrEqual(1);
    const after = await spikeAlerts();
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: alertId, status: "resolved" });

    await eventually(() => receiver.requests.length >= 2, "the webhook receiver gets the resolution");
    const events = verified();
    expect(events.map((e) => [e.type, e.data.alertId])).toEqual([
      ["alert.fired", alertId],
      ["alert.resolved", alertId],
    ]);
  });
});

describe("losing the only worker", () => {
  const health = () => call(t.app, owner, "GET", "/api/v1/monitoring/health");

  it("makes health down with the reason, and the no-live-worker alert fire", async () => {
    const running = await runWorker();
    const live = await health();
    expect(live.statusCode).toBe(200);
    expect(["ok", "degraded"]).toContain(live.json().status);
    expect(live.json().reasons.join(" ")).not.toMatch(/worker/);
    expect(live.json().workers.live.map((w: { id: string }) => w.id)).toContain(running.workerId);

    await running.stop();
    worker = undefined;
    const down = await health();
    expect(down.statusCode).toBe(503);
    expect(down.json().status).toBe("down");
    expect(down.json().reasons.join(" ")).toMatch(/no live worker/);

    // Three minutes pass, as far as the heartbeats are concerned.
    await asOwner(t.db.url, (o) =>
      o.query(
        `update worker_heartbeats set started_at = started_at - interval '3 minutes',
           last_seen_at = last_seen_at - interval '3 minutes', stopped_at = stopped_at - interval '3 minutes'`,
      ),
    );
    const cron = await call(t.app, CRON_SECRET, "POST", "/api/v1/cron/check-alerts");
    expect(cron.statusCode).toBe(200);
    expect(cron.json().systemAlerts).toEqual([
      expect.objectContaining({ key: "no_live_worker", severity: "critical" }),
    ]);
    expect(cron.json().systemAlerts[0].message).toMatch(/last heartbeat was 1[89]\d s ago/);
    const later = await health();
    expect(later.statusCode).toBe(503);
    expect(later.json().reasons.join(" ")).toMatch(/no live worker for 1[89]\d s/);
  });
});

describe("one post's story in the logs", () => {
  it("carries the request id from the API call to the platform response, and no token", async () => {
    const requestId = `req-${randomBytes(6).toString("hex")}`;
    const response = await call(
      t.app,
      owner,
      "POST",
      api("/posts"),
      { clientId, content: { text: "Traced" }, targets: [{ accountId: accounts[0]?.id }], publishNow: true },
      { "x-request-id": requestId },
    );
    expect(response.statusCode).toBe(201);
    const postId: string = response.json().id;
    await runWorker();
    expect(await eventually(() => allFinal([postId]), "the traced target is final")).toEqual(["published"]);
    // The attempt's last line is written after its transaction commits: wait for it too.
    const lines = await eventually(() => {
      const all = captured.lines();
      return all.some((l) => l.msg === "publish attempt" && l.postId === postId) && all;
    }, "the publish attempt is logged");

    // The access log writes one line per request, labelled `requestId` (src/http/access-log.ts).
    const request = lines.filter((l) => l.requestId === requestId && l.msg === "request completed");
    expect(request).toEqual([
      expect.objectContaining({
        method: "POST",
        route: "/api/v1/workspaces/:workspaceId/posts",
        status: 201,
      }),
    ]);
    const attempt = lines.filter((l) => l.msg === "publish attempt" && l.postId === postId);
    expect(attempt).toHaveLength(1);
    expect(attempt[0]).toMatchObject({ correlationId: requestId, outcome: "published" });
    const platform = lines.filter((l) => l.msg === "platform call" && l.postId === postId);
    expect(platform.length).toBeGreaterThanOrEqual(1);
    for (const line of platform)
      expect(line).toMatchObject({ correlationId: requestId, platform: "sandbox" });

    // No line of the whole file's run holds a Sandbox-issued token or the session cookie.
    const tokens = (await (await fetch(`${sandbox.url}/admin/tokens`)).json()) as {
      tokens: { token: string }[];
    };
    expect(tokens.tokens.length).toBeGreaterThan(0);
    const text = captured.text();
    for (const { token } of tokens.tokens) expect(text).not.toContain(token);
    const cookieValue = owner.cookie.slice(owner.cookie.indexOf("=") + 1);
    expect(text).not.toContain(cookieValue);
    expect(text).not.toContain(decodeURIComponent(cookieValue));
  });
});
