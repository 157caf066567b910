/**
 * Outbound webhooks through the HTTP API and the worker, against a real receiver on a loopback
 * port: secrets shown once and stored encrypted, Standard Webhooks signatures a receiver's library
 * accepts, retries that keep the message id, deliveries that fail for good after the configured
 * attempts, redirects refused, private URLs refused, events that only leave when their transaction
 * commits, and the account events the token sweep raises.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveCredential } from "../src/accounts/credentials.js";
import { sweepTokens } from "../src/accounts/token-sweep.js";
import { withWorkspace } from "../src/db/tenant.js";
import { createLogger } from "../src/observability/logger.js";
import { deliverWebhook, WebhookDeliveryError } from "../src/webhooks/delivery.js";
import { enqueueWebhookEvent } from "../src/webhooks/webhooks.service.js";
import { startWorker, type WorkerHandle } from "../src/worker/worker.js";
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
import { eventually } from "./helpers/eventually.js";
import { expectProblem, validationPaths } from "./helpers/problems.js";

type Received = { path: string; headers: Record<string, string>; body: string };

/** A webhook receiver: records every request; each path answers as its script says. */
class Receiver {
  readonly requests: Received[] = [];
  private readonly scripts = new Map<
    string,
    (n: number) => { status: number; headers?: Record<string, string> }
  >();
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
      const answer = this.scripts.get(path)?.(n) ?? { status: 204 };
      res.writeHead(answer.status, answer.headers).end();
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

  /** A fresh path on this receiver, answering as `script` says (default 204). */
  url(script?: (n: number) => { status: number; headers?: Record<string, string> }): string {
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
let t: TestApp;
let receiver: Receiver;
let owner: Session;
let workspaceId: string;

const hooksUrl = (ws: string) => `/api/v1/workspaces/${ws}/webhooks`;

beforeAll(async () => {
  receiver = new Receiver();
  await receiver.start();
  t = await startTestApp({
    HERALD_OUTBOUND_ALLOWLIST: "127.0.0.1",
    HERALD_WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    // The Sandbox adapter is registered (never called) so that the token sweep knows the platform.
    HERALD_SANDBOX_URL: "http://127.0.0.1:9/sandbox",
  });
  owner = await signUp(t.app);
  workspaceId = await createWorkspace(t.app, owner);
});

afterAll(async () => {
  await t?.close();
  await receiver?.stop();
});

async function createWebhook(events: string[], url: string, as = owner, ws = workspaceId) {
  const response = await call(t.app, as, "POST", hooksUrl(ws), { url, events });
  if (response.statusCode !== 201) throw new Error(`webhook creation failed: ${response.body}`);
  return response.json() as { id: string; secret: string; url: string; events: string[] };
}

async function deliveries(webhookId: string, ws = workspaceId) {
  const response = await call(t.app, owner, "GET", `${hooksUrl(ws)}/${webhookId}/deliveries`);
  expect(response.statusCode).toBe(200);
  return response.json().items as Array<{
    id: string;
    eventType: string;
    messageId: string;
    status: string;
    attempts: number;
    lastStatus: number | null;
    lastError: string | null;
    lastAttemptAt: string | null;
    deliveredAt: string | null;
  }>;
}

/** Runs waiting retries now instead of after graphile-worker's backoff. */
async function runRetriesNow() {
  await asOwner(t.db.url, (db) =>
    db.query(
      "update graphile_worker._private_jobs set run_at = now() where locked_at is null and attempts > 0",
    ),
  );
}

async function jobsFor(deliveryId: string): Promise<number> {
  const { rows } = await asOwner(t.db.url, (db) =>
    db.query<{ n: number }>(
      "select count(*)::int as n from graphile_worker._private_jobs where payload->>'deliveryId' = $1",
      [deliveryId],
    ),
  );
  return rows[0]?.n ?? 0;
}

describe("managing webhooks", () => {
  it("shows the signing secret once, stores it encrypted, and never returns it again", async () => {
    const url = receiver.url();
    const response = await call(t.app, owner, "POST", hooksUrl(workspaceId), {
      url,
      events: ["post.published", "post.failed", "post.published"],
      description: "CRM",
    });
    expect(response.statusCode).toBe(201);
    const created = response.json();
    expect(created).toMatchObject({
      url,
      events: ["post.published", "post.failed"],
      description: "CRM",
      enabled: true,
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(created.secret.slice("whsec_".length), "base64").length).toBeGreaterThanOrEqual(24);

    const one = await call(t.app, owner, "GET", `${hooksUrl(workspaceId)}/${created.id}`);
    expect(one.statusCode).toBe(200);
    expect(one.json()).not.toHaveProperty("secret");
    expect(one.body).not.toContain(created.secret.slice(6));
    const list = await call(t.app, owner, "GET", hooksUrl(workspaceId));
    expect(list.json().items.map((w: { id: string }) => w.id)).toContain(created.id);
    expect(list.body).not.toContain(created.secret.slice(6));

    const stored = await asOwner(t.db.url, (db) =>
      db.query<{ secret: Buffer; key_id: string }>("select secret, key_id from webhooks where id = $1", [
        created.id,
      ]),
    );
    expect(stored.rows[0]?.key_id).toBe("test");
    expect(stored.rows[0]?.secret.toString("latin1")).not.toContain(created.secret.slice(6));
    const audit = await asOwner(t.db.url, (db) =>
      db.query<{ details: unknown }>(
        "select details from audit_events where workspace_id = $1 and action = 'webhook_created' and target_id = $2",
        [workspaceId, created.id],
      ),
    );
    expect(audit.rows).toHaveLength(1);
    expect(JSON.stringify(audit.rows[0]?.details)).not.toContain(created.secret.slice(6));
  });

  it('accepts ["*"] for every event', async () => {
    const created = await createWebhook(["*"], receiver.url());
    expect(created.events).toEqual(["*"]);
  });

  it("lists webhooks a page at a time", async () => {
    const ws = await createWorkspace(t.app, owner, "Paged");
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push((await createWebhook(["post.failed"], receiver.url(), owner, ws)).id);
    const first = await call(t.app, owner, "GET", `${hooksUrl(ws)}?limit=2`);
    expect(first.json().items).toHaveLength(2);
    const second = await call(
      t.app,
      owner,
      "GET",
      `${hooksUrl(ws)}?limit=2&cursor=${encodeURIComponent(first.json().nextCursor)}`,
    );
    expect(second.json().nextCursor).toBeNull();
    expect([...first.json().items, ...second.json().items].map((w: { id: string }) => w.id)).toEqual(ids);
  });

  it("names an unknown event and an empty list at their paths", async () => {
    const unknown = await call(t.app, owner, "POST", hooksUrl(workspaceId), {
      url: receiver.url(),
      events: ["post.deleted"],
    });
    expect(validationPaths(unknown)).toEqual(["body.events.0"]);
    const none = await call(t.app, owner, "POST", hooksUrl(workspaceId), { url: receiver.url(), events: [] });
    expect(validationPaths(none)).toEqual(["body.events"]);
  });

  it("refuses URLs that are or resolve to private and reserved addresses, unless allow-listed", async () => {
    // The same database, served by an app without the allow-list.
    const strict = await startTestApp({}, { db: t.db, vault: t.vault });
    try {
      const session = await signUp(strict.app);
      const ws = await createWorkspace(strict.app, session);
      const urls = [
        `http://127.0.0.1:${receiver.port}/hook`,
        "http://localhost/hook",
        "https://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
      ];
      for (const url of urls) {
        const response = await call(strict.app, session, "POST", hooksUrl(ws), {
          url,
          events: ["post.failed"],
        });
        const body = expectProblem(response, 422, "HERALD_WEBHOOK_URL_REFUSED");
        expect(body.detail).toMatch(/private or reserved address/);
        expect(body.errors?.[0]?.path).toBe("body.url");
      }
      const ftp = await call(strict.app, session, "POST", hooksUrl(ws), {
        url: "ftp://example.com/hook",
        events: ["post.failed"],
      });
      expect(expectProblem(ftp, 422, "HERALD_WEBHOOK_URL_REFUSED").detail).toMatch(/http and https/);
      const { rows } = await asOwner(t.db.url, (db) =>
        db.query("select 1 from webhooks where workspace_id = $1", [ws]),
      );
      expect(rows).toHaveLength(0);
    } finally {
      await strict.app.close();
    }
    // With 127.0.0.1 allow-listed, the same loopback URL is accepted.
    await createWebhook(["post.failed"], `http://127.0.0.1:${receiver.port}/hook`);
  });

  it("is for admins: a manager is refused with 403", async () => {
    const manager = await addMember(t.app, owner, workspaceId, "manager");
    const created = await createWebhook(["post.failed"], receiver.url());
    const list = await call(t.app, manager, "GET", hooksUrl(workspaceId));
    expectProblem(list, 403, "HERALD_FORBIDDEN");
    const create = await call(t.app, manager, "POST", hooksUrl(workspaceId), {
      url: receiver.url(),
      events: ["post.failed"],
    });
    expectProblem(create, 403, "HERALD_FORBIDDEN");
    const remove = await call(t.app, manager, "DELETE", `${hooksUrl(workspaceId)}/${created.id}`);
    expectProblem(remove, 403, "HERALD_FORBIDDEN");
  });

  it("answers 404 for another workspace's webhook, on every route, and changes nothing", async () => {
    const other = await signUp(t.app);
    const otherWs = await createWorkspace(t.app, other, "Other");
    const victim = await createWebhook(["post.failed"], receiver.url());
    for (const [method, suffix] of [
      ["GET", ""],
      ["PATCH", ""],
      ["DELETE", ""],
      ["GET", "/deliveries"],
      ["POST", "/test"],
    ] as const) {
      const body = method === "PATCH" ? { enabled: false } : undefined;
      const response = await call(t.app, other, method, `${hooksUrl(otherWs)}/${victim.id}${suffix}`, body);
      expectProblem(response, 404, "HERALD_NOT_FOUND");
    }
    const still = await call(t.app, owner, "GET", `${hooksUrl(workspaceId)}/${victim.id}`);
    expect(still.statusCode).toBe(200);
    expect(still.json().enabled).toBe(true);
    expect(await deliveries(victim.id)).toEqual([]);
  });

  it("disables and enables a webhook: a disabled one gets no deliveries; the change is audited", async () => {
    const created = await createWebhook(["post.failed"], receiver.url());
    const url = `${hooksUrl(workspaceId)}/${created.id}`;
    const off = await call(t.app, owner, "PATCH", url, { enabled: false, description: "  paused  " });
    expect(off.statusCode).toBe(200);
    expect(off.json()).toMatchObject({ enabled: false, description: "paused", events: ["post.failed"] });
    await withWorkspace(t.pool, workspaceId, (tx) =>
      enqueueWebhookEvent(tx, workspaceId, { type: "post.failed", data: { n: 1 } }),
    );
    expect(await deliveries(created.id)).toEqual([]);
    const test = await call(t.app, owner, "POST", `${url}/test`);
    expectProblem(test, 409, "HERALD_WEBHOOK_DISABLED");

    const on = await call(t.app, owner, "PATCH", url, { enabled: true, events: ["post.published"] });
    expect(on.json()).toMatchObject({ enabled: true, events: ["post.published"], description: "paused" });
    await withWorkspace(t.pool, workspaceId, (tx) =>
      enqueueWebhookEvent(tx, workspaceId, { type: "post.published", data: { n: 2 } }),
    );
    expect(await deliveries(created.id)).toHaveLength(1);

    const audit = await asOwner(t.db.url, (db) =>
      db.query<{ details: { before: { enabled: boolean }; after: { enabled: boolean } } }>(
        "select details from audit_events where action = 'webhook_updated' and target_id = $1 order by created_at",
        [created.id],
      ),
    );
    expect(audit.rows.map((row) => [row.details.before.enabled, row.details.after.enabled])).toEqual([
      [true, false],
      [false, true],
    ]);
  });

  it("refuses an empty change and unknown fields, naming them", async () => {
    const created = await createWebhook(["post.failed"], receiver.url());
    const url = `${hooksUrl(workspaceId)}/${created.id}`;
    expect(validationPaths(await call(t.app, owner, "PATCH", url, {}))).toEqual(["body"]);
    const unknown = await call(t.app, owner, "PATCH", url, { enabled: true, secret: "x" });
    expect(validationPaths(unknown)).toEqual(["body.secret"]);
    const badEvent = await call(t.app, owner, "PATCH", url, { events: ["post.nope"] });
    expect(validationPaths(badEvent)).toEqual(["body.events.0"]);
  });

  it("deletes a webhook, audited in the same transaction", async () => {
    const created = await createWebhook(["post.failed"], receiver.url());
    const removed = await call(t.app, owner, "DELETE", `${hooksUrl(workspaceId)}/${created.id}`);
    expect(removed.statusCode).toBe(204);
    const gone = await call(t.app, owner, "GET", `${hooksUrl(workspaceId)}/${created.id}`);
    expectProblem(gone, 404, "HERALD_NOT_FOUND");
    const audit = await asOwner(t.db.url, (db) =>
      db.query("select 1 from audit_events where action = 'webhook_deleted' and target_id = $1", [
        created.id,
      ]),
    );
    expect(audit.rows).toHaveLength(1);
  });
});

describe("delivering, one attempt at a time (the job function, run directly)", () => {
  const deps = () => ({ pool: t.pool, log, vault: t.vault, config: t.config });

  /** Enqueues one event for the webhook and returns its delivery id, its queued job removed. */
  async function pendingDelivery(webhookId: string): Promise<string> {
    const deliveryIds = await withWorkspace(t.pool, workspaceId, async (tx) => {
      await enqueueWebhookEvent(
        tx,
        workspaceId,
        { type: "post.failed", data: { postId: randomUUID() } },
        { webhookId },
      );
      const { rows } = await tx.query<{ id: string }>(
        "select id from webhook_deliveries where webhook_id = $1 and status = 'pending'",
        [webhookId],
      );
      return rows.map((row) => row.id);
    });
    expect(deliveryIds).toHaveLength(1);
    const deliveryId = deliveryIds[0] ?? "";
    expect(await jobsFor(deliveryId)).toBe(1);
    // No worker runs in this block; the job row goes so that a later worker does not take it.
    await asOwner(t.db.url, (db) =>
      db.query("delete from graphile_worker._private_jobs where payload->>'deliveryId' = $1", [deliveryId]),
    );
    return deliveryId;
  }

  it("a receiver that always fails: retried with the same webhook-id, then failed after the last attempt", async () => {
    const url = receiver.url(() => ({ status: 500 }));
    const webhook = await createWebhook(["post.failed"], url);
    const deliveryId = await pendingDelivery(webhook.id);
    const payload = { workspaceId, deliveryId };
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      await expect(
        deliverWebhook(deps(), payload, { attempts: attempt, max_attempts: 50 }),
      ).rejects.toBeInstanceOf(WebhookDeliveryError);
      expect(await deliveries(webhook.id)).toMatchObject([
        {
          id: deliveryId,
          status: "pending",
          attempts: attempt,
          lastStatus: 500,
          lastError: "The endpoint answered 500.",
        },
      ]);
    }
    await deliverWebhook(deps(), payload, { attempts: MAX_ATTEMPTS, max_attempts: 50 });
    const [log] = await deliveries(webhook.id);
    expect(log).toMatchObject({
      status: "failed",
      attempts: MAX_ATTEMPTS,
      lastStatus: 500,
      deliveredAt: null,
    });
    expect(log?.lastAttemptAt).not.toBeNull();
    const sent = receiver.at(url);
    expect(sent).toHaveLength(MAX_ATTEMPTS);
    expect(new Set(sent.map((r) => r.headers["webhook-id"]))).toEqual(new Set([log?.messageId]));
    // Settled: running the job again sends nothing.
    await deliverWebhook(deps(), payload, { attempts: MAX_ATTEMPTS + 1, max_attempts: 50 });
    expect(receiver.at(url)).toHaveLength(MAX_ATTEMPTS);
  });

  it("a redirect is a failed attempt and is not followed", async () => {
    const target = receiver.url();
    const url = receiver.url(() => ({ status: 307, headers: { location: target } }));
    const webhook = await createWebhook(["post.failed"], url);
    const deliveryId = await pendingDelivery(webhook.id);
    await expect(
      deliverWebhook(deps(), { workspaceId, deliveryId }, { attempts: 1, max_attempts: 50 }),
    ).rejects.toThrow(/redirect/);
    expect(receiver.at(url)).toHaveLength(1);
    expect(receiver.at(target)).toHaveLength(0);
    const [log] = await deliveries(webhook.id);
    expect(log).toMatchObject({ status: "pending", attempts: 1 });
    expect(log?.lastError).toMatch(/do not follow redirects/);
  });

  it("a webhook disabled meanwhile: the delivery fails with a reason and nothing is sent", async () => {
    const url = receiver.url();
    const webhook = await createWebhook(["post.failed"], url);
    const deliveryId = await pendingDelivery(webhook.id);
    await asOwner(t.db.url, (db) =>
      db.query("update webhooks set enabled = false where id = $1", [webhook.id]),
    );
    await deliverWebhook(deps(), { workspaceId, deliveryId }, { attempts: 1, max_attempts: 50 });
    expect(receiver.at(url)).toHaveLength(0);
    const [log] = await deliveries(webhook.id);
    expect(log).toMatchObject({ status: "failed", attempts: 0 });
    expect(log?.lastError).toMatch(/disabled/);
  });

  it("a webhook deleted meanwhile: nothing is sent", async () => {
    const url = receiver.url();
    const webhook = await createWebhook(["post.failed"], url);
    const deliveryId = await pendingDelivery(webhook.id);
    await call(t.app, owner, "DELETE", `${hooksUrl(workspaceId)}/${webhook.id}`);
    await deliverWebhook(deps(), { workspaceId, deliveryId }, { attempts: 1, max_attempts: 50 });
    expect(receiver.at(url)).toHaveLength(0);
  });
});

describe("delivering through the worker", () => {
  let worker: WorkerHandle;

  beforeAll(async () => {
    worker = await startWorker({
      pool: t.pool,
      concurrency: 2,
      version: "test",
      log,
      vault: t.vault,
      registry: t.registry,
      config: t.config,
      crontab: "",
    });
  });

  afterAll(async () => {
    await worker?.stop();
  });

  it("a test event arrives signed; after a 500 the retry carries the same webhook-id", async () => {
    const url = receiver.url((n) => ({ status: n === 1 ? 500 : 200 }));
    const webhook = await createWebhook(["post.published"], url);
    const queued = await call(t.app, owner, "POST", `${hooksUrl(workspaceId)}/${webhook.id}/test`);
    expect(queued.statusCode).toBe(202);
    expect(queued.json()).toMatchObject({
      webhookId: webhook.id,
      eventType: "webhook.test",
      status: "pending",
      attempts: 0,
    });

    await eventually(
      async () => (await deliveries(webhook.id))[0]?.attempts === 1,
      "the first attempt is recorded",
    );
    expect((await deliveries(webhook.id))[0]).toMatchObject({
      status: "pending",
      lastStatus: 500,
      lastError: "The endpoint answered 500.",
    });
    await runRetriesNow();
    await eventually(
      async () => (await deliveries(webhook.id))[0]?.status === "delivered",
      "the retry succeeds",
    );
    const [log] = await deliveries(webhook.id);
    expect(log).toMatchObject({
      attempts: 2,
      lastStatus: 200,
      lastError: null,
      messageId: queued.json().messageId,
    });
    expect(log?.deliveredAt).not.toBeNull();

    const sent = receiver.at(url);
    expect(sent).toHaveLength(2);
    const verifier = new Webhook(webhook.secret);
    for (const request of sent) {
      expect(request.headers).toMatchObject({
        "content-type": "application/json",
        "user-agent": "Herald-Webhooks",
        "webhook-id": queued.json().messageId,
      });
      const event = verifier.verify(request.body, request.headers);
      expect(event).toMatchObject({ type: "webhook.test", data: { webhookId: webhook.id } });
      expect(Date.parse((event as { timestamp: string }).timestamp)).not.toBeNaN();
    }
    // A signature made with another secret is refused by the same library.
    const forged = new Webhook(`whsec_${Buffer.alloc(32, 7).toString("base64")}`);
    expect(() => forged.verify(sent[0]?.body ?? "", sent[0]?.headers ?? {})).toThrow();
    expect(await jobsFor(log?.id ?? "")).toBe(0);
  });

  it("an event enqueued in a transaction that rolls back sends nothing", async () => {
    // A workspace of its own: its only webhook is this one.
    const ws = await createWorkspace(t.app, owner, "Rolled back");
    const url = receiver.url();
    const webhook = await createWebhook(["post.published"], url, owner, ws);
    const marker = randomUUID();
    let counted = -1;
    await expect(
      withWorkspace(t.pool, ws, async (tx) => {
        counted = await enqueueWebhookEvent(tx, ws, { type: "post.published", data: { marker } });
        throw new Error("the publishing transaction fails");
      }),
    ).rejects.toThrow("the publishing transaction fails");
    expect(counted).toBe(1);
    const { rows } = await asOwner(t.db.url, (db) =>
      db.query("select 1 from webhook_deliveries where webhook_id = $1", [webhook.id]),
    );
    expect(rows).toHaveLength(0);

    // An unsubscribed type is not recorded; a committed event is sent, and it is the only one.
    const committed = randomUUID();
    const counts = await withWorkspace(t.pool, ws, async (tx) => [
      await enqueueWebhookEvent(
        tx,
        ws,
        { type: "post.failed", data: { marker: committed } },
        { webhookId: webhook.id },
      ),
      await enqueueWebhookEvent(
        tx,
        ws,
        { type: "post.published", data: { marker: committed } },
        { webhookId: webhook.id },
      ),
    ]);
    expect(counts).toEqual([0, 1]);
    await eventually(
      async () => (await deliveries(webhook.id, ws))[0]?.status === "delivered",
      "the committed event arrives",
    );
    expect(receiver.at(url).map((r) => JSON.parse(r.body).data.marker)).toEqual([committed]);
  });

  it("the token sweep's account.needs_reconnection and account.expiring reach subscribed webhooks", async () => {
    const url = receiver.url();
    const webhook = await createWebhook(["account.needs_reconnection", "account.expiring"], url);
    const day = 86_400_000;
    const accounts = await withWorkspace(t.pool, workspaceId, async (tx) => {
      const made: Record<string, string> = {};
      for (const [name, grantEndsIn] of [
        ["Ended page", -day],
        ["Ending page", 3 * day],
      ] as const) {
        const credentialId = await saveCredential(tx, t.vault, workspaceId, {
          platform: "sandbox",
          subject: `user:${randomUUID()}`,
          tokens: {
            accessToken: "sandbox-access-token-never-sent",
            refreshToken: "sandbox-refresh-token-never-sent",
            expiresAt: new Date(Date.now() + day),
            grantExpiresAt: new Date(Date.now() + grantEndsIn),
            scopes: [],
          },
        });
        const { rows } = await tx.query<{ id: string }>(
          `insert into social_accounts (workspace_id, platform, platform_account_id, name, status, credential_id)
           values ($1, 'sandbox', $2, $3, 'active', $4) returning id`,
          [workspaceId, randomUUID(), name, credentialId],
        );
        made[name] = rows[0]?.id ?? "";
      }
      return made;
    });
    const result = await sweepTokens({ pool: t.pool, vault: t.vault, registry: t.registry, log });
    expect(result).toMatchObject({ expired: 1, expiring: 1, errors: 0 });

    await eventually(() => receiver.at(url).length === 2, "both account events arrive");
    const verifier = new Webhook(webhook.secret);
    const events = receiver
      .at(url)
      .map((r) => verifier.verify(r.body, r.headers) as { type: string; data: Record<string, unknown> })
      .sort((a, b) => a.type.localeCompare(b.type));
    expect(events).toMatchObject([
      {
        type: "account.expiring",
        data: { accountId: accounts["Ending page"], platform: "sandbox", name: "Ending page" },
      },
      {
        type: "account.needs_reconnection",
        data: { accountId: accounts["Ended page"], platform: "sandbox", name: "Ended page" },
      },
    ]);
    for (const event of events) expect(event.data.reason).toMatch(/reconnect the account/);
    expect(
      receiver
        .at(url)
        .map((r) => r.body)
        .join(),
    ).not.toMatch(/never-sent/);
    // Flagged once: the next sweep changes nothing and sends nothing.
    await sweepTokens({ pool: t.pool, vault: t.vault, registry: t.registry, log });
    const { rows } = await asOwner(t.db.url, (db) =>
      db.query("select 1 from webhook_deliveries where webhook_id = $1", [webhook.id]),
    );
    expect(rows).toHaveLength(2);
  });
});
