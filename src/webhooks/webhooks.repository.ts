import type { Tx } from "../db/tenant.js";
import type { Webhook, WebhookDelivery } from "./webhooks.schemas.js";

export type WebhookRow = {
  id: string;
  workspace_id: string;
  url: string;
  description: string | null;
  events: string[];
  secret: Buffer;
  key_id: string;
  enabled: boolean;
  created_by: string | null;
  created_at: Date;
};

type DeliveryRow = {
  id: string;
  workspace_id: string;
  webhook_id: string;
  event_type: string;
  message_id: string;
  payload: unknown;
  status: WebhookDelivery["status"];
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: Date | null;
  delivered_at: Date | null;
  created_at: Date;
};

/** A delivery with what sending it needs from its webhook. */
export type DeliveryJobRow = DeliveryRow & {
  url: string;
  secret: Buffer;
  enabled: boolean;
};

/** Sort keys travel as text: microseconds included, which a JavaScript Date would drop. */
const SORT_TIME = `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const toWebhook = (row: WebhookRow): Webhook => ({
  id: row.id,
  url: row.url,
  description: row.description,
  events: row.events,
  enabled: row.enabled,
  createdAt: row.created_at.toISOString(),
});

const toDelivery = (row: DeliveryRow): WebhookDelivery => ({
  id: row.id,
  webhookId: row.webhook_id,
  eventType: row.event_type,
  messageId: row.message_id,
  status: row.status,
  attempts: row.attempts,
  lastStatus: row.last_status,
  lastError: row.last_error,
  lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
  deliveredAt: row.delivered_at?.toISOString() ?? null,
  createdAt: row.created_at.toISOString(),
});

/** Webhooks oldest first. */
export async function listWebhooks(
  tx: Tx,
  after: string[] | undefined,
  limit: number,
): Promise<Array<Webhook & { sortKey: string[] }>> {
  const { rows } = await tx.query<WebhookRow & { sort_time: string }>(
    `select *, ${SORT_TIME} as sort_time from webhooks
     where ($1::timestamptz is null or (created_at, id) > ($1::timestamptz, $2::uuid))
     order by created_at, id limit $3`,
    [after?.[0] ?? null, after?.[1] ?? null, limit],
  );
  return rows.map((row) => ({ ...toWebhook(row), sortKey: [row.sort_time, row.id] }));
}

export async function findWebhook(tx: Tx, webhookId: string): Promise<Webhook | undefined> {
  const { rows } = await tx.query<WebhookRow>("select * from webhooks where id = $1", [webhookId]);
  return rows[0] && toWebhook(rows[0]);
}

/** Changes the given fields; answers the webhook as it now is, or undefined if it is gone. */
export async function updateWebhook(
  tx: Tx,
  webhookId: string,
  change: { enabled?: boolean; events?: string[]; description?: string | null },
): Promise<Webhook | undefined> {
  const { rows } = await tx.query<WebhookRow>(
    `update webhooks set enabled = coalesce($2, enabled), events = coalesce($3, events),
       description = case when $4 then $5 else description end
     where id = $1 returning *`,
    [
      webhookId,
      change.enabled ?? null,
      change.events ?? null,
      change.description !== undefined,
      change.description ?? null,
    ],
  );
  return rows[0] && toWebhook(rows[0]);
}

export async function insertWebhook(
  tx: Tx,
  webhook: {
    id: string;
    workspaceId: string;
    url: string;
    description: string | null;
    events: string[];
    secret: Buffer;
    keyId: string;
    createdBy: string | null;
  },
): Promise<Webhook> {
  const { rows } = await tx.query<WebhookRow>(
    `insert into webhooks (id, workspace_id, url, description, events, secret, key_id, created_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning *`,
    [
      webhook.id,
      webhook.workspaceId,
      webhook.url,
      webhook.description,
      webhook.events,
      webhook.secret,
      webhook.keyId,
      webhook.createdBy,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("webhook insert returned no row");
  return toWebhook(row);
}

/** Deletes a webhook; its delivery log goes with it (foreign key, on delete cascade). */
export async function deleteWebhook(tx: Tx, webhookId: string): Promise<boolean> {
  const { rowCount } = await tx.query("delete from webhooks where id = $1", [webhookId]);
  return (rowCount ?? 0) > 0;
}

/**
 * One pending delivery per enabled webhook of the workspace and event that takes the event's type:
 * those subscribed to it (or to "*"), and for `webhook.test` any of them. `webhookId` limits it to
 * one. Each delivery's job is queued in the same statement, so in the caller's transaction. The
 * message id is the Standard Webhooks `webhook-id` ("msg_" and 32 hex digits).
 */
export async function insertDeliveries(
  tx: Tx,
  workspaceId: string,
  events: { type: string; payload: unknown }[],
  webhookId: string | null,
  maxAttempts: number,
): Promise<string[]> {
  if (events.length === 0) return [];
  const { rows } = await tx.query<{ id: string }>(
    `with delivery as (
       insert into webhook_deliveries (workspace_id, webhook_id, event_type, message_id, payload)
       select w.workspace_id, w.id, e.type, 'msg_' || replace(gen_random_uuid()::text, '-', ''), e.payload
       from jsonb_to_recordset($2::jsonb) as e(type text, payload jsonb)
       join webhooks w on e.type = any (w.events) or '*' = any (w.events) or e.type = 'webhook.test'
       where w.workspace_id = $1 and w.enabled and ($3::uuid is null or w.id = $3)
       returning id
     )
     select id, graphile_worker.add_job('deliver_webhook',
       json_build_object('workspaceId', $1::uuid, 'deliveryId', id), max_attempts := $4::int)
     from delivery`,
    [workspaceId, JSON.stringify(events), webhookId, maxAttempts],
  );
  return rows.map((row) => row.id);
}

/** A webhook's deliveries, newest first. */
export async function listDeliveries(
  tx: Tx,
  webhookId: string,
  before: string[] | undefined,
  limit: number,
): Promise<Array<WebhookDelivery & { sortKey: string[] }>> {
  const { rows } = await tx.query<DeliveryRow & { sort_time: string }>(
    `select *, ${SORT_TIME} as sort_time from webhook_deliveries
     where webhook_id = $1
       and ($2::timestamptz is null or (created_at, id) < ($2::timestamptz, $3::uuid))
     order by created_at desc, id desc limit $4`,
    [webhookId, before?.[0] ?? null, before?.[1] ?? null, limit],
  );
  return rows.map((row) => ({ ...toDelivery(row), sortKey: [row.sort_time, row.id] }));
}

export async function findDelivery(tx: Tx, deliveryId: string): Promise<WebhookDelivery | undefined> {
  const { rows } = await tx.query<DeliveryRow>("select * from webhook_deliveries where id = $1", [
    deliveryId,
  ]);
  return rows[0] && toDelivery(rows[0]);
}

/** A delivery and its webhook's URL, secret and state, for the job that sends it. */
export async function findDeliveryForJob(tx: Tx, deliveryId: string): Promise<DeliveryJobRow | undefined> {
  const { rows } = await tx.query<DeliveryJobRow>(
    `select d.*, w.url, w.secret, w.enabled from webhook_deliveries d
     join webhooks w on w.workspace_id = d.workspace_id and w.id = d.webhook_id
     where d.id = $1`,
    [deliveryId],
  );
  return rows[0];
}

/** Records one attempt's outcome; `status` stays 'pending' while retries remain. */
export async function recordAttempt(
  tx: Tx,
  deliveryId: string,
  attempt: { status: WebhookDelivery["status"]; httpStatus: number | null; error: string | null },
): Promise<void> {
  await tx.query(
    `update webhook_deliveries set attempts = attempts + 1, status = $2, last_status = $3, last_error = $4,
       last_attempt_at = now(), delivered_at = case when $2 = 'delivered' then now() end
     where id = $1`,
    [deliveryId, attempt.status, attempt.httpStatus, attempt.error?.slice(0, 2000) ?? null],
  );
}

/** Ends a delivery without sending it (its webhook was disabled, its secret is unreadable). */
export async function abandonDelivery(tx: Tx, deliveryId: string, reason: string): Promise<void> {
  await tx.query(
    "update webhook_deliveries set status = 'failed', last_error = $2 where id = $1 and status = 'pending'",
    [deliveryId, reason.slice(0, 2000)],
  );
}
