import { canSeeClient, type WorkspaceAccess } from "../access/workspace-access.js";
import { auditIn } from "../audit/audit.js";
import type { Tx } from "../db/tenant.js";
import { ConflictError, isUniqueViolation, NotFoundError, ValidationError } from "../errors.js";
import { decodeCursor, page } from "../http/pagination.js";
import { setMemberClients } from "../members/members.repository.js";
import * as repo from "./clients.repository.js";
import type { Client, ClientCreate, ClientUpdate, PostingTime } from "./clients.schemas.js";

export async function listClients(
  tx: Tx,
  access: WorkspaceAccess,
  query: { limit: number; cursor?: string },
) {
  const after = decodeCursor("clients", query.cursor, 2);
  const rows = await repo.listClients(tx, access.clientIds, after, query.limit + 1);
  return page(
    rows,
    query.limit,
    "clients",
    (c) => c.sortKey,
    ({ sortKey: _, ...client }) => client,
  );
}

export async function getClient(tx: Tx, access: WorkspaceAccess, clientId: string): Promise<Client> {
  const client = canSeeClient(access, clientId) ? await repo.findClient(tx, clientId) : undefined;
  if (!client) throw new NotFoundError();
  return client;
}

export async function createClient(tx: Tx, access: WorkspaceAccess, input: ClientCreate): Promise<Client> {
  const timezone = await knownTimeZone(tx, input.timezone);
  const client = await nameMustBeFree(() =>
    repo.insertClient(tx, access.workspaceId, {
      ...input,
      timezone,
      postingTimes: normalise(input.postingTimes),
    }),
  );
  // A member limited to some clients keeps seeing what they create.
  if (access.clientIds !== null && access.memberId !== null) {
    await setMemberClients(tx, access.workspaceId, access.memberId, {
      restricted: true,
      clientIds: [...access.clientIds, client.id],
    });
  }
  await auditIn(tx, access, {
    action: "client_created",
    target: { type: "client", id: client.id },
    clientId: client.id,
    details: { name: client.name, timezone: client.timezone, requiresApproval: client.requiresApproval },
  });
  return client;
}

export async function updateClient(
  tx: Tx,
  access: WorkspaceAccess,
  clientId: string,
  changes: ClientUpdate,
): Promise<Client> {
  const before = await getClient(tx, access, clientId);
  const postingTimes = changes.postingTimes && normalise(changes.postingTimes);
  const timezone = changes.timezone && (await knownTimeZone(tx, changes.timezone));
  const updated = await nameMustBeFree(() =>
    repo.updateClient(tx, clientId, { ...changes, timezone, postingTimes }),
  );
  if (!updated) throw new NotFoundError();
  await auditIn(tx, access, {
    action: "client_updated",
    target: { type: "client", id: clientId },
    clientId,
    details: changedFields(before, updated),
  });
  return updated;
}

export async function deleteClient(tx: Tx, access: WorkspaceAccess, clientId: string): Promise<void> {
  const client = await getClient(tx, access, clientId);
  if (!(await repo.deleteClient(tx, clientId))) throw new NotFoundError();
  await auditIn(tx, access, {
    action: "client_deleted",
    target: { type: "client", id: clientId },
    clientId,
    details: { name: client.name },
  });
}

/** `{ field: { before, after } }` for each field that changed. */
function changedFields(before: Client, after: Client): Record<string, { before: unknown; after: unknown }> {
  const fields = ["name", "timezone", "postingTimes", "requiresApproval"] as const;
  return Object.fromEntries(
    fields
      .filter((field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]))
      .map((field) => [field, { before: before[field], after: after[field] }]),
  );
}

async function knownTimeZone(tx: Tx, zone: string): Promise<string> {
  const spelling = await repo.timeZoneSpelling(tx, zone);
  if (!spelling) {
    throw new ValidationError(`Unknown time zone ${zone}.`, [
      {
        path: "body.timezone",
        message: "must be an IANA time zone such as Europe/Paris",
        rule: "invalid_timezone",
      },
    ]);
  }
  return spelling;
}

async function nameMustBeFree<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error, "clients_name_key_idx")) {
      throw new ConflictError("HERALD_CLIENT_EXISTS", "This workspace already has a client with this name.", [
        { path: "body.name", message: "is already used by another client", rule: "unique" },
      ]);
    }
    throw error;
  }
}

/** Slots sorted by weekday and time, each once. */
function normalise(times: PostingTime[]): PostingTime[] {
  const unique = new Map(times.map((t) => [`${t.weekday} ${t.time}`, t]));
  return [...unique.values()].sort((a, b) => a.weekday - b.weekday || a.time.localeCompare(b.time));
}
