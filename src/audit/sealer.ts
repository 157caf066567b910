/**
 * Seals the audit chains shortly after events commit: every half second, each worker process asks
 * the database to extend the chains that have unsealed events (herald_audit_seal, migration 0002).
 * Writers never wait for it; several workers share the work, one chain at a time each.
 */
import type pg from "pg";
import type { Logger } from "../observability/logger.js";

const INTERVAL_MS = 500;
const BATCH = 5000;

export type Sealer = {
  stop(): Promise<void> /** Seals everything pending now (tests, CLI). */;
  sealNow(): Promise<number>;
};

export function startSealer(pool: pg.Pool, log: Logger): Sealer {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let failures = 0;

  const tick = async () => {
    try {
      const sealed = await sealAll(pool);
      if (sealed > 0) log.debug({ sealed }, "audit events sealed");
      failures = 0;
    } catch (error) {
      failures++;
      // Logged once per outage rather than twice a second.
      if (failures === 1) log.warn({ err: error }, "sealing the audit chain failed; retrying");
    }
    if (!stopped) timer = setTimeout(loop, INTERVAL_MS * Math.min(2 ** Math.max(0, failures - 1), 20));
  };
  const loop = () => {
    running = tick();
  };
  timer = setTimeout(loop, 0);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
    sealNow: () => sealAll(pool),
  };
}

/** Seals until nothing is pending; returns how many events it sealed. */
export async function sealAll(pool: pg.Pool): Promise<number> {
  let total = 0;
  while (true) {
    const { rows } = await pool.query<{ sealed: number }>("select herald_audit_seal($1) as sealed", [BATCH]);
    const sealed = rows[0]?.sealed ?? 0;
    total += sealed;
    if (sealed < BATCH) return total;
  }
}
