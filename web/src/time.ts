/**
 * Wall-clock times in a client's time zone. A post is scheduled "at 09:30 in Europe/Paris" and
 * Herald stores an instant with its offset; these convert between the two with Intl alone (no
 * date library in the initial bundle).
 */

/** Minutes the zone is ahead of UTC at that instant. */
export function zoneOffsetMinutes(instant: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(instant);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return Math.round((wall - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
}

const pad = (n: number) => String(n).padStart(2, "0");

function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** `2026-12-01T09:30` in `Europe/Paris` → `2026-12-01T09:30:00+01:00`. */
export function zonedToIso(local: string, timeZone: string): string | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local);
  if (!match) return undefined;
  const [, y, mo, d, h, mi] = match.map(Number) as [number, number, number, number, number, number];
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let offset = zoneOffsetMinutes(new Date(wall), timeZone);
  const corrected = zoneOffsetMinutes(new Date(wall - offset * 60_000), timeZone);
  if (corrected !== offset) offset = corrected;
  return `${match[0]}:00${formatOffset(offset)}`;
}

/** An instant → the `YYYY-MM-DDTHH:mm` a datetime-local input shows for that zone. */
export function isoToZonedLocal(iso: string, timeZone: string): string {
  const instant = new Date(iso);
  const shifted = new Date(instant.getTime() + zoneOffsetMinutes(instant, timeZone) * 60_000);
  return shifted.toISOString().slice(0, 16);
}

/** "UTC+01:00" for showing next to a time. */
export function zoneLabel(timeZone: string, at = new Date()): string {
  return `${timeZone} (UTC${formatOffset(zoneOffsetMinutes(at, timeZone))})`;
}

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
