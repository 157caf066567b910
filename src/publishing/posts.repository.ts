/**
 * SQL for posts, targets and their jobs. No business rules: the service decides, this writes.
 *
 * A target's job is graphile-worker's `publish_target` with the key `publish:<target id>`, added or
 * removed in the caller's transaction: a rolled-back change leaves no job, a committed one always
 * has its job (or has none, when cancelled).
 */
import type { Tx } from "../db/tenant.js";
import type { Post, PostStatus, Target, TargetStatus } from "./posts.schemas.js";
import type { PostContent, TargetOverrides } from "./validation.js";

export type PostRow = {
  id: string;
  client_id: string | null;
  content: PostContent;
  publish_at: Date | null;
  approval: "none" | "pending" | "approved" | "rejected";
  approved_by: string | null;
  approved_at: Date | null;
  rejected_by: string | null;
  rejected_at: Date | null;
  rejection_reason: string | null;
  created_by: string | null;
  version: number;
  created_at: Date;
  updated_at: Date;
};

export type TargetRow = {
  id: string;
  post_id: string;
  account_id: string;
  platform: string;
  overrides: TargetOverrides;
  status: TargetStatus;
  publish_at: Date | null;
  attempts: number;
  next_attempt_at: Date | null;
  platform_post_id: string | null;
  platform_url: string | null;
  published_at: Date | null;
  error_code: string | null;
  error_message: string | null;
};

export type AttemptRow = {
  target_id: string;
  attempt: number;
  started_at: Date;
  ended_at: Date | null;
  outcome: string | null;
  http_status: number | null;
  platform_code: string | null;
  platform_subcode: string | null;
  error_message: string | null;
  latency_ms: number | null;
  lateness_ms: number | null;
};

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** The post's status as a person reads it: one word for all its targets. */
export function postStatus(targets: Pick<TargetRow, "status">[]): PostStatus {
  const statuses = new Set(targets.map((target) => target.status));
  const live = [...statuses].filter((status) => status !== "cancelled");
  if (live.length === 0) return "cancelled";
  for (const status of ["publishing", "scheduled", "pending_approval", "draft"] as const)
    if (statuses.has(status)) return status;
  if (live.length === 1) return live[0] as PostStatus;
  if (statuses.has("published")) return "partially_published";
  return statuses.has("unconfirmed") ? "unconfirmed" : "failed";
}

export function toTarget(row: TargetRow, attempts?: AttemptRow[]): Target {
  return {
    id: row.id,
    accountId: row.account_id,
    platform: row.platform,
    status: row.status,
    overrides: row.overrides,
    publishAt: iso(row.publish_at),
    attempts: row.attempts,
    nextAttemptAt: iso(row.next_attempt_at),
    platformPostId: row.platform_post_id,
    platformUrl: row.platform_url,
    publishedAt: iso(row.published_at),
    error: row.error_message === null ? null : { code: row.error_code, message: row.error_message },
    ...(attempts && {
      attemptLog: attempts.map((a) => ({
        attempt: a.attempt,
        startedAt: a.started_at.toISOString(),
        endedAt: iso(a.ended_at),
        outcome: a.outcome,
        httpStatus: a.http_status,
        platformCode: a.platform_code,
        platformSubcode: a.platform_subcode,
        message: a.error_message,
        latencyMs: a.latency_ms,
        latenessMs: a.lateness_ms,
      })),
    }),
  };
}

export function toPost(row: PostRow, targets: Target[]): Post {
  return {
    id: row.id,
    clientId: row.client_id,
    status: postStatus(targets),
    content: row.content,
    publishAt: iso(row.publish_at),
    approval: {
      state: row.approval,
      approvedBy: row.approved_by,
      approvedAt: iso(row.approved_at),
      rejectedBy: row.rejected_by,
      rejectedAt: iso(row.rejected_at),
      reason: row.rejection_reason,
    },
    version: row.version,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    targets,
  };
}

export async function insertPost(
  tx: Tx,
  workspaceId: string,
  post: {
    clientId: string | null;
    content: PostContent;
    publishAt: Date | null;
    approval: PostRow["approval"];
    createdBy: string | null;
    createdByKey: string | null;
    requestId: string | null;
  },
): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `insert into posts (workspace_id, client_id, content, publish_at, approval, created_by, created_by_key, request_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8) returning id`,
    [
      workspaceId,
      post.clientId,
      post.content,
      post.publishAt,
      post.approval,
      post.createdBy,
      post.createdByKey,
      post.requestId?.slice(0, 128) ?? null,
    ],
  );
  return (rows[0] as { id: string }).id;
}

/** Adds the targets, or updates the overrides of those the post already has for the account. */
export async function upsertTargets(
  tx: Tx,
  workspaceId: string,
  postId: string,
  targets: { accountId: string; platform: string; overrides: TargetOverrides }[],
): Promise<void> {
  await tx.query(
    `insert into post_targets (workspace_id, post_id, account_id, platform, overrides, status)
     select $1, $2, t.account_id, t.platform, t.overrides, 'draft'
     from jsonb_to_recordset($3::jsonb) as t(account_id uuid, platform text, overrides jsonb)
     on conflict (post_id, account_id) do update set overrides = excluded.overrides, updated_at = now()`,
    [
      workspaceId,
      postId,
      JSON.stringify(
        targets.map((t) => ({ account_id: t.accountId, platform: t.platform, overrides: t.overrides })),
      ),
    ],
  );
}

export async function findPostRows(tx: Tx, ids: string[], lock = false): Promise<PostRow[]> {
  const { rows } = await tx.query<PostRow>(
    `select * from posts where id = any($1::uuid[]) order by publish_at nulls last, id${lock ? " for update" : ""}`,
    [ids],
  );
  return rows;
}

export async function findTargetRows(tx: Tx, postIds: string[], lock = false): Promise<TargetRow[]> {
  const { rows } = await tx.query<TargetRow>(
    `select * from post_targets where post_id = any($1::uuid[]) order by created_at, id${lock ? " for update" : ""}`,
    [postIds],
  );
  return rows;
}

export async function findAttempts(tx: Tx, targetIds: string[]): Promise<AttemptRow[]> {
  const { rows } = await tx.query<AttemptRow>(
    "select * from publish_attempts where target_id = any($1::uuid[]) order by target_id, attempt",
    [targetIds],
  );
  return rows;
}

export async function deleteTargets(tx: Tx, ids: string[]): Promise<void> {
  await removeJobs(tx, ids);
  await tx.query("delete from post_targets where id = any($1::uuid[])", [ids]);
}

/**
 * Moves targets to a waiting state. `scheduled` adds (or replaces) each target's job to run at
 * `publishAt`; the other states remove it.
 */
export async function setTargetsWaiting(
  tx: Tx,
  workspaceId: string,
  ids: string[],
  status: "draft" | "pending_approval" | "scheduled" | "cancelled",
  publishAt: Date | null,
): Promise<void> {
  if (ids.length === 0) return;
  await tx.query(
    `update post_targets set status = $2, publish_at = $3, next_attempt_at = null, error_code = null,
       error_message = null, updated_at = now()
     where id = any($1::uuid[])`,
    [ids, status, publishAt],
  );
  if (status === "scheduled" && publishAt) await addJobs(tx, workspaceId, ids, publishAt);
  else await removeJobs(tx, ids);
}

/** Adds or replaces the job of each target, due at `runAt`. */
/** Each target's publish job, due at `runAt` (one time for all, or one per target). */
export async function addJobs(
  tx: Tx,
  workspaceId: string,
  targetIds: string[],
  runAt: Date | Date[],
): Promise<void> {
  const times = Array.isArray(runAt) ? runAt : targetIds.map(() => runAt);
  await tx.query(
    `select graphile_worker.add_job('publish_target', json_build_object('workspaceId', $1::uuid, 'targetId', t.id),
       run_at := t.run_at, max_attempts := 25, job_key := 'publish:' || t.id, job_key_mode := 'replace')
     from unnest($2::uuid[], $3::timestamptz[]) as t(id, run_at)`,
    [workspaceId, targetIds, times],
  );
}

async function removeJobs(tx: Tx, targetIds: string[]): Promise<void> {
  await tx.query("select graphile_worker.remove_job('publish:' || t.id) from unnest($1::uuid[]) as t(id)", [
    targetIds,
  ]);
}

export type PostFilter = {
  clientIds: string[] | null;
  status?: PostStatus;
  clientId?: string;
  accountId?: string;
  from?: string;
  to?: string;
};

/** Post ids in publishing order (undated drafts last), after a keyset position. */
export async function listPostIds(
  tx: Tx,
  filter: PostFilter,
  after: string[] | undefined,
  limit: number,
): Promise<{ id: string; sort: string }[]> {
  const status = filter.status;
  const { rows } = await tx.query<{ id: string; sort: string }>(
    `select p.id, coalesce(to_char(p.publish_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '9999') as sort
     from posts p
     where ($1::uuid[] is null or p.client_id = any($1))
       and ($2::uuid is null or p.client_id = $2)
       and ($3::uuid is null or exists (select 1 from post_targets t where t.post_id = p.id and t.account_id = $3))
       and ($4::timestamptz is null or p.publish_at >= $4)
       and ($5::timestamptz is null or p.publish_at < $5)
       and ($6::text is null
            or ($6 = 'partially_published'
                and exists (select 1 from post_targets t where t.post_id = p.id and t.status = 'published')
                and exists (select 1 from post_targets t where t.post_id = p.id and t.status in ('failed', 'unconfirmed')))
            or exists (select 1 from post_targets t where t.post_id = p.id and t.status = $6))
       and ($7::text is null
            or (coalesce(to_char(p.publish_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '9999'), p.id::text) > ($7, $8))
     order by sort, p.id
     limit $9`,
    [
      filter.clientIds,
      filter.clientId ?? null,
      filter.accountId ?? null,
      filter.from ?? null,
      filter.to ?? null,
      status ?? null,
      after?.[0] ?? null,
      after?.[1] ?? null,
      limit,
    ],
  );
  return rows;
}

export type AccountForTarget = {
  id: string;
  platform: string;
  name: string;
  status: string;
  client_ids: string[];
};

export async function findAccounts(tx: Tx, ids: string[]): Promise<Map<string, AccountForTarget>> {
  const { rows } = await tx.query<AccountForTarget>(
    `select a.id, a.platform, a.name, a.status,
            coalesce(array_agg(l.client_id) filter (where l.client_id is not null), '{}') as client_ids
     from social_accounts a left join account_clients l on l.account_id = a.id
     where a.id = any($1::uuid[]) group by a.id`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

/** The client's next posting slot after `after` not yet taken by one of its posts (DST-exact). */
export async function nextFreeSlot(tx: Tx, clientId: string, after: Date): Promise<Date | null> {
  const { rows } = await tx.query<{ slot: Date }>(
    `with c as (select id, timezone, posting_times from clients where id = $1),
     slots as (
       select ((day::date + (pt->>'time')::time) at time zone c.timezone) as slot
       from c,
            generate_series(($2::timestamptz at time zone c.timezone)::date,
                            ($2::timestamptz at time zone c.timezone)::date + 62, interval '1 day') as day,
            jsonb_array_elements(c.posting_times) as pt
       where extract(isodow from day) = (pt->>'weekday')::int
     )
     select slot from slots
     where slot > $2
       and not exists (select 1 from posts p where p.client_id = $1 and p.publish_at = slots.slot
                       and exists (select 1 from post_targets t where t.post_id = p.id and t.status <> 'cancelled'))
     order by slot limit 1`,
    [clientId, after],
  );
  return rows[0]?.slot ?? null;
}
