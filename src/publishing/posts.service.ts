/**
 * Posts: create, validate, edit, schedule, approve, reject, cancel, retry, list, calendar.
 *
 * Every change runs in the request's transaction, with the targets' rows locked: a worker claims
 * a target only while it is `scheduled` and due (delivery.ts), so an edit, a reschedule or a
 * cancel either happens wholly before the claim (and the worker finds nothing to do) or is refused
 * with 409 because the target has started. Jobs are added and removed in the same transaction.
 */
import { createHash } from "node:crypto";
import { canSeeClient, type WorkspaceAccess } from "../access/workspace-access.js";
import { auditIn } from "../audit/audit.js";
import type { Config } from "../config.js";
import type { Tx } from "../db/tenant.js";
import { AppError, ConflictError, type FieldError, NotFoundError, ValidationError } from "../errors.js";
import { decodeCursor, encodeCursor } from "../http/pagination.js";
import { findMedia } from "../media/media.service.js";
import type { MediaStore } from "../media/media.store.js";
import { platformName } from "../providers/provider.js";
import type { Registry } from "../providers/registry.js";
import * as repo from "./posts.repository.js";
import type { Post, PostCreate, PostStatus, PostUpdate } from "./posts.schemas.js";
import { type PostContent, type TargetOverrides, textLength, validateTarget } from "./validation.js";

export type PostDeps = { registry: Registry; mediaStore: MediaStore; config: Config };

/** 422: the post cannot be published as it is; every problem is listed. */
export class PostInvalidError extends AppError {
  constructor(errors: FieldError[]) {
    super(
      422,
      "HERALD_POST_INVALID",
      "The post cannot be published as it is",
      `${errors.length} problem${errors.length === 1 ? "" : "s"} to fix before this post can be published.`,
      { errors },
    );
  }
}

const STARTED = new Set(["publishing", "published", "failed", "unconfirmed"]);

type TargetInput = { accountId: string; overrides?: TargetOverrides | undefined };
type Draft = { clientId: string | null; content: PostContent; targets: TargetInput[] };

/** Checks a post's targets: accounts, links to the client, and each platform's rules. */
async function check(tx: Tx, access: WorkspaceAccess, deps: PostDeps, draft: Draft, strict: boolean) {
  const problems: FieldError[] = [];
  const accounts = await repo.findAccounts(
    tx,
    draft.targets.map((t) => t.accountId),
  );
  const mediaIds = new Set([
    ...(draft.content.mediaIds ?? []),
    ...draft.targets.flatMap((t) => t.overrides?.mediaIds ?? []),
  ]);
  const media = await findMedia(tx, deps.mediaStore, [...mediaIds]);
  if (draft.clientId !== null && !canSeeClient(access, draft.clientId)) throw new NotFoundError();
  if (draft.clientId === null && access.clientIds !== null)
    problems.push({
      path: "body.clientId",
      rule: "required",
      message: "is required: you work with some clients only, so each post names one of them",
    });

  const seen = new Set<string>();
  const results = draft.targets.map((target, index) => {
    const path = `body.targets.${index}`;
    const account = accounts.get(target.accountId);
    const before = problems.length;
    const adapter = account ? deps.registry.adapter(account.platform) : undefined;
    if (seen.has(target.accountId))
      problems.push({ path: `${path}.accountId`, rule: "duplicate", message: "names an account twice" });
    seen.add(target.accountId);
    if (!account) {
      problems.push({
        path: `${path}.accountId`,
        rule: "not_found",
        message: `account ${target.accountId} does not exist in this workspace`,
      });
    } else {
      const label = `${platformName(account.platform)} account “${account.name}”`;
      if (account.status === "disconnected" || account.status === "needs_reconnection")
        problems.push({
          path: `${path}.accountId`,
          rule: "account_unavailable",
          message: `${label} is ${account.status === "disconnected" ? "disconnected" : "waiting to be reconnected"}; reconnect it first`,
        });
      if (draft.clientId !== null && !account.client_ids.includes(draft.clientId))
        problems.push({
          path: `${path}.accountId`,
          rule: "account_not_linked",
          message: `${label} is not linked to this post's client`,
        });
      if (!adapter)
        problems.push({
          path: `${path}.accountId`,
          rule: "platform_unavailable",
          message: `${platformName(account.platform)} is not configured on this Herald`,
        });
      else if (strict)
        problems.push(
          ...validateTarget(
            {
              path,
              label,
              platform: account.platform,
              capabilities: adapter.capabilities,
              content: draft.content,
              overrides: target.overrides ?? {},
            },
            media,
          ),
        );
    }
    const text = target.overrides?.text ?? draft.content.text ?? "";
    return {
      accountId: target.accountId,
      platform: account?.platform ?? null,
      valid: problems.length === before,
      text: { length: textLength(text), maxLength: adapter?.capabilities.text.maxLength ?? null },
    };
  });
  return { problems, results, accounts };
}

export async function validatePost(tx: Tx, access: WorkspaceAccess, deps: PostDeps, body: PostCreate) {
  const { problems, results } = await check(tx, access, deps, draftOf(body), true);
  const errors = [...problems, ...(await timing(tx, deps, body)).errors];
  return { valid: errors.length === 0, errors, targets: results };
}

const draftOf = (body: {
  clientId?: string | undefined;
  content: PostContent;
  targets: TargetInput[];
}): Draft => ({
  clientId: body.clientId ?? null,
  content: body.content,
  targets: body.targets,
});

/** When the targets are due: a time in the past within the grace period means now. */
async function dueTime(
  tx: Tx,
  deps: PostDeps,
  body: { publishAt?: string | undefined; publishNow?: true | undefined },
) {
  const { rows } = await tx.query<{ now: Date }>("select now()");
  const now = (rows[0] as { now: Date }).now;
  if (body.publishNow) return now;
  if (body.publishAt === undefined) return null;
  const at = new Date(body.publishAt);
  const graceMs = deps.config.publishing.graceSeconds * 1000;
  if (at.getTime() < now.getTime() - graceMs)
    throw new PostInvalidError([
      {
        path: "body.publishAt",
        rule: "in_the_past",
        message: `is in the past (${at.toISOString()}); the database clock says ${now.toISOString()}`,
      },
    ]);
  return at < now ? now : at;
}

/** dueTime, with its problem returned beside the other problems rather than thrown alone. */
async function timing(
  tx: Tx,
  deps: PostDeps,
  body: { publishAt?: string | undefined; publishNow?: true | undefined },
): Promise<{ at: Date | null; errors: FieldError[] }> {
  try {
    return { at: await dueTime(tx, deps, body), errors: [] };
  } catch (error) {
    if (error instanceof PostInvalidError) return { at: null, errors: error.errors ?? [] };
    throw error;
  }
}

async function requiresApproval(tx: Tx, clientId: string | null): Promise<boolean> {
  if (clientId === null) return false;
  const { rows } = await tx.query<{ requires_approval: boolean }>(
    "select requires_approval from clients where id = $1",
    [clientId],
  );
  const row = rows[0];
  if (!row)
    throw new PostInvalidError([
      { path: "body.clientId", rule: "not_found", message: "is not a client of this workspace" },
    ]);
  return row.requires_approval;
}

export async function createPost(
  tx: Tx,
  access: WorkspaceAccess,
  deps: PostDeps,
  body: PostCreate,
): Promise<Post> {
  const draft = draftOf(body);
  const isDraft = body.draft === true;
  const { problems, accounts } = await check(tx, access, deps, draft, !isDraft);
  const when = await timing(tx, deps, body);
  if (problems.length + when.errors.length > 0) throw new PostInvalidError([...problems, ...when.errors]);
  const publishAt = when.at;
  const approval = !isDraft && (await requiresApproval(tx, draft.clientId));
  const { principal } = access;
  const postId = await repo.insertPost(tx, access.workspaceId, {
    clientId: draft.clientId,
    content: body.content,
    publishAt,
    approval: approval ? "pending" : "none",
    createdBy: principal.kind === "user" ? principal.userId : null,
    createdByKey: principal.kind === "api_key" ? principal.keyId : null,
    requestId: access.audit.requestId,
  });
  await repo.upsertTargets(
    tx,
    access.workspaceId,
    postId,
    body.targets.map((t) => ({
      accountId: t.accountId,
      platform: accounts.get(t.accountId)?.platform ?? "",
      overrides: t.overrides ?? {},
    })),
  );
  const targets = await repo.findTargetRows(tx, [postId]);
  const state = isDraft ? "draft" : approval ? "pending_approval" : "scheduled";
  await repo.setTargetsWaiting(
    tx,
    access.workspaceId,
    targets.map((t) => t.id),
    state,
    publishAt,
  );
  const details = {
    state,
    publishAt: publishAt?.toISOString() ?? null,
    accounts: body.targets.map((t) => t.accountId),
  };
  await auditIn(tx, access, {
    action: "post_created",
    target: { type: "post", id: postId },
    clientId: draft.clientId,
    details,
  });
  if (state === "scheduled")
    await auditIn(tx, access, {
      action: "post_scheduled",
      target: { type: "post", id: postId },
      clientId: draft.clientId,
      details,
    });
  return getPost(tx, access, postId);
}

export async function getPost(
  tx: Tx,
  access: WorkspaceAccess,
  postId: string,
  withAttempts = false,
): Promise<Post> {
  const [post] = await loadPosts(tx, access, [postId], withAttempts);
  if (!post) throw new NotFoundError();
  return post;
}

async function loadPosts(
  tx: Tx,
  access: WorkspaceAccess,
  ids: string[],
  withAttempts = false,
): Promise<Post[]> {
  const rows = (await repo.findPostRows(tx, ids)).filter(
    (row) =>
      access.clientIds === null || (row.client_id !== null && access.clientIds.includes(row.client_id)),
  );
  const targets = await repo.findTargetRows(
    tx,
    rows.map((row) => row.id),
  );
  const attempts = withAttempts
    ? await repo.findAttempts(
        tx,
        targets.map((t) => t.id),
      )
    : [];
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.flatMap((id) => {
    const row = byId.get(id);
    if (!row) return [];
    const mine = targets.filter((t) => t.post_id === id);
    return [
      repo.toPost(
        row,
        mine.map((t) =>
          repo.toTarget(t, withAttempts ? attempts.filter((a) => a.target_id === t.id) : undefined),
        ),
      ),
    ];
  });
}

/** The post and its targets, locked for a change; 404 when the caller cannot see it. */
async function lockPost(tx: Tx, access: WorkspaceAccess, postId: string) {
  const [row] = await repo.findPostRows(tx, [postId], true);
  if (
    !row ||
    (access.clientIds !== null && (row.client_id === null || !access.clientIds.includes(row.client_id)))
  )
    throw new NotFoundError();
  const targets = await repo.findTargetRows(tx, [postId], true);
  return { row, targets };
}

function refuseStarted(targets: repo.TargetRow[], what: string) {
  const started = targets.filter((t) => STARTED.has(t.status));
  if (started.length > 0)
    throw new ConflictError(
      "HERALD_POST_STARTED",
      `This post can no longer be ${what}: ${started.length} of its targets started publishing.`,
      started.map((t) => ({
        path: `targets.${t.id}`,
        rule: t.status,
        message: `the ${platformName(t.platform)} target is ${t.status}`,
      })),
    );
}

export async function updatePost(
  tx: Tx,
  access: WorkspaceAccess,
  deps: PostDeps,
  postId: string,
  body: PostUpdate,
): Promise<Post> {
  const { row, targets } = await lockPost(tx, access, postId);
  refuseStarted(targets, "edited");
  const live = targets.filter((t) => t.status !== "cancelled");
  if (live.length === 0)
    throw new ConflictError("HERALD_POST_CANCELLED", "This post was cancelled; create a new one instead.");
  const wasDraft = live.every((t) => t.status === "draft");
  const isDraft = body.draft ?? (wasDraft && body.publishAt === undefined && !body.publishNow);
  const nextTargets: TargetInput[] =
    body.targets ?? live.map((t) => ({ accountId: t.account_id, overrides: t.overrides }));
  const draft: Draft = {
    clientId: row.client_id,
    content: body.content ?? row.content,
    targets: nextTargets,
  };
  const { problems, accounts } = await check(tx, access, deps, draft, !isDraft);
  const when =
    body.publishAt !== undefined || body.publishNow
      ? await timing(tx, deps, body)
      : row.publish_at === null
        ? { at: null, errors: [] }
        : await timing(tx, deps, { publishAt: row.publish_at.toISOString() });
  if (problems.length + when.errors.length > 0) throw new PostInvalidError([...problems, ...when.errors]);
  const publishAt = when.at;
  if (!isDraft && publishAt === null)
    throw new PostInvalidError([
      {
        path: "body.publishAt",
        rule: "required",
        message: "is required to schedule a draft (or send publishNow)",
      },
    ]);
  // Any change to a post that needs approval sends it back for approval.
  const approval = !isDraft && (await requiresApproval(tx, row.client_id));
  await tx.query(
    `update posts set content = $2, publish_at = $3, approval = $4, approved_by = null, approved_at = null,
       version = version + 1, updated_at = now()
     where id = $1`,
    [postId, draft.content, publishAt, approval ? "pending" : "none"],
  );
  const keep = new Set(nextTargets.map((t) => t.accountId));
  await repo.deleteTargets(
    tx,
    targets.filter((t) => !keep.has(t.account_id)).map((t) => t.id),
  );
  await repo.upsertTargets(
    tx,
    access.workspaceId,
    postId,
    nextTargets.map((t) => ({
      accountId: t.accountId,
      platform: accounts.get(t.accountId)?.platform ?? "",
      overrides: t.overrides ?? {},
    })),
  );
  const state = isDraft ? "draft" : approval ? "pending_approval" : "scheduled";
  const current = await repo.findTargetRows(tx, [postId]);
  await repo.setTargetsWaiting(
    tx,
    access.workspaceId,
    current.map((t) => t.id),
    state,
    publishAt,
  );
  await auditIn(tx, access, {
    action: "post_updated",
    target: { type: "post", id: postId },
    clientId: row.client_id,
    details: {
      state,
      changed: Object.keys(body),
      publishAt: publishAt?.toISOString() ?? null,
      previousPublishAt: row.publish_at?.toISOString() ?? null,
    },
  });
  if (state === "scheduled")
    await auditIn(tx, access, {
      action: "post_scheduled",
      target: { type: "post", id: postId },
      clientId: row.client_id,
      details: { publishAt: publishAt?.toISOString() ?? null },
    });
  return getPost(tx, access, postId);
}

export async function cancelPost(tx: Tx, access: WorkspaceAccess, postId: string): Promise<Post> {
  const { row, targets } = await lockPost(tx, access, postId);
  if (targets.some((t) => t.status === "publishing")) refuseStarted(targets, "cancelled");
  const waiting = targets.filter((t) => ["draft", "pending_approval", "scheduled"].includes(t.status));
  if (waiting.length === 0)
    throw new ConflictError(
      "HERALD_POST_FINISHED",
      "Nothing left to cancel: every target has finished or was cancelled.",
    );
  await repo.setTargetsWaiting(
    tx,
    access.workspaceId,
    waiting.map((t) => t.id),
    "cancelled",
    row.publish_at,
  );
  await auditIn(tx, access, {
    action: "post_cancelled",
    target: { type: "post", id: postId },
    clientId: row.client_id,
    details: { targets: waiting.map((t) => ({ id: t.id, platform: t.platform, was: t.status })) },
  });
  return getPost(tx, access, postId);
}

export async function approvePost(tx: Tx, access: WorkspaceAccess, postId: string): Promise<Post> {
  const { row, targets } = await lockPost(tx, access, postId);
  if (row.approval !== "pending")
    throw new ConflictError(
      "HERALD_POST_NOT_PENDING",
      `This post is not waiting for approval (${row.approval}).`,
    );
  const { rows } = await tx.query<{ now: Date }>("select now()");
  const now = (rows[0] as { now: Date }).now;
  // Approved after its time: it goes out now rather than never.
  const publishAt = row.publish_at === null || row.publish_at < now ? now : row.publish_at;
  await tx.query(
    `update posts set approval = 'approved', approved_by = $2, approved_at = now(), publish_at = $3, updated_at = now()
     where id = $1`,
    [postId, access.principal.kind === "user" ? access.principal.userId : null, publishAt],
  );
  const pending = targets.filter((t) => t.status === "pending_approval").map((t) => t.id);
  await repo.setTargetsWaiting(tx, access.workspaceId, pending, "scheduled", publishAt);
  await auditIn(tx, access, {
    action: "post_approved",
    target: { type: "post", id: postId },
    clientId: row.client_id,
    details: { version: row.version, publishAt: publishAt.toISOString() },
  });
  await auditIn(tx, access, {
    action: "post_scheduled",
    target: { type: "post", id: postId },
    clientId: row.client_id,
    details: { publishAt: publishAt.toISOString() },
  });
  return getPost(tx, access, postId);
}

export async function rejectPost(
  tx: Tx,
  access: WorkspaceAccess,
  postId: string,
  reason: string,
): Promise<Post> {
  const { row, targets } = await lockPost(tx, access, postId);
  if (row.approval !== "pending")
    throw new ConflictError(
      "HERALD_POST_NOT_PENDING",
      `This post is not waiting for approval (${row.approval}).`,
    );
  await tx.query(
    `update posts set approval = 'rejected', rejected_by = $2, rejected_at = now(), rejection_reason = $3,
       updated_at = now() where id = $1`,
    [postId, access.principal.kind === "user" ? access.principal.userId : null, reason],
  );
  const pending = targets.filter((t) => t.status === "pending_approval").map((t) => t.id);
  await repo.setTargetsWaiting(tx, access.workspaceId, pending, "draft", row.publish_at);
  await auditIn(tx, access, {
    action: "post_rejected",
    target: { type: "post", id: postId },
    clientId: row.client_id,
    details: { version: row.version, reason },
  });
  return getPost(tx, access, postId);
}

/** Failed targets go back in the queue, due now, with a fresh retry budget. */
export async function retryPost(tx: Tx, access: WorkspaceAccess, postId: string): Promise<Post> {
  const { row, targets } = await lockPost(tx, access, postId);
  const failed = targets.filter((t) => t.status === "failed");
  if (failed.length === 0)
    throw new ConflictError("HERALD_NOTHING_TO_RETRY", "No target of this post has failed.");
  const ids = failed.map((t) => t.id);
  await tx.query(
    `update post_targets set attempts_before_retry = attempts, first_attempt_at = null, progress = '{}'
     where id = any($1::uuid[])`,
    [ids],
  );
  const { rows } = await tx.query<{ now: Date }>("select now()");
  await repo.setTargetsWaiting(tx, access.workspaceId, ids, "scheduled", (rows[0] as { now: Date }).now);
  await auditIn(tx, access, {
    action: "post_retried",
    target: { type: "post", id: postId },
    clientId: row.client_id,
    details: { targets: failed.map((t) => ({ id: t.id, platform: t.platform, error: t.error_code })) },
  });
  return getPost(tx, access, postId);
}

export async function listPosts(
  tx: Tx,
  access: WorkspaceAccess,
  query: {
    limit: number;
    cursor?: string | undefined;
    status?: PostStatus | undefined;
    clientId?: string | undefined;
    accountId?: string | undefined;
    from?: string | undefined;
    to?: string | undefined;
  },
) {
  const after = decodeCursor("posts", query.cursor, 2);
  const rows = await repo.listPostIds(
    tx,
    {
      clientIds: access.clientIds,
      status: query.status,
      clientId: query.clientId,
      accountId: query.accountId,
      from: query.from,
      to: query.to,
    },
    after,
    query.limit + 1,
  );
  const visible = rows.slice(0, query.limit);
  const items = await loadPosts(
    tx,
    access,
    visible.map((r) => r.id),
  );
  const last = visible.at(-1);
  return {
    items,
    nextCursor: rows.length > query.limit && last ? encodeCursor("posts", [last.sort, last.id]) : null,
  };
}

/** The posts due in [from, to): at most 2,000, a calendar's worth. */
export async function calendar(
  tx: Tx,
  access: WorkspaceAccess,
  query: { from: string; to: string; clientId?: string | undefined },
) {
  if (new Date(query.to) <= new Date(query.from))
    throw new ValidationError("The range is empty.", [
      { path: "query.to", message: "must be after from", rule: "range" },
    ]);
  const rows = await repo.listPostIds(
    tx,
    { clientIds: access.clientIds, clientId: query.clientId, from: query.from, to: query.to },
    undefined,
    2000,
  );
  return {
    items: await loadPosts(
      tx,
      access,
      rows.map((r) => r.id),
    ),
  };
}

export async function nextSlot(tx: Tx, access: WorkspaceAccess, clientId: string, after: string | undefined) {
  if (!canSeeClient(access, clientId)) throw new NotFoundError();
  const { rows } = await tx.query<{ timezone: string; n: number }>(
    "select timezone, jsonb_array_length(posting_times) as n from clients where id = $1",
    [clientId],
  );
  const client = rows[0];
  if (!client) throw new NotFoundError();
  const slot = await repo.nextFreeSlot(tx, clientId, after ? new Date(after) : new Date());
  return { clientId, timezone: client.timezone, slot: slot?.toISOString() ?? null, postingTimes: client.n };
}

/** The hash an Idempotency-Key is bound to: the request body, canonically serialised. */
export function requestHash(body: unknown): Buffer {
  return createHash("sha256").update(canonical(body)).digest();
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

/**
 * Runs `create` once per (caller, Idempotency-Key): a repeat with the same body gets the first
 * response again; with another body, 422. Two requests racing with one key serialise on the key's
 * row: the second waits for the first to commit, then answers its response.
 */
export async function idempotent(
  tx: Tx,
  access: WorkspaceAccess,
  key: string,
  body: unknown,
  create: () => Promise<Post>,
): Promise<{ status: number; post: Post; replayed: boolean }> {
  const principalId = access.principal.kind === "user" ? access.principal.userId : access.principal.keyId;
  const hash = requestHash(body);
  const inserted = await tx.query(
    `insert into post_requests (workspace_id, principal_id, key, request_hash) values ($1, $2, $3, $4)
     on conflict do nothing returning key`,
    [access.workspaceId, principalId, key, hash],
  );
  if (inserted.rowCount === 0) {
    const { rows } = await tx.query<{
      request_hash: Buffer;
      response: Post | null;
      response_status: number | null;
    }>(
      "select request_hash, response, response_status from post_requests where principal_id = $1 and key = $2",
      [principalId, key],
    );
    const previous = rows[0];
    if (!previous?.request_hash.equals(hash))
      throw new AppError(
        422,
        "HERALD_IDEMPOTENCY_KEY_REUSED",
        "Idempotency-Key reused",
        "This Idempotency-Key was already used with a different request body.",
      );
    if (previous.response === null)
      throw new ConflictError(
        "HERALD_IDEMPOTENCY_IN_PROGRESS",
        "The first request with this key has not finished.",
      );
    // The first response, as it was sent: the post may have moved on since (GET it for now).
    return { status: previous.response_status ?? 201, post: previous.response, replayed: true };
  }
  const post = await create();
  await tx.query(
    "update post_requests set post_id = $3, response_status = 201, response = $4 where principal_id = $1 and key = $2",
    [principalId, key, post.id, JSON.stringify(post)],
  );
  return { status: 201, post, replayed: false };
}
