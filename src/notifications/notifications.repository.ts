import type { Tx } from "../db/tenant.js";
import type { Channel, NotificationDelivery, Severity } from "./notifications.schemas.js";

type ChannelRow = {
  id: string;
  workspace_id: string;
  kind: Channel["kind"];
  name: string;
  target: string;
  min_severity: Severity;
  events: string[];
  secret: Buffer | null;
  key_id: string | null;
  enabled: boolean;
  created_by: string | null;
  created_at: Date;
};

type DeliveryRow = {
  id: string;
  workspace_id: string;
  channel_id: string;
  event_type: string;
  severity: Severity;
  message_id: string;
  payload: unknown;
  status: NotificationDelivery["status"];
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: Date | null;
  delivered_at: Date | null;
  created_at: Date;
};

/** A delivery with what sending it needs from its channel. */
export type DeliveryJobRow = DeliveryRow & {
  kind: Channel["kind"];
  name: string;
  target: string;
  secret: Buffer | null;
  enabled: boolean;
};

/** Sort keys travel as text: microseconds included, which a JavaScript Date would drop. */
const SORT_TIME = `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Severities in order, for SQL: a channel takes events at least as severe as its minimum. */
const RANK = "array['info', 'warning', 'error', 'critical']";

const toChannel = (row: ChannelRow): Channel => ({
  id: row.id,
  kind: row.kind,
  name: row.name,
  target: row.target,
  minSeverity: row.min_severity,
  events: row.events,
  enabled: row.enabled,
  createdAt: row.created_at.toISOString(),
});

const toDelivery = (row: DeliveryRow): NotificationDelivery => ({
  id: row.id,
  channelId: row.channel_id,
  eventType: row.event_type,
  severity: row.severity,
  messageId: row.message_id,
  status: row.status,
  attempts: row.attempts,
  lastStatus: row.last_status,
  lastError: row.last_error,
  lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
  deliveredAt: row.delivered_at?.toISOString() ?? null,
  createdAt: row.created_at.toISOString(),
});

/** Channels oldest first. */
export async function listChannels(
  tx: Tx,
  after: string[] | undefined,
  limit: number,
): Promise<Array<Channel & { sortKey: string[] }>> {
  const { rows } = await tx.query<ChannelRow & { sort_time: string }>(
    `select *, ${SORT_TIME} as sort_time from notification_channels
     where ($1::timestamptz is null or (created_at, id) > ($1::timestamptz, $2::uuid))
     order by created_at, id limit $3`,
    [after?.[0] ?? null, after?.[1] ?? null, limit],
  );
  return rows.map((row) => ({ ...toChannel(row), sortKey: [row.sort_time, row.id] }));
}

export async function findChannel(tx: Tx, channelId: string): Promise<Channel | undefined> {
  const { rows } = await tx.query<ChannelRow>("select * from notification_channels where id = $1", [
    channelId,
  ]);
  return rows[0] && toChannel(rows[0]);
}

export async function insertChannel(
  tx: Tx,
  channel: {
    id: string;
    workspaceId: string;
    kind: Channel["kind"];
    name: string;
    target: string;
    minSeverity: Severity;
    events: string[];
    secret: Buffer | null;
    keyId: string | null;
    createdBy: string | null;
  },
): Promise<Channel> {
  const { rows } = await tx.query<ChannelRow>(
    `insert into notification_channels
       (id, workspace_id, kind, name, target, min_severity, events, secret, key_id, created_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning *`,
    [
      channel.id,
      channel.workspaceId,
      channel.kind,
      channel.name,
      channel.target,
      channel.minSeverity,
      channel.events,
      channel.secret,
      channel.keyId,
      channel.createdBy,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("notification channel insert returned no row");
  return toChannel(row);
}

/** Deletes a channel; its delivery log goes with it (foreign key, on delete cascade). */
export async function deleteChannel(tx: Tx, channelId: string): Promise<boolean> {
  const { rowCount } = await tx.query("delete from notification_channels where id = $1", [channelId]);
  return (rowCount ?? 0) > 0;
}

/**
 * One pending delivery per enabled channel of the workspace that takes this event: severity at
 * least the channel's minimum, and a type it subscribed to (or "*"). `channelId` limits it to one
 * channel and skips both filters (the test notification). The message id is "msg_" + 32 hex digits.
 */
export async function insertDeliveries(
  tx: Tx,
  workspaceId: string,
  event: { type: string; severity: Severity },
  payload: unknown,
  channelId: string | null,
): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `insert into notification_deliveries (workspace_id, channel_id, event_type, severity, message_id, payload)
     select c.workspace_id, c.id, $2, $3, 'msg_' || replace(gen_random_uuid()::text, '-', ''), $4::jsonb
     from notification_channels c
     where c.workspace_id = $1 and c.enabled
       and (($5::uuid is null
             and array_position(${RANK}, c.min_severity) <= array_position(${RANK}, $3::text)
             and ($2 = any (c.events) or '*' = any (c.events)))
            or c.id = $5)
     returning id`,
    [workspaceId, event.type, event.severity, JSON.stringify(payload), channelId],
  );
  return rows.map((row) => row.id);
}

/** Queues the job that sends a delivery, in the caller's transaction. */
export async function queueDeliveryJob(
  tx: Tx,
  workspaceId: string,
  deliveryId: string,
  maxAttempts: number,
): Promise<void> {
  await tx.query(
    `select graphile_worker.add_job('deliver_notification',
       json_build_object('workspaceId', $1::uuid, 'deliveryId', $2::uuid), max_attempts := $3::int)`,
    [workspaceId, deliveryId, maxAttempts],
  );
}

/** A channel's deliveries, newest first. */
export async function listDeliveries(
  tx: Tx,
  channelId: string,
  before: string[] | undefined,
  limit: number,
): Promise<Array<NotificationDelivery & { sortKey: string[] }>> {
  const { rows } = await tx.query<DeliveryRow & { sort_time: string }>(
    `select *, ${SORT_TIME} as sort_time from notification_deliveries
     where channel_id = $1
       and ($2::timestamptz is null or (created_at, id) < ($2::timestamptz, $3::uuid))
     order by created_at desc, id desc limit $4`,
    [channelId, before?.[0] ?? null, before?.[1] ?? null, limit],
  );
  return rows.map((row) => ({ ...toDelivery(row), sortKey: [row.sort_time, row.id] }));
}

export async function findDelivery(tx: Tx, deliveryId: string): Promise<NotificationDelivery | undefined> {
  const { rows } = await tx.query<DeliveryRow>("select * from notification_deliveries where id = $1", [
    deliveryId,
  ]);
  return rows[0] && toDelivery(rows[0]);
}

/** A delivery and its channel's kind, target, secret and state, for the job that sends it. */
export async function findDeliveryForJob(tx: Tx, deliveryId: string): Promise<DeliveryJobRow | undefined> {
  const { rows } = await tx.query<DeliveryJobRow>(
    `select d.*, c.kind, c.name, c.target, c.secret, c.enabled from notification_deliveries d
     join notification_channels c on c.workspace_id = d.workspace_id and c.id = d.channel_id
     where d.id = $1`,
    [deliveryId],
  );
  return rows[0];
}

/** Records one attempt's outcome; `status` stays 'pending' while retries remain. */
export async function recordAttempt(
  tx: Tx,
  deliveryId: string,
  attempt: { status: NotificationDelivery["status"]; code: number | null; error: string | null },
): Promise<void> {
  await tx.query(
    `update notification_deliveries set attempts = attempts + 1, status = $2, last_status = $3,
       last_error = $4, last_attempt_at = now(), delivered_at = case when $2 = 'delivered' then now() end
     where id = $1`,
    [deliveryId, attempt.status, attempt.code, attempt.error?.slice(0, 2000) ?? null],
  );
}

/** Ends a delivery without sending it (channel disabled, secret unreadable, no SMTP server). */
export async function abandonDelivery(tx: Tx, deliveryId: string, reason: string): Promise<void> {
  await tx.query(
    `update notification_deliveries set status = 'failed', last_error = $2, last_attempt_at = now()
     where id = $1 and status = 'pending'`,
    [deliveryId, reason.slice(0, 2000)],
  );
}
