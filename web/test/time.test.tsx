import { describe, expect, it } from "vitest";
import { isoToZonedLocal, zonedToIso, zoneLabel } from "../src/time";

describe("times in a client's time zone", () => {
  it("gives a wall-clock time its zone's offset, summer and winter", () => {
    expect(zonedToIso("2026-01-15T09:30", "Europe/Paris")).toBe("2026-01-15T09:30:00+01:00");
    expect(zonedToIso("2026-07-15T09:30", "Europe/Paris")).toBe("2026-07-15T09:30:00+02:00");
    expect(zonedToIso("2026-07-15T09:30", "America/New_York")).toBe("2026-07-15T09:30:00-04:00");
    expect(zonedToIso("2026-03-10T18:00", "Asia/Kolkata")).toBe("2026-03-10T18:00:00+05:30");
  });

  it("takes the offset in force after a daylight-saving change, the same day", () => {
    // Paris moves to summer time at 02:00 on 29 March 2026.
    expect(zonedToIso("2026-03-29T01:30", "Europe/Paris")).toBe("2026-03-29T01:30:00+01:00");
    expect(zonedToIso("2026-03-29T03:30", "Europe/Paris")).toBe("2026-03-29T03:30:00+02:00");
  });

  it("shows an instant as the zone's wall clock, and back", () => {
    expect(isoToZonedLocal("2026-01-15T08:30:00Z", "Europe/Paris")).toBe("2026-01-15T09:30");
    expect(isoToZonedLocal("2026-01-15T23:30:00Z", "Asia/Tokyo")).toBe("2026-01-16T08:30");
    const local = "2026-11-02T07:45";
    const iso = zonedToIso(local, "Australia/Sydney");
    expect(iso && isoToZonedLocal(iso, "Australia/Sydney")).toBe(local);
  });

  it("writes the zone out with its offset", () => {
    expect(zoneLabel("Asia/Tokyo")).toBe("Asia/Tokyo (UTC+09:00)");
    expect(zonedToIso("not a time", "UTC")).toBeUndefined();
  });
});
