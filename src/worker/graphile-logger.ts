/** Routes graphile-worker's log lines into Herald's pino logger, keeping its scope as fields. */
import { Logger as GraphileLogger } from "graphile-worker";
import type { Logger } from "../observability/logger.js";

const LEVELS = { error: "error", warning: "warn", info: "info", debug: "debug" } as const;

export function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger((scope) => {
    const child = log.child({ component: "graphile-worker", ...scope });
    return (level, message, meta) => {
      child[LEVELS[level]](meta ?? {}, message);
    };
  });
}
