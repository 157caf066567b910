/**
 * Media: files uploaded or imported into a workspace, probed by content, stored under random keys.
 *
 * Receiving, probing and storing happen outside any database transaction (a gigabyte upload must
 * not hold a connection); only the row and its audit event are written in one, at the end. If that
 * transaction fails, the stored objects are removed again.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { WorkspaceAccess } from "../access/workspace-access.js";
import { auditIn } from "../audit/audit.js";
import { isUuid, type Tx } from "../db/tenant.js";
import { NotFoundError } from "../errors.js";
import { type OutboundPolicy, OutboundRefusedError, safeFetch } from "../http/outbound.js";
import { decodeCursor, page } from "../http/pagination.js";
import type { IncomingFile } from "./incoming.js";
import { receiveBuffer } from "./incoming.js";
import {
  ImportFailedError,
  ImportRefusedError,
  ImportTimeoutError,
  MediaInUseError,
  MediaTooLargeError,
  UnreadableMediaProblem,
  UnsupportedMediaTypeError,
} from "./media.errors.js";
import * as repo from "./media.repository.js";
import type { Media } from "./media.schemas.js";
import { type MediaStore, newStorageKey } from "./media.store.js";
import {
  EXTENSIONS,
  type Probe,
  probeFile,
  renderJpeg,
  UnreadableMediaError,
  UnsupportedTypeError,
} from "./probe.js";

export type MediaRecord = {
  id: string;
  kind: "image" | "video";
  mimeType: string;
  sizeBytes: number;
  width: number | null;
  height: number | null;
  durationMs: number | null;
  container: string | null;
  videoCodec: string | null;
  audioCodec: string | null;
  url: string;
  /** a JPEG version's public URL: the original when it is a JPEG, else its rendition; null for videos */
  jpegUrl: string | null;
  createdAt: string;
};

/**
 * The workspace's media with these ids (RLS applies: ids of other workspaces are simply absent).
 * Keys are the ids in lower case. The rows stay share-locked until `tx` ends, so a media file
 * cannot be deleted between this check and the commit of a post that uses it.
 */
export async function findMedia(tx: Tx, store: MediaStore, ids: string[]): Promise<Map<string, MediaRecord>> {
  const wanted = [...new Set(ids.filter(isUuid).map((id) => id.toLowerCase()))];
  if (wanted.length === 0) return new Map();
  const rows = await repo.findMediaRows(tx, wanted);
  return new Map(rows.map((row) => [row.id, toRecord(row, store)]));
}

function jpegUrlOf(row: repo.MediaRow, store: MediaStore): string | null {
  if (row.kind !== "image") return null;
  if (row.mime_type === "image/jpeg") return store.url(row.storage_key);
  const jpeg = row.renditions.jpeg;
  return jpeg ? store.url(jpeg.storageKey) : null;
}

function toRecord(row: repo.MediaRow, store: MediaStore): MediaRecord {
  return {
    id: row.id,
    kind: row.kind,
    mimeType: row.mime_type,
    sizeBytes: Number(row.size_bytes),
    width: row.width,
    height: row.height,
    durationMs: row.duration_ms,
    container: row.container,
    videoCodec: row.video_codec,
    audioCodec: row.audio_codec,
    url: store.url(row.storage_key),
    jpegUrl: jpegUrlOf(row, store),
    createdAt: row.created_at.toISOString(),
  };
}

function toMedia(row: repo.MediaRow, store: MediaStore): Media {
  return {
    id: row.id,
    kind: row.kind,
    url: store.url(row.storage_key),
    mimeType: row.mime_type,
    size: Number(row.size_bytes),
    width: row.width,
    height: row.height,
    ...(row.kind === "video" ? { durationMs: row.duration_ms } : {}),
    container: row.container,
    videoCodec: row.video_codec,
    audioCodec: row.audio_codec,
    jpegUrl: jpegUrlOf(row, store),
    sha256: row.sha256.toString("hex"),
    originalName: row.original_name,
    sourceUrl: row.source_url,
    createdAt: row.created_at.toISOString(),
  };
}

export async function listMedia(tx: Tx, store: MediaStore, query: { limit: number; cursor?: string }) {
  const after = decodeCursor("media", query.cursor, 2);
  const rows = await repo.listMedia(tx, after, query.limit + 1);
  return page(
    rows,
    query.limit,
    "media",
    (row) => [row.sort_at, row.id],
    (row) => toMedia(row, store),
  );
}

export async function getMedia(tx: Tx, store: MediaStore, mediaId: string): Promise<Media> {
  const [row] = await repo.findMediaRows(tx, [mediaId]);
  if (!row) throw new NotFoundError();
  return toMedia(row, store);
}

/**
 * Deletes the row (refused while a post not yet published uses it) and records the event; returns
 * the storage keys to remove once the transaction has committed.
 */
export async function deleteMedia(tx: Tx, access: WorkspaceAccess, mediaId: string): Promise<string[]> {
  const row = await repo.lockMedia(tx, mediaId);
  if (!row) throw new NotFoundError();
  const posts = await repo.postsUsingMedia(tx, mediaId);
  if (posts.length > 0) throw new MediaInUseError(posts);
  await repo.deleteMedia(tx, mediaId);
  await auditIn(tx, access, {
    action: "media_deleted",
    target: { type: "media", id: row.id },
    details: { id: row.id, kind: row.kind, mimeType: row.mime_type, size: Number(row.size_bytes) },
  });
  return storageKeys(row);
}

function storageKeys(row: { storage_key: string; renditions: { jpeg?: repo.Rendition } }): string[] {
  return [row.storage_key, ...(row.renditions.jpeg ? [row.renditions.jpeg.storageKey] : [])];
}

type WarnLog = { warn(details: object, message: string): void };

/** Removes stored objects after their row is gone; a failure leaves an orphan, logged. */
export async function removeObjects(store: MediaStore, keys: string[], log: WarnLog): Promise<void> {
  for (const key of keys) {
    try {
      await store.remove(key);
    } catch (error) {
      log.warn({ err: error, storageKey: key }, "a deleted media file could not be removed from the store");
    }
  }
}

/** Runs a function in the caller's workspace transaction (`workspaceScope` bound to the request). */
export type InWorkspace = <T>(fn: (tx: Tx, access: WorkspaceAccess) => Promise<T>) => Promise<T>;

export type IngestOrigin = { originalName: string | null; sourceUrl: string | null };

/**
 * Probes a received file, stores it (and a JPEG rendition of a non-JPEG image), then records the
 * row and its audit event in one transaction. The temporary file is the caller's to dispose of.
 */
export async function ingestMedia(
  store: MediaStore,
  inWorkspace: InWorkspace,
  file: IncomingFile,
  origin: IngestOrigin,
  log: WarnLog,
): Promise<Media> {
  const probe = await probeOrRefuse(file);
  const stored: string[] = [];
  try {
    const storageKey = newStorageKey(EXTENSIONS[probe.mimeType]);
    await store.put(storageKey, file.path, {
      mimeType: probe.mimeType,
      sizeBytes: file.sizeBytes,
      sha256: file.sha256,
    });
    stored.push(storageKey);
    const renditions =
      probe.kind === "image" && probe.mimeType !== "image/jpeg"
        ? { jpeg: await storeJpeg(store, file, stored) }
        : {};
    const row = await inWorkspace(async (tx, access) => {
      const inserted = await repo.insertMedia(tx, access.workspaceId, {
        kind: probe.kind,
        mimeType: probe.mimeType,
        sizeBytes: file.sizeBytes,
        width: probe.width,
        height: probe.height,
        durationMs: probe.kind === "video" ? probe.durationMs : null,
        container: probe.kind === "video" ? probe.container : null,
        videoCodec: probe.kind === "video" ? probe.videoCodec : null,
        audioCodec: probe.kind === "video" ? probe.audioCodec : null,
        sha256: file.sha256,
        storageKey,
        renditions,
        originalName: origin.originalName,
        sourceUrl: origin.sourceUrl,
        uploadedBy: access.principal.kind === "user" ? access.principal.userId : null,
      });
      await auditIn(tx, access, {
        action: "media_uploaded",
        target: { type: "media", id: inserted.id },
        details: {
          id: inserted.id,
          kind: inserted.kind,
          mimeType: inserted.mime_type,
          size: file.sizeBytes,
          // Without its query: a signed URL's signature is a secret.
          ...(origin.sourceUrl ? { sourceUrl: withoutQuery(origin.sourceUrl) } : {}),
        },
      });
      return inserted;
    });
    return toMedia(row, store);
  } catch (error) {
    await removeObjects(store, stored, log);
    throw error;
  }
}

async function storeJpeg(store: MediaStore, file: IncomingFile, stored: string[]): Promise<repo.Rendition> {
  const output = path.join(file.dir, "rendition.jpg");
  const { sizeBytes } = await renderJpeg(file.path, output);
  const sha256 = createHash("sha256")
    .update(await readFile(output))
    .digest();
  const storageKey = newStorageKey("jpg");
  await store.put(storageKey, output, { mimeType: "image/jpeg", sizeBytes, sha256 });
  stored.push(storageKey);
  return { storageKey, sizeBytes, mimeType: "image/jpeg" };
}

async function probeOrRefuse(file: IncomingFile): Promise<Probe> {
  try {
    return await probeFile(file.path, file.sizeBytes);
  } catch (error) {
    if (error instanceof UnsupportedTypeError) throw new UnsupportedMediaTypeError(error.found);
    if (error instanceof UnreadableMediaError) throw new UnreadableMediaProblem(error.message);
    throw error;
  }
}

export type ImportLimits = { policy: OutboundPolicy; maxBytes: number; timeoutMs: number };

/**
 * Fetches a remote file under the outbound rules (public addresses only unless allow-listed, three
 * redirects, each re-checked; size and time capped) into a temporary file.
 */
export async function fetchRemote(
  url: string,
  limits: ImportLimits,
): Promise<{ file: IncomingFile; finalUrl: string }> {
  let response: Awaited<ReturnType<typeof safeFetch>>;
  try {
    response = await safeFetch(url, limits.policy, {
      maxBytes: limits.maxBytes,
      timeoutMs: limits.timeoutMs,
      maxRedirects: 3,
      headers: { accept: "image/*, video/*" },
    });
  } catch (error) {
    if (!(error instanceof OutboundRefusedError)) throw error;
    switch (error.reason) {
      case "address":
      case "scheme":
      case "redirects":
        throw new ImportRefusedError(`${error.message} Herald fetches only public http(s) addresses.`);
      case "too_large":
        throw new MediaTooLargeError(limits.maxBytes);
      case "timeout":
        throw new ImportTimeoutError(limits.timeoutMs);
      default:
        throw new ImportFailedError(`The server could not be reached: ${error.message}`);
    }
  }
  if (response.status < 200 || response.status > 299)
    throw new ImportFailedError(`The server answered HTTP ${response.status} instead of the file.`);
  if (response.body.length === 0) throw new UnsupportedMediaTypeError("empty");
  return { file: await receiveBuffer(response.body), finalUrl: response.url };
}

function withoutQuery(value: string): string {
  try {
    const url = new URL(value);
    return `${url.origin}${url.pathname}`;
  } catch {
    return "(not a URL)";
  }
}
