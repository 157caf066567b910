/**
 * Notification channels: where a workspace hears of alerts and account trouble (a signed webhook,
 * a Slack incoming webhook, an email address), and `enqueueNotification`, which the rest of Herald
 * calls inside its own transaction.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { WorkspaceAccess } from "../access/workspace-access.js";
import { auditIn } from "../audit/audit.js";
import type { Config } from "../config.js";
import type { Tx } from "../db/tenant.js";
import { AppError, NotFoundError } from "../errors.js";
import { decodeCursor, page } from "../http/pagination.js";
import type { Vault } from "../vault/vault.js";
import { checkWebhookUrl, WebhookUrlRefusedError } from "../webhooks/webhook-url.js";
import { DELIVERY_JOB_MAX_ATTEMPTS } from "../webhooks/webhooks.service.js";
import * as repo from "./notifications.repository.js";
import type { Channel, ChannelCreate, NotificationDelivery, Severity } from "./notifications.schemas.js";

export type NotificationEvent = {
  type: string;
  severity: Severity;
  title: string;
  text: string;
  data: Record<string, unknown>;
};

/** The stored payload of a delivery (also the `data` of a webhook channel's request). */
export type NotificationPayload = NotificationEvent & { timestamp: string };

/** The secret's vault location: this channel row's `secret` field. */
export const secretLocation = (workspaceId: string, channelId: string) => ({
  workspaceId,
  rowId: channelId,
  field: "secret",
});

export class ChannelUrlRefusedError extends AppError {
  constructor(reason: string) {
    super(422, "HERALD_CHANNEL_URL_REFUSED", "The channel URL is refused", reason, {
      errors: [{ path: "body.target", message: reason, rule: "outbound_refused" }],
    });
  }
}

/**
 * Records one delivery per enabled channel of the workspace whose minimum severity the event
 * reaches and which takes its type (or "*"), and queues each delivery's job in the same
 * transaction (nothing is sent if it rolls back). `data` must hold no secrets. Answers how many.
 */
export async function enqueueNotification(
  tx: Tx,
  workspaceId: string,
  event: NotificationEvent,
): Promise<number> {
  return (await recordEvent(tx, workspaceId, event, null)).length;
}

async function recordEvent(
  tx: Tx,
  workspaceId: string,
  event: NotificationEvent,
  channelId: string | null,
): Promise<string[]> {
  const payload: NotificationPayload = { ...event, timestamp: new Date().toISOString() };
  const ids = await repo.insertDeliveries(tx, workspaceId, event, payload, channelId);
  // Queued like webhook deliveries: the job stops at HERALD_WEBHOOK_MAX_ATTEMPTS (see delivery.ts).
  for (const id of ids) await repo.queueDeliveryJob(tx, workspaceId, id, DELIVERY_JOB_MAX_ATTEMPTS);
  return ids;
}

export async function listChannels(
  tx: Tx,
  _access: WorkspaceAccess,
  query: { limit: number; cursor?: string },
) {
  const after = decodeCursor("notification_channels", query.cursor, 2);
  const rows = await repo.listChannels(tx, after, query.limit + 1);
  return page(
    rows,
    query.limit,
    "notification_channels",
    (c) => c.sortKey,
    ({ sortKey: _, ...channel }) => channel,
  );
}

export async function getChannel(tx: Tx, _access: WorkspaceAccess, channelId: string): Promise<Channel> {
  const channel = await repo.findChannel(tx, channelId);
  if (!channel) throw new NotFoundError();
  return channel;
}

/**
 * Creates a channel. URLs follow the webhook rule (no private addresses unless allow-listed). A
 * webhook channel's signing secret is in the answer, and never again; a Slack URL is itself a
 * credential, so it is stored encrypted and shown with its path hidden.
 */
export async function createChannel(
  tx: Tx,
  access: WorkspaceAccess,
  deps: { vault: Vault; config: Config },
  input: ChannelCreate,
): Promise<Channel & { secret?: string }> {
  const id = randomUUID();
  const location = secretLocation(access.workspaceId, id);
  let target = input.target;
  let secret: string | undefined;
  let stored: string | null = null;
  if (input.kind !== "email") {
    try {
      target = await checkWebhookUrl(input.target, { allowlist: deps.config.outboundAllowlist });
    } catch (error) {
      if (error instanceof WebhookUrlRefusedError) throw new ChannelUrlRefusedError(error.message);
      throw error;
    }
    if (input.kind === "webhook") {
      secret = `whsec_${randomBytes(32).toString("base64")}`;
      stored = secret;
    } else {
      stored = target;
      target = hidePath(target);
    }
  } else {
    target = target.toLowerCase();
  }
  const channel = await repo.insertChannel(tx, {
    id,
    workspaceId: access.workspaceId,
    kind: input.kind,
    name: input.name,
    target,
    minSeverity: input.minSeverity,
    events: input.events,
    secret: stored === null ? null : deps.vault.encrypt(stored, location),
    keyId: stored === null ? null : deps.vault.currentKeyId,
    createdBy: access.principal.kind === "user" ? access.principal.userId : null,
  });
  await auditIn(tx, access, {
    action: "notification_channel_created",
    target: { type: "notification_channel", id },
    details: {
      kind: channel.kind,
      name: channel.name,
      target: channel.kind === "webhook" ? hideQuery(channel.target) : channel.target,
      minSeverity: channel.minSeverity,
      events: channel.events,
    },
  });
  return secret === undefined ? channel : { ...channel, secret };
}

export async function deleteChannel(tx: Tx, access: WorkspaceAccess, channelId: string): Promise<void> {
  const channel = await getChannel(tx, access, channelId);
  if (!(await repo.deleteChannel(tx, channelId))) throw new NotFoundError();
  await auditIn(tx, access, {
    action: "notification_channel_deleted",
    target: { type: "notification_channel", id: channelId },
    details: { kind: channel.kind, name: channel.name },
  });
}

export async function listDeliveries(
  tx: Tx,
  access: WorkspaceAccess,
  channelId: string,
  query: { limit: number; cursor?: string },
) {
  await getChannel(tx, access, channelId);
  const before = decodeCursor("notification_deliveries", query.cursor, 2);
  const rows = await repo.listDeliveries(tx, channelId, before, query.limit + 1);
  return page(
    rows,
    query.limit,
    "notification_deliveries",
    (d) => d.sortKey,
    ({ sortKey: _, ...delivery }) => delivery,
  );
}

/** Queues a `notification.test` to this channel only, whatever its filters; answers its delivery. */
export async function sendTestNotification(
  tx: Tx,
  access: WorkspaceAccess,
  channelId: string,
): Promise<NotificationDelivery> {
  const channel = await getChannel(tx, access, channelId);
  const [deliveryId] = await recordEvent(
    tx,
    access.workspaceId,
    {
      type: "notification.test",
      severity: "info",
      title: "Test notification from Herald",
      text: `This is a test of the notification channel "${channel.name}". Nothing is wrong.`,
      data: { channelId },
    },
    channelId,
  );
  const delivery = deliveryId === undefined ? undefined : await repo.findDelivery(tx, deliveryId);
  if (!delivery) {
    throw new AppError(409, "HERALD_CHANNEL_DISABLED", "Channel disabled", "This channel is disabled.");
  }
  return delivery;
}

/** `https://hooks.slack.com/services/T0/B0/secret` → `https://hooks.slack.com/services/…`. */
function hidePath(value: string): string {
  const url = new URL(value);
  const first = url.pathname.split("/").filter(Boolean)[0];
  return `${url.origin}/${first ? `${first}/` : ""}…`;
}

function hideQuery(value: string): string {
  const url = new URL(value);
  return `${url.origin}${url.pathname}`;
}
