/**
 * The `deliver_notification` job: sends one delivery to its channel (a Standard Webhooks signed
 * POST, a Slack incoming-webhook message, or an email through HERALD_SMTP_URL) and records the
 * attempt. A failed attempt throws so that graphile-worker retries it with its exponential backoff;
 * the attempt numbered HERALD_WEBHOOK_MAX_ATTEMPTS marks the delivery `failed` instead.
 */
import nodemailer from "nodemailer";
import type pg from "pg";
import { Webhook } from "standardwebhooks";
import { z } from "zod";
import type { Config } from "../config.js";
import { withWorkspace } from "../db/tenant.js";
import { type PostedOutcome, postDelivery } from "../http/outbound.js";
import type { Logger } from "../observability/logger.js";
import { type Vault, VaultError } from "../vault/vault.js";
import * as repo from "./notifications.repository.js";
import { type NotificationPayload, secretLocation } from "./notifications.service.js";

export const NotificationJobPayload = z.object({ workspaceId: z.uuid(), deliveryId: z.uuid() });

/** The SMTP server has this long to answer, per phase (HTTP deliveries: postDelivery's 10 s). */
const TIMEOUT_MS = 10_000;

export class NotificationDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotificationDeliveryError";
  }
}

type Deps = { pool: pg.Pool; log: Logger; vault: Vault; config: Config };
const policyOf = (config: Config) => ({ allowlist: config.outboundAllowlist });
/** `httpStatus` holds the SMTP reply code for email. */
type Outcome = PostedOutcome;

/**
 * Sends one delivery. `job` is graphile-worker's job (`attempts` already counts this run).
 * Resolves when the delivery is done (delivered, failed for good, or nothing to do); throws when
 * this attempt failed and another one is due.
 */
export async function deliverNotification(
  deps: Deps,
  payload: unknown,
  job: { attempts: number; max_attempts: number },
): Promise<void> {
  const { workspaceId, deliveryId } = NotificationJobPayload.parse(payload);
  const prepared = await withWorkspace(deps.pool, workspaceId, async (tx) => {
    const row = await repo.findDeliveryForJob(tx, deliveryId);
    // Gone with its channel (deleted: the log goes too), or already settled by an earlier run.
    if (row?.status !== "pending") return undefined;
    const abandon = async (reason: string) => {
      await repo.abandonDelivery(tx, deliveryId, reason);
      return undefined;
    };
    if (!row.enabled) return abandon("The channel was disabled before this notification was sent.");
    if (row.kind === "email" && !deps.config.smtp.url) {
      return abandon("Email is not configured on this server (HERALD_SMTP_URL is unset).");
    }
    if (!row.secret) return { row, secret: null };
    try {
      return { row, secret: deps.vault.decrypt(row.secret, secretLocation(workspaceId, row.channel_id)) };
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      return abandon("The channel's secret cannot be decrypted; delete the channel and create it again.");
    }
  });
  if (!prepared) return;
  const { row, secret } = prepared;
  const event = row.payload as NotificationPayload;

  const outcome =
    row.kind === "webhook"
      ? await sendWebhook(deps.config, row.target, secret ?? "", row.message_id, event)
      : row.kind === "slack"
        ? await postDelivery(secret ?? "", policyOf(deps.config), JSON.stringify(slackMessage(event)), {
            "content-type": "application/json",
          })
        : await sendEmail(deps.config, row.target, row.message_id, event);

  const last = job.attempts >= Math.min(job.max_attempts, deps.config.webhooks.maxAttempts);
  const status = outcome.ok ? "delivered" : last ? "failed" : "pending";
  await withWorkspace(deps.pool, workspaceId, (tx) =>
    repo.recordAttempt(tx, deliveryId, { status, code: outcome.httpStatus, error: outcome.error }),
  );
  if (status === "failed") {
    deps.log.warn(
      { workspaceId, deliveryId, channelId: row.channel_id, attempts: job.attempts, error: outcome.error },
      "notification delivery failed for good",
    );
  }
  if (status === "pending") throw new NotificationDeliveryError(outcome.error ?? "The delivery failed.");
}

/** The Standard Webhooks request, as src/webhooks sends it: `{type, timestamp, data}`, signed. */
function sendWebhook(
  config: Config,
  url: string,
  secret: string,
  messageId: string,
  event: NotificationPayload,
): Promise<Outcome> {
  const body = JSON.stringify({
    type: event.type,
    timestamp: event.timestamp,
    data: { severity: event.severity, title: event.title, text: event.text, ...event.data },
  });
  const sentAt = new Date();
  return postDelivery(url, policyOf(config), body, {
    "content-type": "application/json",
    "user-agent": "Herald-Notifications",
    "webhook-id": messageId,
    "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(messageId, sentAt, body),
  });
}

const SLACK_EMOJI = {
  info: ":information_source:",
  warning: ":warning:",
  error: ":x:",
  critical: ":rotating_light:",
};

/** A Slack incoming-webhook message: `text` (the notification fallback) and Block Kit blocks. */
export function slackMessage(event: NotificationPayload) {
  const heading = `${SLACK_EMOJI[event.severity]} [${event.severity.toUpperCase()}] ${event.title}`;
  return {
    text: `${heading}\n${event.text}`,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `*${heading}*\n${event.text}` } },
      { type: "context", elements: [{ type: "mrkdwn", text: `${event.type} · ${event.timestamp}` }] },
    ],
  };
}

/** One email through HERALD_SMTP_URL; the Message-ID is the same on every retry. */
async function sendEmail(
  config: Config,
  to: string,
  messageId: string,
  event: NotificationPayload,
): Promise<Outcome> {
  const transport = nodemailer.createTransport(config.smtp.url ?? "", {
    connectionTimeout: TIMEOUT_MS,
    greetingTimeout: TIMEOUT_MS,
    socketTimeout: TIMEOUT_MS,
  });
  try {
    const details = Object.entries(event.data)
      .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join("\n");
    await transport.sendMail({
      from: config.smtp.from,
      to,
      subject: `[Herald] [${event.severity.toUpperCase()}] ${event.title}`,
      text: `${event.text}\n\n${details}\n\nEvent: ${event.type} at ${event.timestamp}\n`,
      messageId: `<${messageId}@herald>`,
    });
    return { ok: true, httpStatus: 250, error: null };
  } catch (error) {
    const code = (error as { responseCode?: unknown }).responseCode;
    return {
      ok: false,
      httpStatus: typeof code === "number" ? code : null,
      error: error instanceof Error ? `SMTP: ${error.message}` : "SMTP: the message was not accepted.",
    };
  } finally {
    transport.close();
  }
}
