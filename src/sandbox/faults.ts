/**
 * Fault injection for `POST /api/accounts/:id/posts`, in this order: latency, rate limit (429),
 * error (503), then the post is created, then "timeout after create" (created, never answered).
 * Each fault that is switched on draws `random()` once, in that order, so a seeded `random` makes
 * a run reproducible and a rate of 1 always fires.
 */
import { z } from "zod";

const Rate = z.number().min(0).max(1);
const Milliseconds = z.int().min(0).max(60_000);

export const FaultSettingsSchema = z.strictObject({
  errorRate: Rate.default(0),
  rateLimitRate: Rate.default(0),
  retryAfterSeconds: z.int().min(0).max(3600).default(1),
  /** A fixed delay, or `[min, max]` drawn uniformly. */
  latencyMs: z
    .union([
      Milliseconds,
      z.tuple([Milliseconds, Milliseconds]).refine(([min, max]) => min <= max, "min must not exceed max"),
    ])
    .default(0),
  timeoutAfterCreateRate: Rate.default(0),
  /** How long a "timeout after create" holds the connection before dropping it. */
  hangMs: z.int().min(0).max(600_000).default(15_000),
});

/** The admin request: the settings, plus a one-off action that is applied and not stored. */
export const FaultsRequestSchema = FaultSettingsSchema.extend({
  /** Account ids whose access tokens issued so far expire now. */
  expireTokens: z.array(z.string().min(1).max(200)).max(10_000).optional(),
});

export type FaultSettings = z.output<typeof FaultSettingsSchema>;

export const NO_FAULTS: FaultSettings = FaultSettingsSchema.parse({});

/** True when a fault with this rate fires; draws only when the fault is on. */
export function fires(rate: number, random: () => number): boolean {
  return rate > 0 && random() < rate;
}

/** The delay to add before answering, drawing `random()` only for a range. */
export function latencyOf(settings: FaultSettings, random: () => number): number {
  const latency = settings.latencyMs;
  if (typeof latency === "number") return latency;
  const [min, max] = latency;
  return min === max ? min : Math.round(min + random() * (max - min));
}
