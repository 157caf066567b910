/**
 * Outbound webhooks: subscriptions managed by workspace admins, and `enqueueWebhookEvent`, which
 * the rest of Herald calls inside its own transaction when something worth telling happens.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { WorkspaceAccess } from "../access/workspace-access.js";
import { auditIn } from "../audit/audit.js";
import type { Config } from "../config.js";
import type { Tx } from "../db/tenant.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { decodeCursor, page } from "../http/pagination.js";
import type { Vault } from "../vault/vault.js";
import { checkWebhookUrl } from "./webhook-url.js";
import * as repo from "./webhooks.repository.js";
import type { Webhook, WebhookCreate, WebhookDelivery, WebhookUpdate } from "./webhooks.schemas.js";

export type WebhookEventType =
  | "post.published"
  | "post.failed"
  | "post.unconfirmed"
  | "account.needs_reconnection"
  | "account.expiring"
  | "webhook.test";

/**
 * The max_attempts every delivery job is queued with: the highest HERALD_WEBHOOK_MAX_ATTEMPTS
 * accepts. The job itself stops at the configured number (see delivery.ts), so that callers need no
 * configuration and a lowered setting also applies to deliveries already queued.
 */
export const DELIVERY_JOB_MAX_ATTEMPTS = 50;

/** The signing secret's vault location: this row's `secret` field. */
export const secretLocation = (workspaceId: string, webhookId: string) => ({
  workspaceId,
  rowId: webhookId,
  field: "secret",
});

/**
 * Records one delivery per enabled webhook of the workspace subscribed to the type, and queues
 * each delivery's job in the same transaction (nothing is sent if the transaction rolls back).
 */
export async function enqueueWebhookEvent(
  tx: Tx,
  workspaceId: string,
  event: WebhookEvent,
  options?: { webhookId?: string },
): Promise<number> {
  return (await recordEvents(tx, workspaceId, [event], options?.webhookId ?? null)).length;
}

/** `enqueueWebhookEvent` for several events at once, in one statement. */
export async function enqueueWebhookEvents(
  tx: Tx,
  workspaceId: string,
  events: WebhookEvent[],
): Promise<number> {
  return (await recordEvents(tx, workspaceId, events, null)).length;
}

type WebhookEvent = { type: WebhookEventType; data: Record<string, unknown> };

/** The deliveries recorded for the events, their jobs queued. */
function recordEvents(
  tx: Tx,
  workspaceId: string,
  events: WebhookEvent[],
  webhookId: string | null,
): Promise<string[]> {
  // The Standard Webhooks payload: type, timestamp (of the event, not of the attempt), data.
  const timestamp = new Date().toISOString();
  const payloads = events.map((event) => ({
    type: event.type,
    payload: { type: event.type, timestamp, data: event.data },
  }));
  return repo.insertDeliveries(tx, workspaceId, payloads, webhookId, DELIVERY_JOB_MAX_ATTEMPTS);
}

export async function listWebhooks(
  tx: Tx,
  _access: WorkspaceAccess,
  query: { limit: number; cursor?: string },
) {
  const after = decodeCursor("webhooks", query.cursor, 2);
  const rows = await repo.listWebhooks(tx, after, query.limit + 1);
  return page(
    rows,
    query.limit,
    "webhooks",
    (w) => w.sortKey,
    ({ sortKey: _, ...webhook }) => webhook,
  );
}

export async function getWebhook(tx: Tx, _access: WorkspaceAccess, webhookId: string): Promise<Webhook> {
  const webhook = await repo.findWebhook(tx, webhookId);
  if (!webhook) throw new NotFoundError();
  return webhook;
}

/** Creates a webhook; its signing secret is in the answer, and never again. */
export async function createWebhook(
  tx: Tx,
  access: WorkspaceAccess,
  deps: { vault: Vault; config: Config },
  input: WebhookCreate,
): Promise<Webhook & { secret: string }> {
  const url = await checkWebhookUrl(input.url, { allowlist: deps.config.outboundAllowlist });
  const id = randomUUID();
  // 32 random bytes (the Standard Webhooks libraries accept 24 to 64), base64 after "whsec_".
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  const webhook = await repo.insertWebhook(tx, {
    id,
    workspaceId: access.workspaceId,
    url,
    description: input.description || null,
    events: input.events,
    secret: deps.vault.encrypt(secret, secretLocation(access.workspaceId, id)),
    keyId: deps.vault.currentKeyId,
    createdBy: access.principal.kind === "user" ? access.principal.userId : null,
  });
  await auditIn(tx, access, {
    action: "webhook_created",
    target: { type: "webhook", id },
    details: { url: withoutQuery(url), events: webhook.events, description: webhook.description },
  });
  return { ...webhook, secret };
}

export async function updateWebhook(
  tx: Tx,
  access: WorkspaceAccess,
  webhookId: string,
  change: WebhookUpdate,
): Promise<Webhook> {
  const before = await getWebhook(tx, access, webhookId);
  const description = change.description === undefined ? undefined : change.description || null;
  const webhook = await repo.updateWebhook(tx, webhookId, { ...change, description });
  if (!webhook) throw new NotFoundError();
  await auditIn(tx, access, {
    action: "webhook_updated",
    target: { type: "webhook", id: webhookId },
    details: {
      url: withoutQuery(webhook.url),
      before: { enabled: before.enabled, events: before.events, description: before.description },
      after: { enabled: webhook.enabled, events: webhook.events, description: webhook.description },
    },
  });
  return webhook;
}

export async function deleteWebhook(tx: Tx, access: WorkspaceAccess, webhookId: string): Promise<void> {
  const webhook = await getWebhook(tx, access, webhookId);
  if (!(await repo.deleteWebhook(tx, webhookId))) throw new NotFoundError();
  await auditIn(tx, access, {
    action: "webhook_deleted",
    target: { type: "webhook", id: webhookId },
    details: { url: withoutQuery(webhook.url), events: webhook.events },
  });
}

export async function listDeliveries(
  tx: Tx,
  access: WorkspaceAccess,
  webhookId: string,
  query: { limit: number; cursor?: string },
) {
  await getWebhook(tx, access, webhookId);
  const before = decodeCursor("webhook_deliveries", query.cursor, 2);
  const rows = await repo.listDeliveries(tx, webhookId, before, query.limit + 1);
  return page(
    rows,
    query.limit,
    "webhook_deliveries",
    (d) => d.sortKey,
    ({ sortKey: _, ...delivery }) => delivery,
  );
}

/** Queues a `webhook.test` event to this webhook only; answers its delivery. */
export async function sendTestEvent(
  tx: Tx,
  access: WorkspaceAccess,
  webhookId: string,
): Promise<WebhookDelivery> {
  const webhook = await getWebhook(tx, access, webhookId);
  if (!webhook.enabled) {
    throw new ConflictError("HERALD_WEBHOOK_DISABLED", "This webhook is disabled: nothing is sent to it.");
  }
  const [deliveryId] = await recordEvents(
    tx,
    access.workspaceId,
    [{ type: "webhook.test", data: { webhookId, message: "A test event sent from Herald." } }],
    webhookId,
  );
  const delivery = deliveryId === undefined ? undefined : await repo.findDelivery(tx, deliveryId);
  if (!delivery) throw new NotFoundError();
  return delivery;
}

/**
 * A URL for the audit trail: a query string can carry a receiver's token, so it stays out of the
 * trail (the webhook itself keeps the full URL).
 */
function withoutQuery(value: string): string {
  const url = new URL(value);
  return `${url.origin}${url.pathname}`;
}
