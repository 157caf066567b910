/**
 * Cursor pagination: `limit` and an opaque `cursor`, answered with `{ items, nextCursor }`.
 * A cursor names the list it came from, so a cursor from another list is a 400, not a silent
 * wrong page.
 */
import { z } from "zod";
import { ValidationError } from "../errors.js";

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().min(1).max(512).optional(),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

const CursorPayload = z.object({ list: z.string(), after: z.array(z.string()) });

export function encodeCursor(list: string, after: string[]): string {
  return Buffer.from(JSON.stringify({ list, after })).toString("base64url");
}

/** The sort key values the next page starts after, or undefined for the first page. */
export function decodeCursor(list: string, cursor: string | undefined, size: number): string[] | undefined {
  if (cursor === undefined) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    payload = undefined;
  }
  const parsed = CursorPayload.safeParse(payload);
  if (!parsed.success || parsed.data.list !== list || parsed.data.after.length !== size) {
    throw new ValidationError("The cursor does not belong to this list.", [
      { path: "query.cursor", message: "is not a cursor of this list", rule: "invalid_cursor" },
    ]);
  }
  return parsed.data.after;
}

/** Splits a `limit + 1` query result into the page and the cursor of the next one. */
export function page<Row, Item>(
  rows: Row[],
  limit: number,
  list: string,
  sortKey: (row: Row) => string[],
  toItem: (row: Row) => Item,
): { items: Item[]; nextCursor: string | null } {
  const visible = rows.slice(0, limit);
  const last = visible.at(-1);
  const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(list, sortKey(last)) : null;
  return { items: visible.map(toItem), nextCursor };
}
