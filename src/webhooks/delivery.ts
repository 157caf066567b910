/**
 * The `deliver_webhook` job: sends one delivery, signed the Standard Webhooks way, and records the
 * attempt. A failed attempt throws so that graphile-worker retries it with its exponential backoff
 * (about exp(attempt) seconds); the last allowed attempt marks the delivery `failed` instead.
 */
import type pg from "pg";
import { Webhook } from "standardwebhooks";
import { z } from "zod";
import type { Config } from "../config.js";
import { withWorkspace } from "../db/tenant.js";
import { postDelivery } from "../http/outbound.js";
import type { Logger } from "../observability/logger.js";
import { type Vault, VaultError } from "../vault/vault.js";
import * as repo from "./webhooks.repository.js";
import { secretLocation } from "./webhooks.service.js";

export const DeliveryJobPayload = z.object({ workspaceId: z.uuid(), deliveryId: z.uuid() });
export type DeliveryJobPayload = z.infer<typeof DeliveryJobPayload>;

export class WebhookDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookDeliveryError";
  }
}

type DeliveryDeps = { pool: pg.Pool; log: Logger; vault: Vault; config: Config };

/**
 * Sends one delivery. `job` is graphile-worker's job (`attempts` already counts this run).
 * Resolves when the delivery is done (delivered, failed for good, or nothing to do); throws when
 * this attempt failed and another one is due.
 */
export async function deliverWebhook(
  deps: DeliveryDeps,
  payload: unknown,
  job: { attempts: number; max_attempts: number },
): Promise<void> {
  const { workspaceId, deliveryId } = DeliveryJobPayload.parse(payload);
  const prepared = await withWorkspace(deps.pool, workspaceId, async (tx) => {
    const row = await repo.findDeliveryForJob(tx, deliveryId);
    // Gone with its webhook (deleted: the log goes too), or already settled by an earlier run.
    if (row?.status !== "pending") return undefined;
    if (!row.enabled) {
      await repo.abandonDelivery(tx, deliveryId, "The webhook was disabled before this event was sent.");
      return undefined;
    }
    try {
      return { row, secret: deps.vault.decrypt(row.secret, secretLocation(workspaceId, row.webhook_id)) };
    } catch (error) {
      if (!(error instanceof VaultError)) throw error;
      await repo.abandonDelivery(
        tx,
        deliveryId,
        "The webhook's signing secret cannot be decrypted; delete the webhook and create it again.",
      );
      return undefined;
    }
  });
  if (!prepared) return;
  const { row, secret } = prepared;

  const body = JSON.stringify(row.payload);
  const sentAt = new Date();
  const outcome = await postDelivery(row.url, { allowlist: deps.config.outboundAllowlist }, body, {
    "content-type": "application/json",
    "user-agent": "Herald-Webhooks",
    "webhook-id": row.message_id,
    "webhook-timestamp": String(Math.floor(sentAt.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(row.message_id, sentAt, body),
  });

  const last = job.attempts >= Math.min(job.max_attempts, deps.config.webhooks.maxAttempts);
  const status = outcome.ok ? "delivered" : last ? "failed" : "pending";
  await withWorkspace(deps.pool, workspaceId, (tx) =>
    repo.recordAttempt(tx, deliveryId, { status, httpStatus: outcome.httpStatus, error: outcome.error }),
  );
  if (status === "failed") {
    deps.log.warn(
      { workspaceId, deliveryId, webhookId: row.webhook_id, attempts: job.attempts, error: outcome.error },
      "webhook delivery failed for good",
    );
  }
  if (status === "pending") throw new WebhookDeliveryError(outcome.error ?? "The delivery failed.");
}
