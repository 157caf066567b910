/**
 * Re-encrypts every secret still under an older key with the vault's current key, a workspace
 * batch per transaction: interrupted, it has lost nothing, and running it again continues.
 * `herald keys rotate` runs it; the worker also runs it daily so that a key added to the
 * configuration takes over by itself.
 */
import type pg from "pg";
import { withWorkspace } from "../db/tenant.js";
import type { Logger } from "../observability/logger.js";
import type { Vault } from "./vault.js";

type StaleRow = {
  kind: "account_credentials" | "pending_connections" | "oauth_states";
  workspace_id: string;
  row_id: string;
};

export async function reencryptSecrets(
  pool: pg.Pool,
  vault: Vault,
  log: Logger,
  options: { batch?: number; onProgress?: (done: number) => void } = {},
): Promise<number> {
  const batch = options.batch ?? 200;
  let done = 0;
  while (true) {
    const { rows } = await pool.query<StaleRow>("select * from herald_stale_secrets($1, $2)", [
      vault.currentKeyId,
      batch,
    ]);
    if (rows.length === 0) break;
    const byWorkspace = new Map<string, StaleRow[]>();
    for (const row of rows)
      byWorkspace.set(row.workspace_id, [...(byWorkspace.get(row.workspace_id) ?? []), row]);
    for (const [workspaceId, stale] of byWorkspace) {
      done += await withWorkspace(pool, workspaceId, async (tx) => {
        let count = 0;
        for (const { kind, row_id: id } of stale) {
          const at = (field: string) => ({ workspaceId, rowId: id, field });
          const reseal = (value: Buffer | null, field: string) =>
            value ? vault.encrypt(vault.decrypt(value, at(field)), at(field)) : null;
          if (kind === "account_credentials") {
            const { rows: found } = await tx.query<{ access_token: Buffer; refresh_token: Buffer | null }>(
              "select access_token, refresh_token from account_credentials where id = $1 and key_id <> $2 for update",
              [id, vault.currentKeyId],
            );
            const row = found[0];
            if (!row) continue;
            await tx.query(
              "update account_credentials set access_token = $2, refresh_token = $3, key_id = $4 where id = $1",
              [
                id,
                reseal(row.access_token, "access_token"),
                reseal(row.refresh_token, "refresh_token"),
                vault.currentKeyId,
              ],
            );
          } else if (kind === "pending_connections") {
            const { rows: found } = await tx.query<{ credentials: Buffer }>(
              "select credentials from pending_connections where id = $1 and key_id <> $2 for update",
              [id, vault.currentKeyId],
            );
            const row = found[0];
            if (!row) continue;
            await tx.query("update pending_connections set credentials = $2, key_id = $3 where id = $1", [
              id,
              reseal(row.credentials, "credentials"),
              vault.currentKeyId,
            ]);
          } else {
            const { rows: found } = await tx.query<{ code_verifier: Buffer | null }>(
              "select code_verifier from oauth_states where id = $1 and key_id <> $2 for update",
              [id, vault.currentKeyId],
            );
            const row = found[0];
            if (!row) continue;
            await tx.query("update oauth_states set code_verifier = $2, key_id = $3 where id = $1", [
              id,
              reseal(row.code_verifier, "code_verifier"),
              vault.currentKeyId,
            ]);
          }
          count++;
        }
        return count;
      });
      options.onProgress?.(done);
    }
  }
  if (done > 0)
    log.info({ reencrypted: done, keyId: vault.currentKeyId }, "secrets re-encrypted with the current key");
  return done;
}
