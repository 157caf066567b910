/**
 * Operator commands on the audit trail (`herald audit ...`), run with the owner connection acting
 * as herald_audit: verify every chain, export everything about one person (GDPR access), and
 * pseudonymise one person's data everywhere (GDPR erasure), itself audited.
 */
import { createHash } from "node:crypto";
import type { Writable } from "node:stream";
import type pg from "pg";
import { isUuid } from "../db/tenant.js";
import { recordAudit, SYSTEM } from "./audit.js";
import { NO_WORKSPACE } from "./catalogue.js";

export type ChainReport = {
  workspaceId: string;
  ok: boolean;
  checked: number;
  firstBrokenId: string | null;
  unsealed: number;
};

/** Verifies one chain, or every chain the database has. */
export async function verifyChains(owner: pg.Client, workspaceId?: string): Promise<ChainReport[]> {
  const { rows: chains } = await owner.query<{ workspace_id: string }>(
    workspaceId
      ? "select $1::uuid as workspace_id"
      : `select workspace_id from audit_chain_heads union select workspace_id from audit_unsealed order by 1`,
    workspaceId ? [workspaceId] : [],
  );
  const reports: ChainReport[] = [];
  for (const { workspace_id: chain } of chains) {
    const { rows } = await owner.query<{
      ok: boolean;
      checked: string;
      first_broken_id: string | null;
      unsealed: string;
    }>("select * from herald_audit_verify($1)", [chain]);
    const row = rows[0];
    if (!row) continue;
    reports.push({
      workspaceId: chain,
      ok: row.ok,
      checked: Number(row.checked),
      firstBrokenId: row.first_broken_id,
      unsealed: Number(row.unsealed),
    });
  }
  return reports;
}

/** The person behind an email or a user id, and the email to match in older events. */
async function person(
  owner: pg.Client,
  who: string,
): Promise<{ userId: string | null; email: string | null }> {
  const { rows } = await owner.query<{ id: string; email: string }>(
    isUuid(who)
      ? "select id, email from users where id = $1"
      : "select id, email from users where email = lower($1)",
    [who],
  );
  const user = rows[0];
  if (user) return { userId: user.id, email: user.email };
  return isUuid(who) ? { userId: who, email: null } : { userId: null, email: who.toLowerCase() };
}

const ABOUT = `(actor_id = $1 or lower(actor_email) = $2 or lower(subject_email) = $2)`;

/** Every event about a person, live and archived, as JSON lines (GDPR right of access). */
export async function exportPerson(owner: pg.Client, who: string, out: Writable): Promise<number> {
  const { userId, email } = await person(owner, who);
  const { rows } = await owner.query(
    `select id, created_at, workspace_id, action, outcome, severity, actor_type, actor_id, actor_name, actor_email,
            target_type, target_id, client_id, account_id, subject_email, host(ip) as ip, user_agent, request_id,
            details, erased_at
     from audit_all_events where ${ABOUT} order by created_at, id`,
    [userId, email],
  );
  for (const row of rows) out.write(`${JSON.stringify(row)}\n`);
  return rows.length;
}

/**
 * Pseudonymises a person in every event (name replaced, email, IP and user agent removed); the
 * hashes stay valid. The erasure is recorded without the data it erased.
 */
export async function erasePerson(
  owner: pg.Client,
  who: string,
): Promise<{ rows: number; pseudonym: string }> {
  const { userId, email } = await person(owner, who);
  const pseudonym = `erased-${createHash("sha256")
    .update(userId ?? email ?? who)
    .digest("hex")
    .slice(0, 12)}`;
  await owner.query("begin");
  try {
    const { rows } = await owner.query<{ erased: string }>(
      "select herald_audit_erase($1, $2, $3) as erased",
      [userId, email, pseudonym],
    );
    const erased = Number(rows[0]?.erased ?? 0);
    await recordAudit(owner, NO_WORKSPACE, SYSTEM, {
      action: "audit_erasure",
      target: { type: "user", id: userId ?? pseudonym },
      details: { pseudonym, rows: erased, by: "herald audit erase" },
    });
    await owner.query("commit");
    return { rows: erased, pseudonym };
  } catch (error) {
    await owner.query("rollback");
    throw error;
  }
}
