/**
 * Re-encrypts every secret still under an older key with the vault's current key, a workspace
 * batch per transaction: interrupted, it has lost nothing, and running it again continues.
 * `herald keys rotate` runs it; the worker also runs it daily so that a key added to the
 * configuration takes over by itself.
 *
 * A secret that cannot be decrypted (its key is gone, or the ciphertext was moved) is left as it is
 * and counted: rotation cannot repair it, and the account it belongs to is flagged for reconnection
 * the next time Herald uses or refreshes it.
 */
import type pg from "pg";
import { type Tx, withWorkspace } from "../db/tenant.js";
import type { Logger } from "../observability/logger.js";
import { type Vault, VaultError } from "./vault.js";

/** The tables holding secrets, and their encrypted columns (the AAD's field names). */
const SECRETS = {
  account_credentials: ["access_token", "refresh_token"],
  pending_connections: ["credentials"],
  oauth_states: ["code_verifier"],
  webhooks: ["secret"],
  notification_channels: ["secret"],
} as const;

type Kind = keyof typeof SECRETS;

export type RotationResult = { reencrypted: number; undecryptable: number };

export async function reencryptSecrets(
  pool: pg.Pool,
  vault: Vault,
  log: Logger,
  options: { batch?: number; onProgress?: (done: number) => void } = {},
): Promise<RotationResult> {
  const batch = options.batch ?? 200;
  const result: RotationResult = { reencrypted: 0, undecryptable: 0 };
  for (const kind of Object.keys(SECRETS) as Kind[]) {
    let after: string | null = null;
    while (true) {
      const { rows }: { rows: Array<{ workspace_id: string; row_id: string }> } = await pool.query(
        "select * from herald_stale_secrets($1, $2, $3, $4)",
        [kind, vault.currentKeyId, after, batch],
      );
      if (rows.length === 0) break;
      after = rows[rows.length - 1]?.row_id ?? null;
      const byWorkspace = new Map<string, string[]>();
      for (const row of rows)
        byWorkspace.set(row.workspace_id, [...(byWorkspace.get(row.workspace_id) ?? []), row.row_id]);
      for (const [workspaceId, stale] of byWorkspace) {
        await withWorkspace(pool, workspaceId, async (tx) => {
          for (const id of stale) {
            const outcome = await reseal(tx, vault, kind, workspaceId, id);
            if (outcome !== "gone") result[outcome]++;
          }
        });
        options.onProgress?.(result.reencrypted);
      }
    }
  }
  if (result.reencrypted > 0 || result.undecryptable > 0) {
    const level = result.undecryptable > 0 ? "warn" : "info";
    log[level]({ ...result, keyId: vault.currentKeyId }, "secrets re-encrypted with the current key");
  }
  return result;
}

/** Re-encrypts one row's secrets; a row whose secrets cannot be decrypted is left alone. */
async function reseal(
  tx: Tx,
  vault: Vault,
  kind: Kind,
  workspaceId: string,
  id: string,
): Promise<"reencrypted" | "undecryptable" | "gone"> {
  const fields = SECRETS[kind];
  const { rows } = await tx.query<Record<string, Buffer | null>>(
    `select ${fields.join(", ")} from ${kind} where id = $1 and key_id <> $2 for update`,
    [id, vault.currentKeyId],
  );
  const row = rows[0];
  // Deleted, or re-encrypted meanwhile (a concurrent rotation, a refresh): nothing to do.
  if (!row) return "gone";
  let values: Array<Buffer | null>;
  try {
    values = fields.map((field) => {
      const value = row[field] ?? null;
      const at = { workspaceId, rowId: id, field };
      return value ? vault.encrypt(vault.decrypt(value, at), at) : null;
    });
  } catch (error) {
    if (error instanceof VaultError) return "undecryptable";
    throw error;
  }
  const assignments = fields.map((field, index) => `${field} = $${index + 3}`).join(", ");
  await tx.query(`update ${kind} set ${assignments}, key_id = $2 where id = $1`, [
    id,
    vault.currentKeyId,
    ...values,
  ]);
  return "reencrypted";
}
