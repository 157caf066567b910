/**
 * The worker role: graphile-worker running Herald's tasks on the application-role pool, plus this
 * process's heartbeat. Any number of worker processes may run; PostgreSQL hands each job to one.
 */
import { run, type TaskList } from "graphile-worker";
import type pg from "pg";
import { startSealer } from "../audit/sealer.js";
import type { Config } from "../config.js";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
import type { Registry } from "../providers/registry.js";
import type { Vault } from "../vault/vault.js";
import { graphileLogger } from "./graphile-logger.js";
import { startHeartbeat } from "./heartbeat.js";
import { CRONTAB, createTaskList } from "./tasks.js";

export type WorkerHandle = { workerId: string; stop(): Promise<void> };

/**
 * Jobs are fetched a batch at a time and completions written together: fewer round trips per job
 * when many are due. A killed worker's fetched jobs stay locked (graphile-worker frees them after 4
 * hours); the publish sweeper re-queues the targets they were for after 30 s.
 */
export function graphilePreset(concurrency: number) {
  return { worker: { localQueue: { size: concurrency }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } };
}

export async function startWorker(options: {
  pool: pg.Pool;
  concurrency: number;
  version: string;
  log: Logger;
  vault: Vault;
  registry: Registry;
  config: Config;
  /** Replaces Herald's tasks and schedule (tests). */
  tasks?: TaskList;
  crontab?: string;
}): Promise<WorkerHandle> {
  const { pool, concurrency, version, log } = options;
  // The heartbeat first: publish attempts record this worker's id, so that the sweeper can tell
  // when the worker that holds a claim is gone.
  const heartbeat = await startHeartbeat(pool, version, log);
  const taskDeps = { pool, log, vault: options.vault, registry: options.registry, config: options.config };
  const runner = await run({
    pgPool: pool,
    concurrency,
    noHandleSignals: true,
    pollInterval: options.config.workerPollMs,
    preset: graphilePreset(concurrency),
    taskList: options.tasks ?? createTaskList({ ...taskDeps, workerId: heartbeat.workerId }),
    crontab: options.crontab ?? CRONTAB,
    logger: graphileLogger(log),
  });
  // A worker that starts sweeps at once rather than at the next minute: after a crash, what the
  // dead process left is resumed as soon as it can be.
  if (!options.tasks) await runner.addJob("publish_sweep", {}, { jobKey: "publish_sweep_tick" });
  const sealer = startSealer(pool, log);
  const unwatchQueue = metrics.watchQueue(pool);
  log.info({ workerId: heartbeat.workerId, concurrency }, "worker started");
  return {
    workerId: heartbeat.workerId,
    async stop() {
      // Running jobs finish; no new ones start.
      await runner.stop();
      unwatchQueue();
      await sealer.stop();
      await heartbeat.stop();
      log.info({ workerId: heartbeat.workerId }, "worker stopped");
    },
  };
}
