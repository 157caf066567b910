/**
 * The token sweep (a worker job every five minutes): renews every credential entering its
 * platform's refresh window, and for access that only the person can renew, warns 14 days ahead
 * (`expiring`) and flags it when it ends (`needs_reconnection`). Each change of status is audited
 * once, when it happens; the alerting issue notifies on these events.
 */
import type pg from "pg";
import { recordAudit, SYSTEM } from "../audit/audit.js";
import { withWorkspace } from "../db/tenant.js";
import { enqueueNotification } from "../notifications/notifications.service.js";
import type { Logger } from "../observability/logger.js";
import { ProviderError, TransportError } from "../providers/provider.js";
import type { Registry } from "../providers/registry.js";
import type { Vault } from "../vault/vault.js";
import { enqueueWebhookEvent } from "../webhooks/webhooks.service.js";
import { findCredential, refreshCredential } from "./credentials.js";

const WARN_DAYS = 14;

export type SweepResult = {
  checked: number;
  refreshed: number;
  failed: number;
  expiring: number;
  expired: number;
  errors: number;
};

export async function sweepTokens(deps: {
  pool: pg.Pool;
  vault: Vault;
  registry: Registry;
  log: Logger;
}): Promise<SweepResult> {
  const { pool, registry, log } = deps;
  const widest = Math.max(
    0,
    ...[...registry.adapters.values()].map((adapter) => adapter.refreshWindowSeconds ?? 0),
  );
  // A minute of margin: the sweep runs every five minutes.
  const before = new Date(Date.now() + (widest + 60) * 1000);
  const { rows } = await pool.query<{ workspace_id: string; credential_id: string; platform: string }>(
    "select * from herald_credentials_due($1, 500)",
    [before],
  );
  const result: SweepResult = {
    checked: rows.length,
    refreshed: 0,
    failed: 0,
    expiring: 0,
    expired: 0,
    errors: 0,
  };
  for (const { workspace_id: workspaceId, credential_id: credentialId, platform } of rows) {
    const adapter = registry.adapter(platform);
    if (!adapter) continue;
    try {
      if (adapter.refreshWindowSeconds !== null) {
        const refreshed = await refreshCredential(pool, deps, workspaceId, credentialId, {
          force: false,
          audit: SYSTEM,
        });
        if (refreshed.outcome === "refreshed") result.refreshed++;
        if (refreshed.outcome === "failed") result.failed++;
      }
      const change = await updateAccessStatus(
        pool,
        workspaceId,
        credentialId,
        adapter.refreshWindowSeconds !== null,
      );
      if (change === "expiring") result.expiring++;
      if (change === "expired") result.expired++;
    } catch (error) {
      // One platform being down must not stop the sweep for the others; the next sweep retries.
      result.errors++;
      const transient =
        error instanceof TransportError || (error instanceof ProviderError && error.retryable);
      log.warn({ err: error, workspaceId, platform, transient }, "token sweep: credential not renewed");
    }
  }
  if (result.checked > 0) log.info({ ...result }, "token sweep done");
  return result;
}

/**
 * When access ends (the grant for refreshable tokens, the token or the grant otherwise): within 14
 * days the accounts become `expiring`, past it `needs_reconnection`.
 */
async function updateAccessStatus(
  pool: pg.Pool,
  workspaceId: string,
  credentialId: string,
  refreshable: boolean,
): Promise<"expiring" | "expired" | null> {
  return withWorkspace(pool, workspaceId, async (tx) => {
    const credential = await findCredential(tx, credentialId);
    if (!credential) return null;
    const ends = [credential.grant_expires_at, refreshable ? null : credential.token_expires_at]
      .filter((date): date is Date => date !== null)
      .sort((a, b) => a.getTime() - b.getTime())[0];
    if (!ends) return null;
    const now = Date.now();
    const expired = ends.getTime() <= now;
    if (!expired && ends.getTime() - now > WARN_DAYS * 86_400_000) return null;
    const status = expired ? "needs_reconnection" : "expiring";
    const reason = expired
      ? `Access ended on ${ends.toISOString().slice(0, 10)}: reconnect the account.`
      : `Access ends on ${ends.toISOString().slice(0, 10)}: reconnect the account before then.`;
    const { rows } = await tx.query<{ id: string; platform: string; name: string }>(
      `update social_accounts set status = $2, status_reason = $3, updated_at = now()
       where credential_id = $1 and status in ('active'${expired ? ", 'expiring'" : ""})
       returning id, platform, name`,
      [credentialId, status, reason],
    );
    for (const account of rows) {
      await recordAudit(tx, workspaceId, SYSTEM, {
        action: expired ? "token_expired" : "token_expiring",
        outcome: expired ? "failure" : "success",
        target: { type: "account", id: account.id },
        accountId: account.id,
        details: { platform: account.platform, accessEndsAt: ends.toISOString() },
      });
      await enqueueWebhookEvent(tx, workspaceId, {
        type: expired ? "account.needs_reconnection" : "account.expiring",
        data: { accountId: account.id, platform: account.platform, name: account.name, reason },
      });
      await enqueueNotification(tx, workspaceId, {
        type: expired ? "account.needs_reconnection" : "account.expiring",
        severity: expired ? "error" : "warning",
        title: `${account.name} (${account.platform}) ${expired ? "needs reconnecting" : "access is ending"}`,
        text: reason,
        data: { accountId: account.id, platform: account.platform, name: account.name, reason },
      });
    }
    return rows.length > 0 ? (expired ? "expired" : "expiring") : null;
  });
}
