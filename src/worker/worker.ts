/**
 * The worker role: graphile-worker running Herald's tasks on the application-role pool, plus this
 * process's heartbeat. Any number of worker processes may run; PostgreSQL hands each job to one.
 */
import type { EventEmitter } from "node:events";
import { type Runner, run, type TaskList } from "graphile-worker";
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

/** Waits before starting a runner that stopped on its own again: 1 s, doubling up to 30 s. */
const RESTART_DELAYS_MS = { first: 1000, max: 30_000 };

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
  /** graphile-worker's event emitter (tests watch the runner's worker pool through it). */
  events?: EventEmitter;
}): Promise<WorkerHandle> {
  const { pool, concurrency, version, log } = options;
  // The heartbeat first: publish attempts record this worker's id, so that the sweeper can tell
  // when the worker that holds a claim is gone.
  const heartbeat = await startHeartbeat(pool, version, log);
  const taskDeps = { pool, log, vault: options.vault, registry: options.registry, config: options.config };
  const taskList = options.tasks ?? createTaskList({ ...taskDeps, workerId: heartbeat.workerId });

  let runner: Runner | undefined;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;

  const startRunner = async () => {
    const started = await run({
      pgPool: pool,
      concurrency,
      noHandleSignals: true,
      pollInterval: options.config.workerPollMs,
      preset: graphilePreset(concurrency),
      taskList,
      crontab: options.crontab ?? CRONTAB,
      logger: graphileLogger(log),
      ...(options.events ? { events: options.events as Runner["events"] } : {}),
    });
    runner = started;
    // A worker that starts sweeps at once rather than at the next minute: after a crash (or an
    // outage), what was left is resumed as soon as it can be.
    if (!options.tasks) await started.addJob("publish_sweep", {}, { jobKey: "publish_sweep_tick" });
    // graphile-worker's runner stops by itself when its worker pool gives up, for instance when
    // PostgreSQL shuts down under it. The process would go on heartbeating while running no jobs,
    // alive to every check and publishing nothing; so a runner that stops without stop() is
    // started again, after a pause, for as long as it takes the database to come back.
    started.promise.then(
      () => runnerStopped(started, undefined),
      (error: unknown) => runnerStopped(started, error),
    );
  };

  const runnerStopped = (stopped: Runner, error: unknown) => {
    if (stopping || runner !== stopped) return;
    runner = undefined;
    log.error({ err: error }, "the job runner stopped on its own; starting it again");
    scheduleRestart(RESTART_DELAYS_MS.first);
  };

  const scheduleRestart = (delayMs: number) => {
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      restarting = startRunner().then(
        () => {
          metrics.runnerRestarted();
          log.info({ workerId: heartbeat.workerId }, "job runner started again");
        },
        (error: unknown) => {
          const next = Math.min(delayMs * 2, RESTART_DELAYS_MS.max);
          log.warn({ err: error, retryInMs: next }, "the job runner could not start again; retrying");
          if (!stopping) scheduleRestart(next);
        },
      );
    }, delayMs);
  };

  await startRunner();
  const sealer = startSealer(pool, log);
  const unwatchQueue = metrics.watchQueue(pool);
  log.info({ workerId: heartbeat.workerId, concurrency }, "worker started");
  return {
    workerId: heartbeat.workerId,
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      await restarting;
      // Running jobs finish; no new ones start. (A runner that has just stopped on its own, before
      // runnerStopped heard of it, says so; nothing is left to stop then.)
      await runner?.stop().catch((error: unknown) => log.debug({ err: error }, "job runner already stopped"));
      unwatchQueue();
      await sealer.stop();
      await heartbeat.stop();
      log.info({ workerId: heartbeat.workerId }, "worker stopped");
    },
  };
}
