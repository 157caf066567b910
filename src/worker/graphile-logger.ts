/** Routes graphile-worker's log lines into Herald's pino logger, keeping its scope as fields. */
import { Logger as GraphileLogger } from "graphile-worker";
import type { Logger } from "../observability/logger.js";

const LEVELS = { error: "error", warning: "warn", info: "info", debug: "debug" } as const;

export function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger((scope) => {
    const child = log.child({ component: "graphile-worker", ...scope });
    return (level, message, meta) => {
      // One line per finished job, with the whole job, would double the log volume of publishing:
      // each task logs its own outcome (delivery.ts "publish attempt"). Kept at debug.
      // Herald's pool is smaller than its job concurrency on purpose: publish jobs share batched
      // transactions (src/publishing/batcher.ts) and hold no connection while a platform answers.
      const quiet =
        (level === "info" && message.startsWith("Completed task")) ||
        (level === "warning" && message.includes("smaller than concurrency"));
      child[quiet ? "debug" : LEVELS[level]](meta ?? {}, message);
    };
  });
}
