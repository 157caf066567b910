/**
 * Publishing one target: the `publish_target` job.
 *
 * 1. Claim (one transaction, committed before the platform is called): the target moves to
 *    `publishing` with a lease, and an attempt row is opened. Only a `scheduled`, due target, or a
 *    `publishing` one whose claim expired (its worker died), can be claimed; a cancelled or
 *    rescheduled target leaves the job nothing to do.
 * 2. Publish, with the account's tokens (one refresh and retry on an expired token). If an earlier
 *    attempt may have reached the platform (`uncertain`), the adapter's idempotency strategy
 *    decides: `native_key` sends again with the same key, `reconcile` looks the post up first,
 *    `none` stops at `unconfirmed`.
 * 3. Finish (one transaction, fenced by the attempt number so a worker that lost its claim writes
 *    nothing): published, a retry with backoff, failed, or unconfirmed; the attempt closed; the
 *    audit event and webhooks written with it.
 *
 * Claims and finishes are batched per workspace (batcher.ts): jobs that run together share one
 * claim transaction and one finish transaction, a handful of statements for the whole batch, so
 * that a burst of due targets costs little more than graphile-worker's own work per job. Each
 * target is still its own job, claimed, fenced and recorded on its own terms.
 *
 * A worker killed anywhere leaves either a `scheduled` target with its job, or a `publishing` one
 * with an open attempt, which the sweeper (sweeper.ts) hands to a new job when its lease expires
 * or its worker's heartbeat stops.
 */
import type pg from "pg";
import {
  ACCOUNT_CREDENTIAL_SQL,
  type AccountCredentialRow,
  AccountUnavailableError,
  withAccountTokens,
} from "../accounts/credentials.js";
import { type AuditContext, recordAudits, SYSTEM } from "../audit/audit.js";
import type { Config } from "../config.js";
import { retryWhileDatabaseAway, type Tx, withWorkspace } from "../db/tenant.js";
import { findMedia } from "../media/media.service.js";
import type { MediaStore } from "../media/media.store.js";
import type { Logger } from "../observability/logger.js";
import { metrics, type PublishAttemptOutcome } from "../observability/metrics.js";
import {
  type ProviderAdapter,
  ProviderError,
  type Published,
  type PublishMedia,
  type PublishRequest,
  platformName,
  TransportError,
} from "../providers/provider.js";
import type { Registry } from "../providers/registry.js";
import type { Vault } from "../vault/vault.js";
import { enqueueWebhookEvents } from "../webhooks/webhooks.service.js";
import { Batcher } from "./batcher.js";
import type { PublishLimits } from "./limits.js";
import { addJobs } from "./posts.repository.js";
import { effectiveContent, type PostContent, type TargetOverrides } from "./validation.js";

/**
 * A worker whose heartbeat (every 10 s) is older than this is gone: its claims may be resumed
 * before their lease ends. Three missed beats, so a busy but live worker is not taken for dead.
 */
export const WORKER_GONE_AFTER_SECONDS = 30;

export type DeliveryDeps = {
  pool: pg.Pool;
  log: Logger;
  vault: Vault;
  registry: Registry;
  config: Config;
  mediaStore: MediaStore;
  limits: PublishLimits;
  /** This process's heartbeat id, recorded on attempts so the sweeper can tell a dead worker. */
  workerId: string | null;
  /** Retry delays are drawn with this (tests make it fixed). */
  random?: () => number;
};

/** What a publish job did: nothing (`skipped`), or an attempt with this outcome. */
export type DeliveryOutcome = "skipped" | AttemptOutcome;

type AttemptOutcome = PublishAttemptOutcome;

type Claimed = {
  targetId: string;
  postId: string;
  clientId: string | null;
  accountId: string;
  platform: string;
  attempt: number;
  budgetUsed: number;
  firstAttemptAt: Date;
  /** How long after its due time this attempt started (as recorded on its attempt row). */
  latenessMs: number;
  uncertain: boolean;
  progress: Record<string, unknown>;
  credential: AccountCredentialRow | undefined;
  /** The id of the request that created the post: logs and audit events of its publishing carry it. */
  correlationId: string | null;
  request: Omit<PublishRequest, "tokens" | "checkpoint" | "log">;
};

/** How an attempt ended, before the retry policy turns it into the target's next state. */
type Result =
  | { kind: "published"; published: Published; already: boolean }
  | { kind: "unconfirmed"; message: string }
  | {
      kind: "error";
      transient: boolean;
      /** The request may have reached the platform. */
      ambiguous: boolean;
      code: string;
      message: string;
      httpStatus: number | null;
      platformCode: string | null;
      platformSubcode: string | null;
      retryAfterSeconds: number | null;
    };

/** This process's publisher: `publish(job)` runs one target's attempt, batched with its neighbours'. */
export function createPublisher(deps: DeliveryDeps) {
  const claims = new Batcher<string, Claimed | null>((workspaceId, targetIds) =>
    claimBatch(deps, workspaceId, targetIds),
  );
  const finishes = new Batcher<Finished, boolean>((workspaceId, finished) =>
    finishBatch(deps, workspaceId, finished),
  );
  return async (job: { workspaceId: string; targetId: string }): Promise<DeliveryOutcome> => {
    const log = deps.log.child({ workspaceId: job.workspaceId, targetId: job.targetId });
    const claimed = await claims.add(job.workspaceId, job.targetId);
    if (!claimed) {
      log.debug("publish job: nothing to do (cancelled, rescheduled, claimed or finished)");
      return "skipped";
    }
    const adapter = deps.registry.adapter(claimed.platform);
    const traced = claimed.correlationId
      ? log.child({ correlationId: claimed.correlationId, postId: claimed.postId })
      : log;
    const started = performance.now();
    const result = adapter
      ? await attempt(deps, job.workspaceId, claimed, adapter, traced)
      : errorResult(
          false,
          false,
          "HERALD_PLATFORM_UNAVAILABLE",
          `${platformName(claimed.platform)} is not configured on this Herald.`,
        );
    const latencyMs = Math.round(performance.now() - started);
    const finished = decide(deps, claimed, adapter, result, latencyMs);
    // The platform call is over: if the database is away, the finish is tried again for up to half a
    // lease. Given up, the attempt would wait for the sweeper and count as ambiguous, which on a
    // platform without an idempotency check means `unconfirmed` for a post that was published. The
    // finish is fenced by the attempt number, so a try after one that did commit writes nothing.
    const fenced = await retryWhileDatabaseAway(() => finishes.add(job.workspaceId, finished), {
      withinMs: (deps.config.publishing.leaseSeconds * 1000) / 2,
      onRetry: (error, retryInMs) =>
        traced.warn(
          { err: error, retryInMs },
          "could not record a publish attempt: the database is away; retrying",
        ),
    });
    if (!fenced) {
      // The sweeper gave the target to another attempt; that one decides (and its strategy copes
      // with whatever this one did).
      traced.warn(
        { attempt: claimed.attempt, outcome: finished.outcome },
        "publish attempt finished after losing its claim",
      );
    }
    metrics.publishAttempt({
      platform: claimed.platform,
      outcome: finished.outcome,
      code: finished.error?.code ?? (result.kind === "error" ? result.code : null),
      latencyMs,
      latenessMs: claimed.latenessMs,
    });
    traced.info(
      {
        attempt: claimed.attempt,
        outcome: finished.outcome,
        platform: claimed.platform,
        latencyMs,
        code: finished.error?.code,
        retryAt: finished.next,
      },
      "publish attempt",
    );
    return finished.outcome;
  };
}

type ClaimRow = {
  id: string;
  status: string;
  claimable: boolean;
  resumed: boolean;
  attempts: number;
  attempts_before_retry: number;
  uncertain: boolean;
  due: Date;
  post_id: string;
  client_id: string | null;
  account_id: string;
  platform: string;
  overrides: TargetOverrides;
  content: PostContent;
  progress: Record<string, unknown>;
  platform_account_id: string;
  metadata: Record<string, string>;
  request_id: string | null;
};

/**
 * Claims the targets that can be claimed, in one transaction: an answer per id, null for a target
 * with nothing to do (cancelled, rescheduled, claimed by a live worker, or finished).
 */
async function claimBatch(
  deps: DeliveryDeps,
  workspaceId: string,
  targetIds: string[],
): Promise<(Claimed | null)[]> {
  const { leaseSeconds } = deps.config.publishing;
  return withWorkspace(deps.pool, workspaceId, async (tx) => {
    // Locked in id order, so that two workers' overlapping batches cannot deadlock.
    const { rows: locked } = await tx.query<ClaimRow>({
      name: "herald_claim_lock",
      text: `select t.id, t.status, t.attempts, t.attempts_before_retry, t.uncertain, t.post_id, p.client_id, p.request_id,
              t.account_id, t.platform, t.overrides, p.content, t.progress, a.platform_account_id, a.metadata,
              coalesce(t.next_attempt_at, t.publish_at) as due,
              (t.status = 'scheduled' and t.publish_at <= now() + interval '1 second'
                 and (t.next_attempt_at is null or t.next_attempt_at <= now() + interval '1 second'))
              or (t.status = 'publishing' and (t.lease_until < now() or exists (
                    select 1 from publish_attempts a
                    where a.target_id = t.id and a.attempt = t.attempts and a.worker_id is not null
                      and a.started_at < now() - $2 * interval '1 second'
                      and not exists (select 1 from worker_heartbeats h where h.worker_id = a.worker_id
                                        and h.stopped_at is null and h.last_seen_at > now() - $2 * interval '1 second'))))
                as claimable,
              t.status = 'publishing' as resumed
       from post_targets t join posts p on p.id = t.post_id join social_accounts a on a.id = t.account_id
       where t.id = any($1::uuid[]) order by t.id for update of t`,
      values: [targetIds, WORKER_GONE_AFTER_SECONDS],
    });
    const rows = locked.filter((row) => row.claimable);
    if (rows.length === 0) return targetIds.map(() => null);
    const resumed = rows.filter((row) => row.resumed);
    if (resumed.length > 0) {
      // Only the sweeper hands a publishing target to a job, once its worker is gone: the attempt it
      // left open may have reached the platform.
      await tx.query(
        `update publish_attempts a set ended_at = now(), outcome = 'ambiguous',
           error_message = 'The worker stopped during this attempt; the platform may have received it.'
         from unnest($1::uuid[], $2::int[]) as r(target_id, attempt)
         where a.target_id = r.target_id and a.attempt = r.attempt and a.ended_at is null`,
        [resumed.map((row) => row.id), resumed.map((row) => row.attempts)],
      );
    }
    // The claims and their attempt rows in one statement; lateness is measured from the due time.
    const { rows: claims } = await tx.query<{ id: string; first_attempt_at: Date; lateness_ms: number }>({
      name: "herald_claim",
      text: `with input as (
         select * from unnest($1::uuid[], $2::int[], $3::bool[], $4::text[], $5::timestamptz[])
           as i(id, attempt, resumed, platform, due)
       ), claimed as (
         update post_targets t set status = 'publishing', lease_until = now() + $6 * interval '1 second',
           attempts = i.attempt, first_attempt_at = coalesce(t.first_attempt_at, now()), uncertain = t.uncertain or i.resumed,
           next_attempt_at = null, updated_at = now()
         from input i where t.id = i.id returning t.id, t.first_attempt_at
       ), attempt as (
         insert into publish_attempts (workspace_id, target_id, attempt, platform, worker_id, lateness_ms)
         select $7, i.id, i.attempt, i.platform, $8, greatest(0, round(extract(epoch from (now() - i.due)) * 1000))
         from input i
       )
       select c.id, c.first_attempt_at, greatest(0, round(extract(epoch from (now() - i.due)) * 1000))::float8 as lateness_ms
       from claimed c join input i on i.id = c.id`,
      values: [
        rows.map((row) => row.id),
        rows.map((row) => row.attempts + 1),
        rows.map((row) => row.resumed),
        rows.map((row) => row.platform),
        rows.map((row) => row.due),
        leaseSeconds,
        workspaceId,
        deps.workerId,
      ],
    });
    const { rows: credentials } = await tx.query<AccountCredentialRow & { account_id: string }>(
      `${ACCOUNT_CREDENTIAL_SQL.replace("select ", "select a.id as account_id, ")} where a.id = any($1::uuid[])`,
      [[...new Set(rows.map((row) => row.account_id))]],
    );
    const contents = new Map(rows.map((row) => [row.id, effectiveContent(row.content, row.overrides)]));
    const media = await findMedia(
      tx,
      deps.mediaStore,
      [...contents.values()].flatMap((content) => content.mediaIds),
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    const claimedById = new Map(
      claims.map((claim) => {
        const row = byId.get(claim.id) as ClaimRow;
        const content = contents.get(claim.id) as ReturnType<typeof effectiveContent>;
        const credential = credentials.find((c) => c.account_id === row.account_id);
        return [claim.id, claimedTarget(deps, row, claim, content, media, credential)] as const;
      }),
    );
    return targetIds.map((id) => claimedById.get(id) ?? null);
  });
}

function claimedTarget(
  deps: DeliveryDeps,
  row: ClaimRow,
  claim: { first_attempt_at: Date; lateness_ms: number },
  content: ReturnType<typeof effectiveContent>,
  media: Awaited<ReturnType<typeof findMedia>>,
  credential: AccountCredentialRow | undefined,
): Claimed {
  const imageTypes = deps.registry.adapter(row.platform)?.capabilities.media.image?.mimeTypes ?? [];
  const publishMedia: PublishMedia[] = content.mediaIds.flatMap((id) => {
    const item = media.get(id);
    if (!item) return [];
    // A platform that does not take this image's type gets its JPEG rendition.
    const url =
      item.kind === "image" && !imageTypes.includes(item.mimeType) && item.jpegUrl ? item.jpegUrl : item.url;
    return [
      {
        id: item.id,
        kind: item.kind,
        url,
        mimeType: url === item.url ? item.mimeType : "image/jpeg",
        sizeBytes: item.sizeBytes,
        width: item.width,
        height: item.height,
        durationMs: item.durationMs,
      },
    ];
  });
  const attemptNo = row.attempts + 1;
  return {
    targetId: row.id,
    postId: row.post_id,
    clientId: row.client_id,
    accountId: row.account_id,
    platform: row.platform,
    attempt: attemptNo,
    budgetUsed: attemptNo - row.attempts_before_retry,
    firstAttemptAt: claim.first_attempt_at,
    latenessMs: claim.lateness_ms,
    uncertain: row.uncertain || row.resumed,
    progress: row.progress,
    credential,
    correlationId: row.request_id,
    request: {
      account: { platformAccountId: row.platform_account_id, metadata: row.metadata },
      content: {
        text: content.text,
        media: publishMedia,
        link: content.link,
        firstComment: content.firstComment,
        format: content.format,
      },
      // Derived from the target: the same for every attempt, in every process.
      idempotencyKey: `herald-target-${row.id}`,
      progress: row.progress,
      since: claim.first_attempt_at,
    },
  };
}

class ClaimLostError extends Error {
  constructor() {
    super("This worker's claim on the target expired; another attempt owns it.");
    this.name = "ClaimLostError";
  }
}

async function attempt(
  deps: DeliveryDeps,
  workspaceId: string,
  claimed: Claimed,
  adapter: ProviderAdapter,
  log: Logger,
): Promise<Result> {
  const checkpoint = async (progress: Record<string, unknown>) => {
    const { rowCount } = await withWorkspace(deps.pool, workspaceId, (tx) =>
      tx.query(
        `update post_targets set progress = $2, lease_until = now() + $4 * interval '1 second', updated_at = now()
         where id = $1 and status = 'publishing' and attempts = $3`,
        [claimed.targetId, progress, claimed.attempt, deps.config.publishing.leaseSeconds],
      ),
    );
    if (rowCount === 0) throw new ClaimLostError();
  };
  const release = await deps.limits.acquire(claimed.platform, claimed.accountId);
  try {
    return await withAccountTokens(
      deps.pool,
      deps,
      workspaceId,
      claimed.accountId,
      async (tokens): Promise<Result> => {
        const request: PublishRequest = { ...claimed.request, tokens, checkpoint, log };
        if (claimed.uncertain && adapter.idempotency === "reconcile" && adapter.findPublished) {
          const found = await adapter.findPublished(request);
          if (found) return { kind: "published", published: found, already: true };
          // Settled: the platform has no such post, so publishing is safe again.
          await withWorkspace(deps.pool, workspaceId, (tx) =>
            tx.query("update post_targets set uncertain = false where id = $1", [claimed.targetId]),
          );
          claimed.uncertain = false;
        } else if (claimed.uncertain && adapter.idempotency === "none") {
          return {
            kind: "unconfirmed",
            message: `${platformName(claimed.platform)} offers no way to check whether an earlier attempt was published; check the account before retrying.`,
          };
        }
        const published = await adapter.publish(request);
        return { kind: "published", published, already: false };
      },
      SYSTEM,
      claimed.credential,
    );
  } catch (error) {
    return classify(error, claimed.platform, log);
  } finally {
    release();
  }
}

function errorResult(transient: boolean, ambiguous: boolean, code: string, message: string): Result {
  return {
    kind: "error",
    transient,
    ambiguous,
    code,
    message,
    httpStatus: null,
    platformCode: null,
    platformSubcode: null,
    retryAfterSeconds: null,
  };
}

function classify(error: unknown, platform: string, log: Logger): Result {
  if (error instanceof TransportError)
    return errorResult(true, error.sent, "HERALD_PLATFORM_UNREACHABLE", error.message);
  if (error instanceof AccountUnavailableError)
    return errorResult(
      false,
      false,
      "HERALD_ACCOUNT_UNAVAILABLE",
      `${error.message} Reconnect the account, then retry.`,
    );
  if (error instanceof ProviderError) {
    // An answer Herald cannot read, or a 5xx other than 503, may come after the platform acted.
    // A 503 conventionally means the request was not processed; a 500, a 502 or a 504 may not.
    const ambiguous = error.kind === "unexpected" || (error.kind === "unavailable" && error.status !== 503);
    return {
      kind: "error",
      transient: error.retryable || error.kind === "unexpected",
      ambiguous,
      code: `${platform.toUpperCase()}_${(error.platformCode ?? error.kind).toUpperCase()}`.slice(0, 100),
      message: error.message,
      httpStatus: error.status,
      platformCode: error.platformCode,
      platformSubcode: error.platformSubcode,
      retryAfterSeconds: error.retryAfterSeconds,
    };
  }
  if (error instanceof ClaimLostError) return errorResult(true, true, "HERALD_CLAIM_LOST", error.message);
  // A bug or a database failure in the middle of the flow: it may have happened after sending.
  log.error({ err: error }, "publish attempt failed unexpectedly");
  return errorResult(true, true, "HERALD_INTERNAL", "Herald failed during this attempt; it will be retried.");
}

/** Seconds to wait before attempt n+1: exponential from 1 s, capped at 5 minutes, with jitter. */
export function backoffSeconds(attempt: number, random: () => number): number {
  const base = Math.min(300, 2 ** (attempt - 1));
  return base / 2 + (base / 2) * random();
}

/** An attempt's outcome and the target's next state, ready to be written. */
type Finished = {
  claimed: Claimed;
  outcome: AttemptOutcome;
  status: "published" | "scheduled" | "failed" | "unconfirmed";
  next: Date | null;
  uncertain: boolean;
  published: Published | null;
  error: { code: string; message: string } | null;
  result: Result;
  latencyMs: number;
};

/** The retry policy: what an attempt's result makes of the target. */
function decide(
  deps: DeliveryDeps,
  claimed: Claimed,
  adapter: ProviderAdapter | undefined,
  result: Result,
  latencyMs: number,
): Finished {
  const { maxAttempts, maxRetryAgeSeconds } = deps.config.publishing;
  const random = deps.random ?? Math.random;
  let outcome: AttemptOutcome;
  let next: Date | null = null;
  let error: { code: string; message: string } | null = null;
  const uncertain = claimed.uncertain || (result.kind === "error" && result.ambiguous);
  if (result.kind === "published") outcome = result.already ? "already_published" : "published";
  else if (result.kind === "unconfirmed") {
    outcome = "unconfirmed";
    error = { code: "HERALD_UNCONFIRMED", message: result.message };
  } else {
    const ageSeconds = (Date.now() - claimed.firstAttemptAt.getTime()) / 1000;
    const blindRetry = result.ambiguous && adapter?.idempotency === "none";
    const canRetry =
      result.transient && !blindRetry && claimed.budgetUsed < maxAttempts && ageSeconds < maxRetryAgeSeconds;
    if (canRetry) {
      outcome = "retry";
      const delay = Math.max(result.retryAfterSeconds ?? 0, backoffSeconds(claimed.budgetUsed, random));
      next = new Date(Date.now() + delay * 1000);
    } else if (uncertain) {
      outcome = "unconfirmed";
      error = {
        code: result.code,
        message: `${result.message} An earlier attempt may have been published: check the account before retrying.`,
      };
    } else {
      outcome = "failed";
      error = {
        code: result.code,
        message: result.transient
          ? `${result.message} Gave up after ${claimed.budgetUsed} attempts.`
          : result.message,
      };
    }
  }
  const status =
    outcome === "published" || outcome === "already_published"
      ? "published"
      : outcome === "retry"
        ? "scheduled"
        : outcome;
  return {
    claimed,
    outcome,
    status,
    next,
    uncertain: status === "published" ? false : uncertain,
    published: result.kind === "published" ? result.published : null,
    error,
    result,
    latencyMs,
  };
}

/**
 * Writes a batch of finished attempts in one transaction: the targets (each fenced by its attempt
 * number, so a worker that lost its claim writes nothing) and their attempt rows in one statement,
 * then the retries' jobs, the audit events and the webhooks of final states. Answers, per item,
 * whether its claim still held.
 */
async function finishBatch(deps: DeliveryDeps, workspaceId: string, batch: Finished[]): Promise<boolean[]> {
  const rows = batch.map((f) => {
    const failure = f.result.kind === "error" ? f.result : null;
    return {
      target_id: f.claimed.targetId,
      attempt: f.claimed.attempt,
      status: f.status,
      next_attempt_at: f.next,
      uncertain: f.uncertain,
      platform_post_id: f.published?.platformPostId ?? null,
      platform_url: f.published?.url ?? null,
      error_code: f.error?.code ?? null,
      error_message: f.error?.message.slice(0, 2000) ?? null,
      outcome: failure?.ambiguous && f.outcome === "retry" ? "ambiguous" : f.outcome,
      latency_ms: f.latencyMs,
      http_status: failure?.httpStatus ?? null,
      platform_code: failure?.platformCode ?? null,
      platform_subcode: failure?.platformSubcode ?? null,
      attempt_message:
        (failure?.message ?? (f.result.kind === "unconfirmed" ? f.result.message : null))?.slice(0, 2000) ??
        null,
    };
  });
  return withWorkspace(deps.pool, workspaceId, async (tx) => {
    const { rows: fencedRows } = await tx.query<{ id: string }>({
      name: "herald_finish",
      text: `with input as (
         select * from jsonb_to_recordset($1::jsonb) as f(target_id uuid, attempt int, status text,
           next_attempt_at timestamptz, uncertain bool, platform_post_id text, platform_url text, error_code text,
           error_message text, outcome text, latency_ms int, http_status int, platform_code text,
           platform_subcode text, attempt_message text)
       ), attempt as (
         update publish_attempts a set ended_at = now(), outcome = f.outcome, latency_ms = f.latency_ms,
           http_status = f.http_status, platform_code = f.platform_code, platform_subcode = f.platform_subcode,
           error_message = f.attempt_message
         from input f where a.target_id = f.target_id and a.attempt = f.attempt
       )
       update post_targets t set status = f.status, lease_until = null, next_attempt_at = f.next_attempt_at,
         uncertain = f.uncertain, platform_post_id = coalesce(f.platform_post_id, t.platform_post_id),
         platform_url = coalesce(f.platform_url, t.platform_url),
         published_at = case when f.status = 'published' then now() end, error_code = f.error_code,
         error_message = f.error_message, updated_at = now()
       from input f
       where t.id = f.target_id and t.status = 'publishing' and t.attempts = f.attempt
       returning t.id`,
      values: [JSON.stringify(rows)],
    });
    const fenced = new Set(fencedRows.map((row) => row.id));
    const held = batch.filter((f) => fenced.has(f.claimed.targetId));
    const retries = held.filter((f) => f.outcome === "retry" && f.next);
    if (retries.length > 0)
      await addJobs(
        tx,
        workspaceId,
        retries.map((f) => f.claimed.targetId),
        retries.map((f) => f.next as Date),
      );
    await record(
      tx,
      workspaceId,
      held.filter((f) => f.outcome !== "retry"),
    );
    return batch.map((f) => fenced.has(f.claimed.targetId));
  });
}

/** The audit events and the webhooks of targets' final states, in the finishing transaction. */
async function record(tx: Tx, workspaceId: string, finals: Finished[]) {
  if (finals.length === 0) return;
  const events = finals.map(({ claimed, status, published, error }) => ({
    claimed,
    status,
    data: {
      postId: claimed.postId,
      targetId: claimed.targetId,
      accountId: claimed.accountId,
      platform: claimed.platform,
      attempts: claimed.attempt,
      ...(published ? { platformPostId: published.platformPostId, url: published.url } : {}),
      ...(error ? { error } : {}),
    },
  }));
  await recordAudits(
    tx,
    workspaceId,
    events.map(({ claimed, status, data }) => ({
      context: { ...SYSTEM, requestId: claimed.correlationId } satisfies AuditContext,
      event: {
        action:
          status === "published"
            ? "post_published"
            : status === "failed"
              ? "post_failed"
              : "post_unconfirmed",
        outcome: status === "published" ? "success" : "failure",
        target: { type: "post_target", id: claimed.targetId },
        clientId: claimed.clientId,
        accountId: claimed.accountId,
        details: data,
      },
    })),
  );
  await enqueueWebhookEvents(
    tx,
    workspaceId,
    events.map(({ status, data }) => ({
      type:
        status === "published" ? "post.published" : status === "failed" ? "post.failed" : "post.unconfirmed",
      data,
    })),
  );
}
