import type { Tx } from "../db/tenant.js";

export type Rendition = { storageKey: string; sizeBytes: number; mimeType: string };

export type MediaRow = {
  id: string;
  kind: "image" | "video";
  mime_type: string;
  size_bytes: string;
  width: number | null;
  height: number | null;
  duration_ms: number | null;
  container: string | null;
  video_codec: string | null;
  audio_codec: string | null;
  sha256: Buffer;
  storage_key: string;
  renditions: { jpeg?: Rendition };
  original_name: string | null;
  source_url: string | null;
  created_at: Date;
};

export type NewMedia = {
  kind: "image" | "video";
  mimeType: string;
  sizeBytes: number;
  width: number | null;
  height: number | null;
  durationMs: number | null;
  container: string | null;
  videoCodec: string | null;
  audioCodec: string | null;
  sha256: Buffer;
  storageKey: string;
  renditions: { jpeg?: Rendition };
  originalName: string | null;
  sourceUrl: string | null;
  uploadedBy: string | null;
};

export async function insertMedia(tx: Tx, workspaceId: string, media: NewMedia): Promise<MediaRow> {
  const { rows } = await tx.query<MediaRow>(
    `insert into media (workspace_id, kind, mime_type, size_bytes, width, height, duration_ms, container,
       video_codec, audio_codec, sha256, storage_key, renditions, original_name, source_url, uploaded_by)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) returning *`,
    [
      workspaceId,
      media.kind,
      media.mimeType,
      media.sizeBytes,
      media.width,
      media.height,
      media.durationMs,
      media.container,
      media.videoCodec,
      media.audioCodec,
      media.sha256,
      media.storageKey,
      JSON.stringify(media.renditions),
      media.originalName,
      media.sourceUrl,
      media.uploadedBy,
    ],
  );
  const row = rows[0];
  if (!row) throw new Error("media insert returned no row");
  return row;
}

/** Newest first; `after` is the (created_at text, id) of the last row of the previous page. */
export async function listMedia(
  tx: Tx,
  after: string[] | undefined,
  limit: number,
): Promise<Array<MediaRow & { sort_at: string }>> {
  const { rows } = await tx.query<MediaRow & { sort_at: string }>({
    name: "herald_list_media",
    text: `select *, created_at::text as sort_at from media
           where ($1::timestamptz is null or (created_at, id) < ($1::timestamptz, $2::uuid))
           order by created_at desc, id desc limit $3`,
    values: [after?.[0] ?? null, after?.[1] ?? null, limit],
  });
  return rows;
}

/**
 * The rows with these ids, share-locked until the transaction ends: a post being written with
 * them keeps a concurrent delete waiting until the post is committed (and then seen by its check).
 */
export async function findMediaRows(tx: Tx, ids: string[]): Promise<MediaRow[]> {
  if (ids.length === 0) return [];
  const { rows } = await tx.query<MediaRow>("select * from media where id = any($1::uuid[]) for key share", [
    ids,
  ]);
  return rows;
}

/** Locks the row against concurrent readers that share-lock it (posts being written). */
export async function lockMedia(tx: Tx, mediaId: string): Promise<MediaRow | undefined> {
  const { rows } = await tx.query<MediaRow>("select * from media where id = $1 for update", [mediaId]);
  return rows[0];
}

/**
 * Posts not yet published that use the media: in their content (and have a target still to
 * publish, or no target yet) or in the overrides of a target still to publish.
 */
export async function postsUsingMedia(tx: Tx, mediaId: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `with pending as (
       select * from post_targets
        where status in ('draft', 'pending_approval', 'scheduled', 'publishing'))
     select p.id from posts p
      where (coalesce(p.content->'mediaIds', '[]') @> jsonb_build_array($1::text)
             and (exists (select 1 from pending t where t.post_id = p.id)
                  or not exists (select 1 from post_targets t where t.post_id = p.id)))
         or exists (select 1 from pending t
                     where t.post_id = p.id and coalesce(t.overrides->'mediaIds', '[]') @> jsonb_build_array($1::text))
      order by p.id`,
    [mediaId],
  );
  return rows.map((row) => row.id);
}

export async function deleteMedia(tx: Tx, mediaId: string): Promise<MediaRow | undefined> {
  const { rows } = await tx.query<MediaRow>("delete from media where id = $1 returning *", [mediaId]);
  return rows[0];
}
