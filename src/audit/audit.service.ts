import { createHash } from "node:crypto";
import { Transform } from "node:stream";
import type { Tx } from "../db/tenant.js";
import { ValidationError } from "../errors.js";
import { decodeCursor, page } from "../http/pagination.js";
import { type AuditRow, listAuditEvents, toAuditEvent } from "./audit.repository.js";
import type { AuditFilters, AuditQuery } from "./audit.schemas.js";

export async function listEvents(tx: Tx, query: AuditQuery) {
  const { limit, cursor, ...filters } = query;
  // A cursor belongs to one set of filters: reusing it with others is a 400, not a wrong page.
  const list = `audit:${createHash("sha256").update(JSON.stringify(filters)).digest("base64url").slice(0, 16)}`;
  const after = decodeCursor(list, cursor, 2);
  const rows = await listAuditEvents(tx, filters, after, limit + 1);
  return page(rows, limit, list, (row) => [row.created_key, row.id], toAuditEvent);
}

/** The export's time range: given, or the widest allowed ending now; never wider than `maxDays`. */
export function exportRange(
  filters: AuditFilters,
  maxDays: number,
  now = new Date(),
): { from: string; to: string } {
  const to = filters.to ?? now.toISOString();
  const from = filters.from ?? new Date(Date.parse(to) - maxDays * 86_400_000).toISOString();
  const days = (Date.parse(to) - Date.parse(from)) / 86_400_000;
  if (days > maxDays) {
    throw new ValidationError(
      `An export covers at most ${maxDays} days; this one covers ${Math.ceil(days)}.`,
      [{ path: "query.from", message: `must be at most ${maxDays} days before \`to\``, rule: "max_range" }],
    );
  }
  return { from, to };
}

const CSV_COLUMNS = [
  "id",
  "created_at",
  "action",
  "outcome",
  "severity",
  "actor_type",
  "actor_id",
  "actor_name",
  "actor_email",
  "target_type",
  "target_id",
  "client_id",
  "account_id",
  "subject_email",
  "ip",
  "user_agent",
  "request_id",
  "sealed",
  "erased",
  "details",
] as const;

/** RFC 4180 field; a leading =, +, - or @ is prefixed with ' so spreadsheets do not run it. */
function csvField(value: unknown): string {
  let text =
    value === null || value === undefined ? "" : value instanceof Date ? value.toISOString() : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Rows in, CSV lines out (header first). */
export function toCsv(): Transform {
  let first = true;
  return new Transform({
    writableObjectMode: true,
    transform(row: AuditRow, _encoding, done) {
      const header = first ? `${CSV_COLUMNS.join(",")}\r\n` : "";
      first = false;
      const values = CSV_COLUMNS.map((column) =>
        column === "details" ? csvField(JSON.stringify(row.details)) : csvField(row[column]),
      );
      done(null, `${header}${values.join(",")}\r\n`);
    },
    flush(done) {
      done(null, first ? `${CSV_COLUMNS.join(",")}\r\n` : "");
    },
  });
}

/** Rows in, one JSON array out. */
export function toJsonArray(): Transform {
  let first = true;
  return new Transform({
    writableObjectMode: true,
    transform(row: AuditRow, _encoding, done) {
      const prefix = first ? "[\n" : ",\n";
      first = false;
      done(null, `${prefix}${JSON.stringify(toAuditEvent(row))}`);
    },
    flush(done) {
      done(null, first ? "[]\n" : "\n]\n");
    },
  });
}
