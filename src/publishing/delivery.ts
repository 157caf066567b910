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
import { type AuditContext, recordAudit, SYSTEM } from "../audit/audit.js";
import type { Config } from "../config.js";
import { withWorkspace } from "../db/tenant.js";
import { findMedia } from "../media/media.service.js";
import type { MediaStore } from "../media/media.store.js";
import type { Logger } from "../observability/logger.js";
import { metrics } from "../observability/metrics.js";
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
import { enqueueWebhookEvent } from "../webhooks/webhooks.service.js";
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

export type DeliveryOutcome =
  | "skipped"
  | "published"
  | "already_published"
  | "retry"
  | "failed"
  | "unconfirmed";

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

export async function publishTarget(
  deps: DeliveryDeps,
  job: { workspaceId: string; targetId: string },
): Promise<DeliveryOutcome> {
  const log = deps.log.child({ workspaceId: job.workspaceId, targetId: job.targetId });
  const claimed = await claim(deps, job.workspaceId, job.targetId);
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
  return finish(deps, job.workspaceId, claimed, adapter, result, latencyMs, traced);
}

async function claim(deps: DeliveryDeps, workspaceId: string, targetId: string): Promise<Claimed | null> {
  const { leaseSeconds } = deps.config.publishing;
  return withWorkspace(deps.pool, workspaceId, async (tx) => {
    const { rows } = await tx.query<{
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
    }>(
      `select t.status, t.attempts, t.attempts_before_retry, t.uncertain, t.post_id, p.client_id, p.request_id, t.account_id,
              t.platform, t.overrides, p.content, t.progress, a.platform_account_id, a.metadata,
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
       where t.id = $1 for update of t`,
      [targetId, WORKER_GONE_AFTER_SECONDS],
    );
    const row = rows[0];
    if (!row?.claimable) return null;
    if (row.resumed) {
      // Only the sweeper hands a publishing target to a job, once its worker is gone: the attempt it
      // left open may have reached the platform.
      await tx.query(
        `update publish_attempts set ended_at = now(), outcome = 'ambiguous',
           error_message = 'The worker stopped during this attempt; the platform may have received it.'
         where target_id = $1 and attempt = $2 and ended_at is null`,
        [targetId, row.attempts],
      );
    }
    const attemptNo = row.attempts + 1;
    // The claim and its attempt row in one statement, and the account's credential read in the
    // same round trip's transaction: publishing needs no other query before the platform call.
    const { rows: updated } = await tx.query<{ first_attempt_at: Date; lateness_ms: number }>(
      `with claimed as (
         update post_targets set status = 'publishing', lease_until = now() + $2 * interval '1 second',
           attempts = $3, first_attempt_at = coalesce(first_attempt_at, now()), uncertain = uncertain or $4,
           next_attempt_at = null, updated_at = now()
         where id = $1 returning first_attempt_at
       ), attempt as (
         insert into publish_attempts (workspace_id, target_id, attempt, platform, worker_id, lateness_ms)
         values ($5, $1, $3, $6, $7, greatest(0, round(extract(epoch from (now() - $8::timestamptz)) * 1000)))
       )
       select first_attempt_at,
         greatest(0, round(extract(epoch from (now() - $8::timestamptz)) * 1000))::float8 as lateness_ms
       from claimed`,
      [targetId, leaseSeconds, attemptNo, row.resumed, workspaceId, row.platform, deps.workerId, row.due],
    );
    const { rows: credentials } = await tx.query<AccountCredentialRow>(
      `${ACCOUNT_CREDENTIAL_SQL} where a.id = $1`,
      [row.account_id],
    );
    const content = effectiveContent(row.content, row.overrides);
    const media = await findMedia(tx, deps.mediaStore, content.mediaIds);
    const adapter = deps.registry.adapter(row.platform);
    const imageTypes = adapter?.capabilities.media.image?.mimeTypes ?? [];
    const publishMedia: PublishMedia[] = content.mediaIds.flatMap((id) => {
      const item = media.get(id);
      if (!item) return [];
      // A platform that does not take this image's type gets its JPEG rendition.
      const url =
        item.kind === "image" && !imageTypes.includes(item.mimeType) && item.jpegUrl
          ? item.jpegUrl
          : item.url;
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
    const { first_attempt_at: firstAttemptAt, lateness_ms: latenessMs } = updated[0] as {
      first_attempt_at: Date;
      lateness_ms: number;
    };
    return {
      targetId,
      postId: row.post_id,
      clientId: row.client_id,
      accountId: row.account_id,
      platform: row.platform,
      attempt: attemptNo,
      budgetUsed: attemptNo - row.attempts_before_retry,
      firstAttemptAt,
      latenessMs,
      uncertain: row.uncertain || row.resumed,
      progress: row.progress,
      credential: credentials[0],
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
        idempotencyKey: `herald-target-${targetId}`,
        progress: row.progress,
        since: firstAttemptAt,
      },
    };
  });
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

async function finish(
  deps: DeliveryDeps,
  workspaceId: string,
  claimed: Claimed,
  adapter: ProviderAdapter | undefined,
  result: Result,
  latencyMs: number,
  log: Logger,
): Promise<DeliveryOutcome> {
  const { maxAttempts, maxRetryAgeSeconds } = deps.config.publishing;
  const random = deps.random ?? Math.random;
  let outcome: DeliveryOutcome;
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

  const published = result.kind === "published" ? result.published : null;
  const status =
    outcome === "published" || outcome === "already_published"
      ? "published"
      : outcome === "retry"
        ? "scheduled"
        : outcome;
  await withWorkspace(deps.pool, workspaceId, async (tx) => {
    // The target (fenced by the attempt number) and its attempt row, in one statement.
    const failure = result.kind === "error" ? result : null;
    const fenced = await tx.query(
      `with attempt as (
         update publish_attempts set ended_at = now(), outcome = $10, latency_ms = $11, http_status = $12,
           platform_code = $13, platform_subcode = $14, error_message = $15
         where target_id = $1 and attempt = $2
       )
       update post_targets set status = $3, lease_until = null, next_attempt_at = $4, uncertain = $5,
         platform_post_id = coalesce($6, platform_post_id), platform_url = coalesce($7, platform_url),
         published_at = case when $3 = 'published' then now() end, error_code = $8, error_message = $9,
         updated_at = now()
       where id = $1 and status = 'publishing' and attempts = $2`,
      [
        claimed.targetId,
        claimed.attempt,
        status,
        next,
        status === "published" ? false : uncertain,
        published?.platformPostId ?? null,
        published?.url ?? null,
        error?.code ?? null,
        error?.message.slice(0, 2000) ?? null,
        failure?.ambiguous && outcome === "retry" ? "ambiguous" : outcome,
        latencyMs,
        failure?.httpStatus ?? null,
        failure?.platformCode ?? null,
        failure?.platformSubcode ?? null,
        (failure?.message ?? (result.kind === "unconfirmed" ? result.message : null))?.slice(0, 2000) ?? null,
      ],
    );
    if (fenced.rowCount === 0) {
      // The sweeper gave the target to another attempt; that one decides (and its strategy copes
      // with whatever this one did).
      log.warn({ attempt: claimed.attempt, outcome }, "publish attempt finished after losing its claim");
      return;
    }
    if (outcome === "retry" && next) await addJobs(tx, workspaceId, [claimed.targetId], next);
    else await record(tx, workspaceId, claimed, status, published, error);
  });
  metrics.publishAttempt({
    platform: claimed.platform,
    outcome,
    code: error?.code ?? (result.kind === "error" ? result.code : null),
    latencyMs,
    latenessMs: claimed.latenessMs,
  });
  log.info(
    {
      attempt: claimed.attempt,
      outcome,
      platform: claimed.platform,
      latencyMs,
      code: error?.code,
      retryAt: next,
    },
    "publish attempt",
  );
  return outcome;
}

/** The audit event and the webhooks of a target's final state, in the finishing transaction. */
async function record(
  tx: Parameters<Parameters<typeof withWorkspace>[2]>[0],
  workspaceId: string,
  claimed: Claimed,
  status: string,
  published: Published | null,
  error: { code: string; message: string } | null,
) {
  const data = {
    postId: claimed.postId,
    targetId: claimed.targetId,
    accountId: claimed.accountId,
    platform: claimed.platform,
    attempts: claimed.attempt,
    ...(published ? { platformPostId: published.platformPostId, url: published.url } : {}),
    ...(error ? { error } : {}),
  };
  const action =
    status === "published" ? "post_published" : status === "failed" ? "post_failed" : "post_unconfirmed";
  const context: AuditContext = { ...SYSTEM, requestId: claimed.correlationId };
  await recordAudit(tx, workspaceId, context, {
    action,
    outcome: status === "published" ? "success" : "failure",
    target: { type: "post_target", id: claimed.targetId },
    clientId: claimed.clientId,
    accountId: claimed.accountId,
    details: data,
  });
  const type =
    status === "published" ? "post.published" : status === "failed" ? "post.failed" : "post.unconfirmed";
  await enqueueWebhookEvent(tx, workspaceId, { type, data });
}
