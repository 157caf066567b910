/**
 * Notification channels through the HTTP API and the `deliver_notification` job (run directly, one
 * attempt at a time), against real receivers on loopback: a Standard Webhooks receiver, a
 * Slack-shaped receiver and an SMTP server; severity and event filters; retries that keep the
 * message id; failures visible in the delivery log; and the token sweep's account events.
 */
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveCredential } from "../src/accounts/credentials.js";
import { sweepTokens } from "../src/accounts/token-sweep.js";
import { withWorkspace } from "../src/db/tenant.js";
import { deliverNotification, NotificationDeliveryError } from "../src/notifications/delivery.js";
import { enqueueNotification } from "../src/notifications/notifications.service.js";
import { createLogger } from "../src/observability/logger.js";
import { reencryptSecrets } from "../src/vault/rotation.js";
import { Vault } from "../src/vault/vault.js";
import {
  addMember,
  call,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";
import { expectProblem, validationPaths } from "./helpers/problems.js";

type Received = { path: string; headers: Record<string, string>; body: string };

/** An HTTP receiver: records every request; each path answers as its script says (default 204). */
class Receiver {
  readonly requests: Received[] = [];
  private readonly scripts = new Map<string, (n: number) => number>();
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const path = req.url ?? "/";
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [name, String(value)]),
      );
      this.requests.push({ path, headers, body: Buffer.concat(chunks).toString("utf8") });
      const n = this.requests.filter((r) => r.path === path).length;
      res.writeHead(this.scripts.get(path)?.(n) ?? 204).end();
    });
  });
  port = 0;

  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  stop() {
    return new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  url(script?: (n: number) => number): string {
    const path = `/hooks/${randomUUID()}`;
    if (script) this.scripts.set(path, script);
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(url: string): Received[] {
    return this.requests.filter((r) => r.path === new URL(url).pathname);
  }
}

const MAX_ATTEMPTS = 3;
const log = createLogger("silent");
const mails: Array<{ to: string[]; raw: string }> = [];
const smtp = new SMTPServer({
  authOptional: true,
  hideSTARTTLS: true,
  logger: false,
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      mails.push({
        to: session.envelope.rcptTo.map((r) => r.address),
        raw: Buffer.concat(chunks).toString("utf8"),
      });
      callback();
    });
  },
});
let t: TestApp;
let receiver: Receiver;
let owner: Session;
let workspaceId: string;

const channelsUrl = (ws: string) => `/api/v1/workspaces/${ws}/notification-channels`;

beforeAll(async () => {
  receiver = new Receiver();
  await receiver.start();
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  t = await startTestApp({
    HERALD_OUTBOUND_ALLOWLIST: "127.0.0.1",
    HERALD_WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    HERALD_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    HERALD_SMTP_FROM: "Herald Alerts <alerts@herald.test>",
    // The Sandbox adapter is registered (never called) so that the token sweep knows the platform.
    HERALD_SANDBOX_URL: "http://127.0.0.1:9/sandbox",
  });
  owner = await signUp(t.app);
  workspaceId = await createWorkspace(t.app, owner);
});

afterAll(async () => {
  await t?.close();
  await receiver?.stop();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

type Created = { id: string; kind: string; target: string; secret?: string; minSeverity: string };

async function createChannel(body: Record<string, unknown>, ws = workspaceId): Promise<Created> {
  const response = await call(t.app, owner, "POST", channelsUrl(ws), { name: "Ops", ...body });
  if (response.statusCode !== 201) throw new Error(`channel creation failed: ${response.body}`);
  return response.json();
}

async function deliveries(channelId: string) {
  const response = await call(t.app, owner, "GET", `${channelsUrl(workspaceId)}/${channelId}/deliveries`);
  expect(response.statusCode).toBe(200);
  return response.json().items as Array<{
    id: string;
    eventType: string;
    severity: string;
    messageId: string;
    status: string;
    attempts: number;
    lastStatus: number | null;
    lastError: string | null;
  }>;
}

const deps = () => ({ pool: t.pool, log, vault: t.vault, config: t.config });

/** Runs one attempt of a delivery's job now (no worker runs in this file). */
const attempt = (deliveryId: string, n: number) =>
  deliverNotification(deps(), { workspaceId, deliveryId }, { attempts: n, max_attempts: 50 });

/** Queues the test notification through the API and answers its delivery id. */
async function sendTest(channelId: string): Promise<string> {
  const response = await call(t.app, owner, "POST", `${channelsUrl(workspaceId)}/${channelId}/test`);
  expect(response.statusCode).toBe(202);
  expect(response.json()).toMatchObject({ channelId, eventType: "notification.test", status: "pending" });
  return response.json().id;
}

describe("managing channels", () => {
  it("creates, lists and deletes channels; a webhook's secret is shown once, a Slack URL never", async () => {
    const webhook = await createChannel({ kind: "webhook", target: receiver.url(), minSeverity: "error" });
    expect(webhook.secret).toMatch(/^whsec_/);
    const slackUrl = `${receiver.url()}/secret-token`;
    const slack = await createChannel({ kind: "slack", target: slackUrl });
    expect(slack).toMatchObject({ kind: "slack", minSeverity: "warning" });
    expect(slack.target).not.toContain("secret-token");
    const email = await createChannel({ kind: "email", target: "Ops@Example.com", events: ["alert.fired"] });
    expect(email).toMatchObject({ target: "ops@example.com", events: ["alert.fired"] });

    const list = await call(t.app, owner, "GET", channelsUrl(workspaceId));
    expect(list.statusCode).toBe(200);
    const ids = list.json().items.map((c: { id: string }) => c.id);
    expect(ids).toEqual(expect.arrayContaining([webhook.id, slack.id, email.id]));
    expect(list.body).not.toContain(webhook.secret?.slice(6));
    expect(list.body).not.toContain("secret-token");

    const removed = await call(t.app, owner, "DELETE", `${channelsUrl(workspaceId)}/${email.id}`);
    expect(removed.statusCode).toBe(204);
    const after = await call(t.app, owner, "GET", channelsUrl(workspaceId));
    expect(after.json().items.map((c: { id: string }) => c.id)).not.toContain(email.id);
    const audit = await asOwner(t.db.url, (db) =>
      db.query<{ action: string }>(
        "select action from audit_events where target_id = any($1) order by action",
        [[webhook.id, email.id]],
      ),
    );
    expect(audit.rows.map((r) => r.action)).toEqual([
      "notification_channel_created",
      "notification_channel_created",
      "notification_channel_deleted",
    ]);
  });

  it("refuses a URL that is a private address with 422, and a bad email with 400 at body.target", async () => {
    const privateUrl = await call(t.app, owner, "POST", channelsUrl(workspaceId), {
      kind: "webhook",
      name: "Inside",
      target: "http://10.0.0.8/hook",
    });
    const problem = expectProblem(privateUrl, 422, "HERALD_CHANNEL_URL_REFUSED");
    expect(problem.errors?.map((e) => e.path)).toEqual(["body.target"]);
    const slack = await call(t.app, owner, "POST", channelsUrl(workspaceId), {
      kind: "slack",
      name: "Inside",
      target: "http://192.168.1.1/services/x",
    });
    expectProblem(slack, 422, "HERALD_CHANNEL_URL_REFUSED");
    const badEmail = await call(t.app, owner, "POST", channelsUrl(workspaceId), {
      kind: "email",
      name: "Ops",
      target: "not-an-address",
    });
    expect(validationPaths(badEmail)).toEqual(["body.target"]);
  });

  it("is for admins: a manager is refused with 403", async () => {
    const manager = await addMember(t.app, owner, workspaceId, "manager");
    const list = await call(t.app, manager, "GET", channelsUrl(workspaceId));
    expectProblem(list, 403, "HERALD_FORBIDDEN");
    const create = await call(t.app, manager, "POST", channelsUrl(workspaceId), {
      kind: "email",
      name: "Mine",
      target: "me@example.com",
    });
    expectProblem(create, 403, "HERALD_FORBIDDEN");
  });

  it("answers 404 for another workspace's channel, on every route, and changes nothing", async () => {
    const other = await signUp(t.app);
    const otherWs = await createWorkspace(t.app, other, "Other");
    const victim = await createChannel({ kind: "email", target: "victim@example.com" });
    for (const [method, suffix] of [
      ["DELETE", ""],
      ["GET", "/deliveries"],
      ["POST", "/test"],
    ] as const) {
      const response = await call(t.app, other, method, `${channelsUrl(otherWs)}/${victim.id}${suffix}`);
      expectProblem(response, 404, "HERALD_NOT_FOUND");
    }
    // The intruder's test send queued nothing. (Repeated probes may open the workspace's
    // "Suspicious activity" alert, whose alert.fired the victim's channel rightly receives.)
    const queued = await deliveries(victim.id);
    expect(queued.filter((delivery) => delivery.eventType !== "alert.fired")).toEqual([]);
    expect(queued.every((delivery) => delivery.severity === "critical")).toBe(true);
  });
});

describe("delivering", () => {
  it("a webhook channel receives a test notification with a valid Standard Webhooks signature", async () => {
    const url = receiver.url();
    const channel = await createChannel({ kind: "webhook", target: url });
    const deliveryId = await sendTest(channel.id);
    await attempt(deliveryId, 1);
    const [request] = receiver.at(url);
    expect(request).toBeDefined();
    const event = new Webhook(channel.secret ?? "").verify(request?.body ?? "", request?.headers ?? {});
    expect(event).toMatchObject({
      type: "notification.test",
      data: { severity: "info", title: "Test notification from Herald", channelId: channel.id },
    });
    expect(await deliveries(channel.id)).toMatchObject([
      { id: deliveryId, status: "delivered", attempts: 1, lastStatus: 204 },
    ]);
  });

  it("a slack channel receives the incoming-webhook payload", async () => {
    const url = receiver.url();
    const channel = await createChannel({ kind: "slack", target: url });
    await attempt(await sendTest(channel.id), 1);
    const [request] = receiver.at(url);
    expect(request?.headers["content-type"]).toMatch(/^application\/json/);
    const body = JSON.parse(request?.body ?? "{}");
    expect(body.text).toContain("Test notification from Herald");
    expect(body.blocks[0]).toMatchObject({ type: "section", text: { type: "mrkdwn" } });
    expect(body.blocks[0].text.text).toContain("Nothing is wrong.");
  });

  it("an email channel delivers through SMTP with the event in its subject and body", async () => {
    const address = `ops-${randomUUID().slice(0, 8)}@example.com`;
    const channel = await createChannel({ kind: "email", target: address });
    const deliveryId = await sendTest(channel.id);
    await attempt(deliveryId, 1);
    const mail = mails.find((m) => m.to.includes(address));
    expect(mail).toBeDefined();
    expect(mail?.raw).toMatch(/^Subject: \[Herald\] \[INFO\] Test notification from Herald\r?$/m);
    expect(mail?.raw).toMatch(/^From: Herald Alerts <alerts@herald\.test>\r?$/m);
    expect(mail?.raw).toContain("Nothing is wrong.");
    const [delivery] = await deliveries(channel.id);
    expect(delivery).toMatchObject({ status: "delivered", attempts: 1 });
    expect(mail?.raw).toContain(`<${delivery?.messageId}@herald>`);
  });

  it("filters by minimum severity and event type", async () => {
    const critical = await createChannel({ kind: "email", target: "c@example.com", minSeverity: "critical" });
    const warning = await createChannel({ kind: "email", target: "w@example.com", minSeverity: "warning" });
    const alertsOnly = await createChannel({
      kind: "email",
      target: "a@example.com",
      events: ["alert.fired"],
    });
    const event = (severity: "warning" | "critical", type = "alert.fired") => ({
      type,
      severity,
      title: "Queue backlog",
      text: "More than 100 jobs are waiting.",
      data: { ruleId: randomUUID() },
    });
    await withWorkspace(t.pool, workspaceId, async (tx) => {
      await enqueueNotification(tx, workspaceId, event("warning"));
      await enqueueNotification(tx, workspaceId, event("critical", "account.expiring"));
    });
    expect((await deliveries(critical.id)).map((d) => [d.eventType, d.severity])).toEqual([
      ["account.expiring", "critical"],
    ]);
    expect((await deliveries(warning.id)).map((d) => d.severity).sort()).toEqual(["critical", "warning"]);
    expect((await deliveries(alertsOnly.id)).map((d) => d.eventType)).toEqual(["alert.fired"]);
    // Each delivery's job was queued in the same transaction.
    const criticalDelivery = (await deliveries(critical.id))[0]?.id;
    const { rows } = await asOwner(t.db.url, (db) =>
      db.query(
        "select 1 from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id where k.identifier = 'deliver_notification' and j.payload->>'deliveryId' = $1",
        [criticalDelivery],
      ),
    );
    expect(rows).toHaveLength(1);
  });

  it("a receiver answering 500 then 200 is retried with the same message id", async () => {
    const url = receiver.url((n) => (n === 1 ? 500 : 200));
    const channel = await createChannel({ kind: "webhook", target: url });
    const deliveryId = await sendTest(channel.id);
    await expect(attempt(deliveryId, 1)).rejects.toThrow(NotificationDeliveryError);
    expect(await deliveries(channel.id)).toMatchObject([{ status: "pending", attempts: 1, lastStatus: 500 }]);
    await attempt(deliveryId, 2);
    const requests = receiver.at(url);
    expect(requests).toHaveLength(2);
    expect(requests[0]?.headers["webhook-id"]).toBe(requests[1]?.headers["webhook-id"]);
    expect(await deliveries(channel.id)).toMatchObject([
      { status: "delivered", attempts: 2, lastStatus: 200 },
    ]);
  });

  it("a delivery that fails every attempt is marked failed, with the reason, in the delivery log", async () => {
    const url = receiver.url(() => 503);
    const channel = await createChannel({ kind: "slack", target: url });
    const deliveryId = await sendTest(channel.id);
    for (let n = 1; n < MAX_ATTEMPTS; n++) await expect(attempt(deliveryId, n)).rejects.toThrow();
    await attempt(deliveryId, MAX_ATTEMPTS);
    expect(receiver.at(url)).toHaveLength(MAX_ATTEMPTS);
    expect(await deliveries(channel.id)).toMatchObject([
      { status: "failed", attempts: MAX_ATTEMPTS, lastStatus: 503, lastError: "The endpoint answered 503." },
    ]);
    // Settled: a stray later run sends nothing.
    await attempt(deliveryId, MAX_ATTEMPTS + 1);
    expect(receiver.at(url)).toHaveLength(MAX_ATTEMPTS);
  });

  it("without SMTP configured, an email delivery fails at once saying so", async () => {
    const channel = await createChannel({ kind: "email", target: "nosmtp@example.com" });
    const deliveryId = await sendTest(channel.id);
    const config = { ...t.config, smtp: { ...t.config.smtp, url: undefined } };
    await deliverNotification(
      { ...deps(), config },
      { workspaceId, deliveryId },
      { attempts: 1, max_attempts: 50 },
    );
    expect(await deliveries(channel.id)).toMatchObject([
      { status: "failed", lastError: expect.stringMatching(/HERALD_SMTP_URL/) },
    ]);
  });

  it("the token sweep flagging an account needs_reconnection notifies the workspace", async () => {
    const url = receiver.url();
    const channel = await createChannel({
      kind: "webhook",
      target: url,
      events: ["account.needs_reconnection"],
    });
    const day = 86_400_000;
    const accountId = await withWorkspace(t.pool, workspaceId, async (tx) => {
      const credentialId = await saveCredential(tx, t.vault, workspaceId, {
        platform: "sandbox",
        subject: `user:${randomUUID()}`,
        tokens: {
          accessToken: "sandbox-access-token-never-sent",
          refreshToken: "sandbox-refresh-token-never-sent",
          expiresAt: new Date(Date.now() + day),
          grantExpiresAt: new Date(Date.now() - day),
          scopes: [],
        },
      });
      const { rows } = await tx.query<{ id: string }>(
        `insert into social_accounts (workspace_id, platform, platform_account_id, name, status, credential_id)
         values ($1, 'sandbox', $2, 'Ended page', 'active', $3) returning id`,
        [workspaceId, randomUUID(), credentialId],
      );
      return rows[0]?.id ?? "";
    });
    await sweepTokens({ pool: t.pool, vault: t.vault, registry: t.registry, log });
    const [delivery] = await deliveries(channel.id);
    expect(delivery).toMatchObject({ eventType: "account.needs_reconnection", severity: "error" });
    await attempt(delivery?.id ?? "", 1);
    const [request] = receiver.at(url);
    const event = new Webhook(channel.secret ?? "").verify(request?.body ?? "", request?.headers ?? {});
    expect(event).toMatchObject({
      type: "account.needs_reconnection",
      data: { accountId, platform: "sandbox", name: "Ended page", severity: "error" },
    });
    expect(request?.body).not.toMatch(/never-sent/);
  });

  it("key rotation re-encrypts channel and webhook secrets, which then decrypt with the new key alone", async () => {
    const channel = await createChannel({ kind: "webhook", target: `${receiver.url()}/rotate` });
    const hook = await call(t.app, owner, "POST", `/api/v1/workspaces/${workspaceId}/webhooks`, {
      url: `${receiver.url()}/rotate-hook`,
      events: ["post.failed"],
    });
    expect(hook.statusCode).toBe(201);
    const newKey = { id: "rotated-notifications", key: randomBytes(32) };
    const result = await reencryptSecrets(t.pool, new Vault([newKey, ...t.vault.keys]), log);
    expect(result.undecryptable).toBe(0);
    const alone = new Vault([newKey]);
    const rows = await asOwner(t.db.url, async (db) => {
      const channels = await db.query(
        "select id, workspace_id, secret, key_id from notification_channels where id = $1",
        [channel.id],
      );
      const webhooks = await db.query("select id, workspace_id, secret, key_id from webhooks where id = $1", [
        hook.json().id,
      ]);
      return [...channels.rows, ...webhooks.rows];
    });
    expect(rows.map((row) => row.key_id)).toEqual(["rotated-notifications", "rotated-notifications"]);
    expect(
      alone.decrypt(rows[0].secret, {
        workspaceId: rows[0].workspace_id,
        rowId: rows[0].id,
        field: "secret",
      }),
    ).toBe(channel.secret);
    expect(
      alone.decrypt(rows[1].secret, {
        workspaceId: rows[1].workspace_id,
        rowId: rows[1].id,
        field: "secret",
      }),
    ).toBe(hook.json().secret);
  });
});
