import type { Tx } from "../db/tenant.js";
import type { Client, PostingTime } from "./clients.schemas.js";

type ClientRow = {
  id: string;
  name: string;
  name_key: string;
  timezone: string;
  posting_times: PostingTime[];
  requires_approval: boolean;
  created_at: Date;
  updated_at: Date;
};

/**
 * Names compare equal when they differ only in letter case or Unicode form ("Café" and "CAFÉ"):
 * folded here rather than with SQL lower(), whose behaviour depends on the database's locale.
 */
export function nameKey(name: string): string {
  return name.normalize("NFKC").toLowerCase();
}

const toClient = (row: ClientRow): Client => ({
  id: row.id,
  name: row.name,
  timezone: row.timezone,
  postingTimes: row.posting_times,
  requiresApproval: row.requires_approval,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/** Clients in name order; `only` limits them to these ids (null: all). */
export async function listClients(
  tx: Tx,
  only: string[] | null,
  after: string[] | undefined,
  limit: number,
): Promise<Array<Client & { sortKey: string[] }>> {
  const { rows } = await tx.query<ClientRow>({
    name: "herald_list_clients",
    text: `select * from clients
           where ($1::uuid[] is null or id = any($1))
             and ($2::text is null or (name_key, id) > ($2::text, $3::uuid))
           order by name_key, id limit $4`,
    values: [only, after?.[0] ?? null, after?.[1] ?? null, limit],
  });
  return rows.map((row) => ({ ...toClient(row), sortKey: [row.name_key, row.id] }));
}

export async function findClient(tx: Tx, clientId: string): Promise<Client | undefined> {
  const { rows } = await tx.query<ClientRow>("select * from clients where id = $1", [clientId]);
  return rows[0] && toClient(rows[0]);
}

/** Of these ids, the ones that are not clients of the current workspace. */
export async function missingClientIds(tx: Tx, clientIds: string[]): Promise<string[]> {
  if (clientIds.length === 0) return [];
  const { rows } = await tx.query<{ id: string }>(
    "select t.id from unnest($1::uuid[]) as t(id) where not exists (select 1 from clients c where c.id = t.id)",
    [clientIds],
  );
  return rows.map((row) => row.id);
}

export async function insertClient(
  tx: Tx,
  workspaceId: string,
  client: { name: string; timezone: string; postingTimes: PostingTime[]; requiresApproval: boolean },
): Promise<Client> {
  const { rows } = await tx.query<ClientRow>(
    `insert into clients (workspace_id, name, name_key, timezone, posting_times, requires_approval)
     values ($1, $2, $3, $4, $5, $6) returning *`,
    [
      workspaceId,
      client.name,
      nameKey(client.name),
      client.timezone,
      JSON.stringify(client.postingTimes),
      client.requiresApproval,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("client insert returned no row");
  return toClient(row);
}

export async function updateClient(
  tx: Tx,
  clientId: string,
  changes: { name?: string; timezone?: string; postingTimes?: PostingTime[]; requiresApproval?: boolean },
): Promise<Client | undefined> {
  const { rows } = await tx.query<ClientRow>(
    `update clients set
       name = coalesce($2, name),
       name_key = coalesce($6, name_key),
       timezone = coalesce($3, timezone),
       posting_times = coalesce($4::jsonb, posting_times),
       requires_approval = coalesce($5, requires_approval),
       updated_at = now()
     where id = $1 returning *`,
    [
      clientId,
      changes.name ?? null,
      changes.timezone ?? null,
      changes.postingTimes ? JSON.stringify(changes.postingTimes) : null,
      changes.requiresApproval ?? null,
      changes.name === undefined ? null : nameKey(changes.name),
    ],
  );
  return rows[0] && toClient(rows[0]);
}

export async function deleteClient(tx: Tx, clientId: string): Promise<boolean> {
  const { rowCount } = await tx.query("delete from clients where id = $1", [clientId]);
  return (rowCount ?? 0) > 0;
}

let zoneNames: Promise<Map<string, string>> | undefined;

/**
 * The database's spelling of a time zone name ("asia/kolkata" → "Asia/Kolkata"), or undefined if
 * PostgreSQL does not know it. PostgreSQL's tz database is the reference because scheduling
 * arithmetic happens there; Node's ICU would rename current zones to old aliases (Asia/Calcutta).
 * The list (about 1,200 names, 30 ms to read) is read once per process.
 */
export async function timeZoneSpelling(tx: Tx, zone: string): Promise<string | undefined> {
  zoneNames ??= tx
    .query<{ name: string }>("select name from pg_timezone_names")
    .then(({ rows }) => new Map(rows.map((row) => [row.name.toLowerCase(), row.name])));
  try {
    return (await zoneNames).get(zone.toLowerCase());
  } catch (error) {
    zoneNames = undefined;
    throw error;
  }
}
