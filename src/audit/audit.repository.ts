import QueryStream from "pg-query-stream";
import type { Tx } from "../db/tenant.js";
import type { AuditEventItem, AuditFilters } from "./audit.schemas.js";

export type AuditRow = {
  id: string;
  created_at: Date;
  created_key: string;
  action: string;
  outcome: AuditEventItem["outcome"];
  severity: AuditEventItem["severity"];
  actor_type: AuditEventItem["actor"]["type"];
  actor_id: string | null;
  actor_name: string | null;
  actor_email: string | null;
  target_type: string | null;
  target_id: string | null;
  client_id: string | null;
  account_id: string | null;
  subject_email: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: Record<string, unknown>;
  sealed: boolean;
  erased: boolean;
};

export const toAuditEvent = (row: AuditRow): AuditEventItem => ({
  id: row.id,
  createdAt: row.created_at.toISOString(),
  action: row.action,
  outcome: row.outcome,
  severity: row.severity,
  actor: { type: row.actor_type, id: row.actor_id, name: row.actor_name, email: row.actor_email },
  target: row.target_type && row.target_id ? { type: row.target_type, id: row.target_id } : null,
  clientId: row.client_id,
  accountId: row.account_id,
  subjectEmail: row.subject_email,
  ip: row.ip,
  userAgent: row.user_agent,
  requestId: row.request_id,
  details: row.details,
  sealed: row.sealed,
  erased: row.erased,
});

/** The filtered events of the current workspace, newest first; `$1..$8` are the filters. */
function filteredQuery(extraWhere: string, tail: string): string {
  return `
    select e.id, e.created_at, e.created_at::text as created_key, e.action, e.outcome, e.severity,
           e.actor_type, e.actor_id, e.actor_name, e.actor_email, e.target_type, e.target_id, e.client_id,
           e.account_id, e.subject_email, host(e.ip) as ip, e.user_agent, e.request_id, e.details,
           exists (select 1 from audit_seals s where s.event_id = e.id and s.event_created_at = e.created_at) as sealed,
           e.erased_at is not null as erased
    from audit_events e
    where e.workspace_id = herald_workspace_id()
      and ($1::text is null or e.action = $1)
      and ($2::uuid is null or e.actor_id = $2)
      and ($3::uuid is null or e.account_id = $3)
      and ($4::uuid is null or e.client_id = $4)
      and ($5::text is null or e.outcome = $5)
      and ($6::text is null or e.severity = $6)
      and ($7::timestamptz is null or e.created_at >= $7)
      and ($8::timestamptz is null or e.created_at < $8)
      ${extraWhere}
    order by e.created_at desc, e.id desc
    ${tail}`;
}

function filterValues(filters: AuditFilters): unknown[] {
  return [
    filters.action ?? null,
    filters.actorId ?? null,
    filters.accountId ?? null,
    filters.clientId ?? null,
    filters.outcome ?? null,
    filters.severity ?? null,
    filters.from ?? null,
    filters.to ?? null,
  ];
}

export async function listAuditEvents(
  tx: Tx,
  filters: AuditFilters,
  after: string[] | undefined,
  limit: number,
): Promise<AuditRow[]> {
  const { rows } = await tx.query<AuditRow>(
    filteredQuery(
      "and ($9::timestamptz is null or (e.created_at, e.id) < ($9::timestamptz, $10::uuid))",
      "limit $11",
    ),
    [...filterValues(filters), after?.[0] ?? null, after?.[1] ?? null, limit],
  );
  return rows;
}

/** The same events as a stream of rows, read in batches: memory stays flat whatever the size. */
export function streamAuditEvents(tx: Tx, filters: AuditFilters): QueryStream {
  return tx.query(new QueryStream(filteredQuery("", ""), filterValues(filters), { batchSize: 500 }));
}

export async function verifyCurrentChain(tx: Tx) {
  const { rows } = await tx.query<{
    ok: boolean;
    checked: string;
    first_broken_id: string | null;
    unsealed: string;
  }>("select * from herald_audit_verify_current()");
  const row = rows[0];
  if (!row) throw new Error("verification returned no row");
  return {
    ok: row.ok,
    checked: Number(row.checked),
    firstBrokenId: row.first_broken_id,
    unsealed: Number(row.unsealed),
  };
}
