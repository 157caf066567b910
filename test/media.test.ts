/**
 * Media through the HTTP API: uploads probed by content (images with sharp, MP4/MOV by their
 * boxes), JPEG renditions, the size cap and refused types, the public file URL (bytes, headers,
 * ranges), listing, getting and deleting (refused while an unpublished post uses the file), who
 * may do what, and imports from URLs under the outbound rules (a real loopback server).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { LightMyRequestResponse } from "fastify";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withWorkspace } from "../src/db/tenant.js";
import { findMedia } from "../src/media/media.service.js";
import { createMediaStore } from "../src/media/media.store.js";
import { signRequest } from "../src/media/sigv4.js";
import {
  addMember,
  call,
  createApiKey,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";
import { buildMp4 } from "./helpers/mp4.js";
import { expectProblem } from "./helpers/problems.js";

/** Small, so that "over the cap" is cheap to send. */
const MAX_BYTES = 300_000;
const IMPORT_TIMEOUT_MS = 400;

let t: TestApp;
let dataDir: string;
let owner: Session;
let workspaceId: string;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), "herald-media-test-"));
  t = await startTestApp({
    HERALD_DATA_DIR: dataDir,
    HERALD_MEDIA_MAX_BYTES: String(MAX_BYTES),
    HERALD_MEDIA_IMPORT_TIMEOUT_MS: String(IMPORT_TIMEOUT_MS),
  });
  owner = await signUp(t.app);
  workspaceId = await createWorkspace(t.app, owner, "Media");
});

afterAll(async () => {
  await t?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const mediaUrl = (ws: string) => `/api/v1/workspaces/${ws}/media`;

function multipart(data: Buffer, filename: string, contentType: string, field = "file") {
  const boundary = `----herald${randomBytes(8).toString("hex")}`;
  const payload = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`,
    ),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { payload, headers: { "content-type": `multipart/form-data; boundary=${boundary}` } };
}

function upload(
  as: Session | string,
  data: Buffer,
  filename = "file.bin",
  contentType = "application/octet-stream",
  ws = workspaceId,
  field = "file",
): Promise<LightMyRequestResponse> {
  const form = multipart(data, filename, contentType, field);
  return call(t.app, as, "POST", mediaUrl(ws), form.payload, form.headers);
}

/** Fetches a public media URL through the app, without credentials. */
function fetchPublic(url: string, headers: Record<string, string> = {}) {
  return t.app.inject({ method: "GET", url: new URL(url).pathname, headers });
}

const image = (width: number, height: number, alpha = false) =>
  sharp({
    create: {
      width,
      height,
      channels: alpha ? 4 : 3,
      background: alpha ? { r: 200, g: 30, b: 60, alpha: 0.5 } : { r: 20, g: 120, b: 200 },
    },
  });

async function mediaRow(id: string) {
  const { rows } = await asOwner(t.db.url, (c) =>
    c.query<{
      workspace_id: string;
      storage_key: string;
      renditions: Record<string, unknown>;
      uploaded_by: string | null;
    }>("select workspace_id, storage_key, renditions, uploaded_by from media where id = $1", [id]),
  );
  return rows[0];
}

async function auditEvents(ws: string, action: string, targetId: string) {
  const { rows } = await asOwner(t.db.url, (c) =>
    c.query<{ details: Record<string, unknown>; actor_id: string | null }>(
      "select details, actor_id from audit_events where workspace_id = $1 and action = $2 and target_id = $3",
      [ws, action, targetId],
    ),
  );
  return rows;
}

async function storedFiles(): Promise<string[]> {
  try {
    return (await readdir(path.join(dataDir, "media"))).sort();
  } catch {
    return [];
  }
}

describe("uploading images", () => {
  it("records a JPEG's type and size, stores the exact bytes, and writes media_uploaded", async () => {
    const jpeg = await image(64, 48).jpeg().toBuffer();
    const response = await upload(owner, jpeg, "holiday.png", "image/png");
    expect(response.statusCode).toBe(201);
    const media = response.json();
    expect(media).toMatchObject({
      kind: "image",
      mimeType: "image/jpeg",
      size: jpeg.length,
      width: 64,
      height: 48,
      container: null,
      videoCodec: null,
      audioCodec: null,
      originalName: "holiday.png",
      sourceUrl: null,
    });
    expect(media).not.toHaveProperty("durationMs");
    expect(media.url).toMatch(/^http:\/\/localhost:3000\/media\/files\/[0-9a-f]{32}\.jpg$/);
    expect(media.jpegUrl).toBe(media.url);
    const row = await mediaRow(media.id);
    expect(row).toMatchObject({ workspace_id: workspaceId, renditions: {}, uploaded_by: owner.userId });
    const served = await fetchPublic(media.url);
    expect(served.statusCode).toBe(200);
    expect(served.rawPayload.equals(jpeg)).toBe(true);
    const events = await auditEvents(workspaceId, "media_uploaded", media.id);
    expect(events).toEqual([
      {
        actor_id: owner.userId,
        details: { id: media.id, kind: "image", mimeType: "image/jpeg", size: jpeg.length },
      },
    ]);
  });

  it("records the upright size of a JPEG rotated by its EXIF orientation", async () => {
    // Stored 80×40 with orientation 6 (rotate 90° clockwise to display): shown 40×80.
    const jpeg = await image(80, 40).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const response = await upload(owner, jpeg, "portrait.jpg", "image/jpeg");
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ mimeType: "image/jpeg", width: 40, height: 80 });
  });

  it("gives a PNG a JPEG rendition of the same size, recorded in renditions", async () => {
    const png = await image(50, 30, true).png().toBuffer();
    const response = await upload(owner, png, "logo.png", "image/png");
    expect(response.statusCode).toBe(201);
    const media = response.json();
    expect(media).toMatchObject({ mimeType: "image/png", width: 50, height: 30, size: png.length });
    expect(media.jpegUrl).toMatch(/\/media\/files\/[0-9a-f]{32}\.jpg$/);
    expect(media.jpegUrl).not.toBe(media.url);

    const rendition = await fetchPublic(media.jpegUrl);
    expect(rendition.statusCode).toBe(200);
    expect(rendition.headers["content-type"]).toBe("image/jpeg");
    const decoded = await sharp(rendition.rawPayload).metadata();
    expect(decoded).toMatchObject({ format: "jpeg", width: 50, height: 30 });

    const row = await mediaRow(media.id);
    const key = new URL(media.jpegUrl).pathname.split("/").pop();
    expect(row?.renditions).toEqual({
      jpeg: { storageKey: key, sizeBytes: rendition.rawPayload.length, mimeType: "image/jpeg" },
    });
  });

  it("reads WebP and GIF by their content", async () => {
    const webp = await image(33, 21).webp().toBuffer();
    const webpMedia = await upload(owner, webp, "picture.jpg", "image/jpeg");
    expect(webpMedia.statusCode).toBe(201);
    expect(webpMedia.json()).toMatchObject({ mimeType: "image/webp", width: 33, height: 21 });
    expect(webpMedia.json().jpegUrl).not.toBe(webpMedia.json().url);

    const gif = await image(12, 7).gif().toBuffer();
    const gifMedia = await upload(owner, gif, "anim.gif", "image/gif");
    expect(gifMedia.statusCode).toBe(201);
    expect(gifMedia.json()).toMatchObject({ mimeType: "image/gif", width: 12, height: 7 });
  });
});

describe("uploading videos", () => {
  it("probes an MP4's codecs, duration and size", async () => {
    const mp4 = buildMp4({ width: 1920, height: 1080, timescale: 90000, duration: 90000 * 12.5 });
    const response = await upload(owner, mp4, "clip.mp4", "video/mp4");
    expect(response.statusCode).toBe(201);
    const media = response.json();
    expect(media).toMatchObject({
      kind: "video",
      mimeType: "video/mp4",
      container: "mp4",
      videoCodec: "h264",
      audioCodec: "aac",
      durationMs: 12500,
      width: 1920,
      height: 1080,
      size: mp4.length,
      jpegUrl: null,
    });
    expect(media.url).toMatch(/\.mp4$/);
  });

  it("finds the movie header after a 64-bit mdat, reads version 1 boxes and a rotated MOV", async () => {
    const mov = buildMp4({
      brand: "qt  ",
      moovAtEnd: true,
      largeMdat: true,
      version: 1,
      videoFormat: "hvc1",
      audioFormat: null,
      rotation: 90,
      width: 1920,
      height: 1080,
      timescale: 600,
      duration: 600 * 61,
      mdatBytes: 4096,
    });
    const response = await upload(owner, mov, "IMG_0001.MOV", "video/quicktime");
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({
      mimeType: "video/quicktime",
      container: "mov",
      videoCodec: "hevc",
      audioCodec: null,
      durationMs: 61_000,
      // stored landscape, shown portrait
      width: 1080,
      height: 1920,
    });
    expect(response.json().url).toMatch(/\.mov$/);
  });

  it("names an unknown video codec by its fourcc", async () => {
    const response = await upload(owner, buildMp4({ videoFormat: "av01", audioFormat: "Opus" }), "a.mp4");
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ videoCodec: "av1", audioCodec: "opus" });
    const odd = await upload(owner, buildMp4({ videoFormat: "xyz1" }), "b.mp4");
    expect(odd.json()).toMatchObject({ videoCodec: "xyz1" });
  });

  it("refuses a cut-short MP4 as unreadable and stores nothing", async () => {
    const before = await storedFiles();
    const mp4 = buildMp4({ moovAtEnd: true });
    const response = await upload(owner, mp4.subarray(0, mp4.length - 20), "broken.mp4", "video/mp4");
    const body = expectProblem(response, 422, "HERALD_MEDIA_UNREADABLE");
    expect(body.detail).toMatch(/moov/);
    expect(await storedFiles()).toEqual(before);
  });

  it("refuses an audio-only MP4 and a HEIF image as unsupported types", async () => {
    const audio = await upload(owner, buildMp4({ video: false }), "song.m4a", "audio/mp4");
    expect(expectProblem(audio, 415, "HERALD_MEDIA_UNSUPPORTED_TYPE").detail).toMatch(
      /without a video track/,
    );
    const heif = buildMp4({ brand: "heic" });
    expectProblem(
      await upload(owner, heif, "photo.heic", "image/heic"),
      415,
      "HERALD_MEDIA_UNSUPPORTED_TYPE",
    );
  });
});

describe("refused uploads", () => {
  it("answers 413 naming the limit for a file over the cap, and stores nothing", async () => {
    const before = await storedFiles();
    const big = Buffer.concat([await image(10, 10).jpeg().toBuffer(), Buffer.alloc(MAX_BYTES)]);
    const response = await upload(owner, big, "big.jpg", "image/jpeg");
    const body = expectProblem(response, 413, "HERALD_MEDIA_TOO_LARGE");
    expect(body.detail).toContain(String(MAX_BYTES));
    expect(await storedFiles()).toEqual(before);
  });

  it("takes a file of exactly the cap", async () => {
    const jpeg = await image(10, 10).jpeg().toBuffer();
    // JPEG decoders ignore bytes after the end-of-image marker.
    const exact = Buffer.concat([jpeg, Buffer.alloc(MAX_BYTES - jpeg.length)]);
    const response = await upload(owner, exact, "exact.jpg", "image/jpeg");
    expect(response.statusCode).toBe(201);
    expect(response.json().size).toBe(MAX_BYTES);
  });

  it("answers 415 naming the accepted types for a text file named .jpg", async () => {
    const response = await upload(owner, Buffer.from("just some text, honest\n"), "photo.jpg", "image/jpeg");
    const body = expectProblem(response, 415, "HERALD_MEDIA_UNSUPPORTED_TYPE");
    expect(body.detail).toMatch(/text/);
    for (const type of ["image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/quicktime"])
      expect(body.detail).toContain(type);
  });

  it("answers 400 without a `file` field and 415 for a JSON body", async () => {
    const jpeg = await image(10, 10).jpeg().toBuffer();
    const wrongField = await upload(owner, jpeg, "a.jpg", "image/jpeg", workspaceId, "picture");
    expect(expectProblem(wrongField, 400, "HERALD_VALIDATION_FAILED").errors?.[0]?.path).toBe("body.file");
    const json = await call(t.app, owner, "POST", mediaUrl(workspaceId), { file: "x" });
    expectProblem(json, 415, "HERALD_UNSUPPORTED_MEDIA_TYPE");
  });
});

describe("the public file URL", () => {
  let media: { id: string; url: string; size: number };
  let bytes: Buffer;

  beforeAll(async () => {
    bytes = buildMp4({ mdatBytes: 5000 });
    media = (await upload(owner, bytes, "v.mp4", "video/mp4")).json();
  });

  it("serves the exact bytes without credentials, typed, nosniff, cached for long", async () => {
    const response = await fetchPublic(media.url);
    expect(response.statusCode).toBe(200);
    expect(response.rawPayload.equals(bytes)).toBe(true);
    expect(response.headers).toMatchObject({
      "content-type": "video/mp4",
      "x-content-type-options": "nosniff",
      "accept-ranges": "bytes",
      "content-length": String(bytes.length),
    });
    expect(response.headers["cache-control"]).toMatch(/max-age=31536000/);
  });

  it("answers a byte range with 206 and exactly those bytes", async () => {
    const range = await fetchPublic(media.url, { range: "bytes=100-199" });
    expect(range.statusCode).toBe(206);
    expect(range.headers["content-range"]).toBe(`bytes 100-199/${bytes.length}`);
    expect(range.rawPayload.equals(bytes.subarray(100, 200))).toBe(true);

    const open = await fetchPublic(media.url, { range: `bytes=${bytes.length - 10}-` });
    expect(open.statusCode).toBe(206);
    expect(open.rawPayload.equals(bytes.subarray(bytes.length - 10))).toBe(true);

    const suffix = await fetchPublic(media.url, { range: "bytes=-7" });
    expect(suffix.statusCode).toBe(206);
    expect(suffix.headers["content-range"]).toBe(
      `bytes ${bytes.length - 7}-${bytes.length - 1}/${bytes.length}`,
    );
    expect(suffix.rawPayload.equals(bytes.subarray(bytes.length - 7))).toBe(true);
  });

  it("answers HEAD with the headers and no body", async () => {
    const response = await t.app.inject({ method: "HEAD", url: new URL(media.url).pathname });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toBe("video/mp4");
    expect(response.headers["content-length"]).toBe(String(bytes.length));
    expect(response.rawPayload.length).toBe(0);
  });

  it("answers 416 for a range outside the file and 404 for unknown keys", async () => {
    const outside = await fetchPublic(media.url, { range: `bytes=${bytes.length}-` });
    expect(outside.statusCode).toBe(416);
    expect(outside.headers["content-range"]).toBe(`bytes */${bytes.length}`);
    expectProblem(
      await t.app.inject({ method: "GET", url: `/media/files/${"0".repeat(32)}.mp4` }),
      404,
      "HERALD_NOT_FOUND",
    );
    expectProblem(
      await t.app.inject({ method: "GET", url: "/media/files/..%2F..%2Fetc%2Fpasswd" }),
      404,
      "HERALD_NOT_FOUND",
    );
  });
});

describe("listing, reading and deleting", () => {
  let ws: string;
  const ids: string[] = [];

  beforeAll(async () => {
    ws = await createWorkspace(t.app, owner, "Library");
    for (const width of [10, 11, 12]) {
      const response = await upload(
        owner,
        await image(width, 10).png().toBuffer(),
        `${width}.png`,
        "image/png",
        ws,
      );
      ids.push(response.json().id);
    }
  });

  it("lists newest first, page by page", async () => {
    const first = await call(t.app, owner, "GET", `${mediaUrl(ws)}?limit=2`);
    expect(first.statusCode).toBe(200);
    expect(first.json().items.map((m: { id: string }) => m.id)).toEqual([ids[2], ids[1]]);
    const cursor = first.json().nextCursor;
    expect(cursor).toEqual(expect.any(String));
    const second = await call(
      t.app,
      owner,
      "GET",
      `${mediaUrl(ws)}?limit=2&cursor=${encodeURIComponent(cursor)}`,
    );
    expect(second.json()).toEqual({
      items: [expect.objectContaining({ id: ids[0], width: 10 })],
      nextCursor: null,
    });
  });

  it("gets one by id", async () => {
    const response = await call(t.app, owner, "GET", `${mediaUrl(ws)}/${ids[1]}`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ id: ids[1], width: 11, mimeType: "image/png" });
  });

  it("findMedia gives the publishing code records, with JPEG URLs", async () => {
    const store = createMediaStore(t.config);
    const found = await withWorkspace(t.pool, ws, (tx) => findMedia(tx, store, [ids[0] ?? "", "not-a-uuid"]));
    expect([...found.keys()]).toEqual([ids[0]]);
    expect(found.get(ids[0] ?? "")).toMatchObject({
      kind: "image",
      mimeType: "image/png",
      width: 10,
      height: 10,
    });
    expect(found.get(ids[0] ?? "")?.jpegUrl).toMatch(/\.jpg$/);
    const elsewhere = await withWorkspace(t.pool, workspaceId, (tx) => findMedia(tx, store, [ids[0] ?? ""]));
    expect(elsewhere.size).toBe(0);
  });

  it("deletes the row and both files, and writes media_deleted", async () => {
    const id = ids[0] ?? "";
    const media = (await call(t.app, owner, "GET", `${mediaUrl(ws)}/${id}`)).json();
    expect((await fetchPublic(media.jpegUrl)).statusCode).toBe(200);
    const response = await call(t.app, owner, "DELETE", `${mediaUrl(ws)}/${id}`);
    expect(response.statusCode).toBe(204);
    expect(await mediaRow(id)).toBeUndefined();
    expect((await fetchPublic(media.url)).statusCode).toBe(404);
    expect((await fetchPublic(media.jpegUrl)).statusCode).toBe(404);
    expectProblem(await call(t.app, owner, "GET", `${mediaUrl(ws)}/${id}`), 404, "HERALD_NOT_FOUND");
    expect((await auditEvents(ws, "media_deleted", id)).map((e) => e.details)).toEqual([
      { id, kind: "image", mimeType: "image/png", size: media.size },
    ]);
  });
});

describe("deleting media a post uses", () => {
  let ws: string;
  let accountId: string;

  beforeAll(async () => {
    ws = await createWorkspace(t.app, owner, "Posting");
    accountId = await asOwner(t.db.url, async (c) => {
      const credential = await c.query<{ id: string }>(
        `insert into account_credentials (workspace_id, platform, subject, access_token, key_id)
         values ($1, 'sandbox', 'user:media', '\\x01', 'k') returning id`,
        [ws],
      );
      const account = await c.query<{ id: string }>(
        `insert into social_accounts (workspace_id, platform, platform_account_id, name, status, credential_id)
         values ($1, 'sandbox', 'acct_media', 'Media page', 'active', $2) returning id`,
        [ws, credential.rows[0]?.id],
      );
      return account.rows[0]?.id ?? "";
    });
  });

  async function newMedia(): Promise<string> {
    const response = await upload(owner, await image(9, 9).jpeg().toBuffer(), "a.jpg", "image/jpeg", ws);
    return response.json().id;
  }

  /** A post with one target, written directly (the posts API is tested elsewhere). */
  async function post(status: string, content: object, overrides: object = {}) {
    await asOwner(t.db.url, async (c) => {
      const row = await c.query<{ id: string }>(
        "insert into posts (workspace_id, content, publish_at) values ($1, $2, now() + interval '1 day') returning id",
        [ws, JSON.stringify(content)],
      );
      await c.query(
        `insert into post_targets (workspace_id, post_id, account_id, platform, overrides, status, published_at)
         values ($1, $2, $3, 'sandbox', $4, $5, case when $5 = 'published' then now() end)`,
        [ws, row.rows[0]?.id, accountId, JSON.stringify(overrides), status],
      );
    });
  }

  it("refuses with 409 while a scheduled post uses it, in its content or a target's overrides", async () => {
    const inContent = await newMedia();
    await post("scheduled", { text: "hi", mediaIds: [inContent] });
    const refused = await call(t.app, owner, "DELETE", `${mediaUrl(ws)}/${inContent}`);
    expect(expectProblem(refused, 409, "HERALD_MEDIA_IN_USE").detail).toMatch(/not yet published/);
    expect(await mediaRow(inContent)).toBeDefined();
    expect(await auditEvents(ws, "media_deleted", inContent)).toEqual([]);

    const inOverride = await newMedia();
    await post("draft", { text: "hi" }, { mediaIds: [inOverride] });
    expectProblem(
      await call(t.app, owner, "DELETE", `${mediaUrl(ws)}/${inOverride}`),
      409,
      "HERALD_MEDIA_IN_USE",
    );
  });

  it("allows it once the posts using it are published or cancelled", async () => {
    const published = await newMedia();
    await post("published", { mediaIds: [published] });
    const cancelled = await newMedia();
    await post("cancelled", { text: "x" }, { mediaIds: [cancelled] });
    expect((await call(t.app, owner, "DELETE", `${mediaUrl(ws)}/${published}`)).statusCode).toBe(204);
    expect((await call(t.app, owner, "DELETE", `${mediaUrl(ws)}/${cancelled}`)).statusCode).toBe(204);
  });
});

describe("who may do what", () => {
  let jpeg: Buffer;
  let ownMedia: string;

  beforeAll(async () => {
    jpeg = await image(8, 8).jpeg().toBuffer();
    ownMedia = (await upload(owner, jpeg, "a.jpg", "image/jpeg")).json().id;
  });

  it("a viewer can see media but not upload, import or delete it", async () => {
    const viewer = await addMember(t.app, owner, workspaceId, "viewer");
    expect((await call(t.app, viewer, "GET", `${mediaUrl(workspaceId)}/${ownMedia}`)).statusCode).toBe(200);
    const refused = await upload(viewer, jpeg, "a.jpg", "image/jpeg");
    expect(expectProblem(refused, 403, "HERALD_FORBIDDEN").detail).toContain("media:write");
    expectProblem(
      await call(t.app, viewer, "POST", `${mediaUrl(workspaceId)}/import`, {
        url: "https://example.com/a.jpg",
      }),
      403,
      "HERALD_FORBIDDEN",
    );
    expectProblem(
      await call(t.app, viewer, "DELETE", `${mediaUrl(workspaceId)}/${ownMedia}`),
      403,
      "HERALD_FORBIDDEN",
    );
  });

  it("an editor and an API key with posts:write can upload; a posts:read key cannot", async () => {
    const editor = await addMember(t.app, owner, workspaceId, "editor");
    expect((await upload(editor, jpeg, "a.jpg", "image/jpeg")).statusCode).toBe(201);
    const writer = await createApiKey(t.app, owner, workspaceId, ["posts:write"]);
    const byKey = await upload(writer, jpeg, "a.jpg", "image/jpeg");
    expect(byKey.statusCode).toBe(201);
    expect((await mediaRow(byKey.json().id))?.uploaded_by).toBeNull();
    const reader = await createApiKey(t.app, owner, workspaceId, ["posts:read"]);
    expectProblem(await upload(reader, jpeg, "a.jpg", "image/jpeg"), 403, "HERALD_INSUFFICIENT_SCOPE");
  });

  it("another workspace's media id is a 404, for reading and deleting", async () => {
    const stranger = await signUp(t.app);
    const theirs = await createWorkspace(t.app, stranger, "Theirs");
    const get = await call(t.app, stranger, "GET", `${mediaUrl(theirs)}/${ownMedia}`);
    expectProblem(get, 404, "HERALD_NOT_FOUND");
    expectProblem(
      await call(t.app, stranger, "DELETE", `${mediaUrl(theirs)}/${ownMedia}`),
      404,
      "HERALD_NOT_FOUND",
    );
    expectProblem(
      await call(t.app, stranger, "GET", `${mediaUrl(workspaceId)}/${ownMedia}`),
      404,
      "HERALD_NOT_FOUND",
    );
    expect(await mediaRow(ownMedia)).toBeDefined();
  });
});

describe("the OpenAPI document", () => {
  it("describes every media route under the Media tag", async () => {
    const spec = (await t.app.inject({ method: "GET", url: "/api/openapi.json" })).json();
    const paths = spec.paths as Record<string, Record<string, { tags?: string[]; responses: object }>>;
    const expected = {
      "/api/v1/workspaces/{workspaceId}/media": ["get", "post"],
      "/api/v1/workspaces/{workspaceId}/media/import": ["post"],
      "/api/v1/workspaces/{workspaceId}/media/{mediaId}": ["delete", "get"],
      "/media/files/{storageKey}": ["get"],
    };
    for (const [route, methods] of Object.entries(expected)) {
      const operations = paths[route] ?? {};
      expect(
        Object.keys(operations)
          .filter((m) => m !== "head")
          .sort(),
      ).toEqual(methods);
      for (const method of methods) expect(operations[method]?.tags).toEqual(["Media"]);
    }
    expect(Object.keys(paths["/api/v1/workspaces/{workspaceId}/media"]?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(["201", "413", "415"]),
    );
  });

  it("describes the upload's multipart body: one binary part named file", async () => {
    const spec = (await t.app.inject({ method: "GET", url: "/api/openapi.json" })).json();
    const upload = spec.paths["/api/v1/workspaces/{workspaceId}/media"].post;
    expect(upload.requestBody.content["multipart/form-data"].schema).toMatchObject({
      type: "object",
      required: ["file"],
      properties: { file: { type: "string", format: "binary" } },
    });
    // The JSON routes keep their own bodies.
    const imported = spec.paths["/api/v1/workspaces/{workspaceId}/media/import"].post;
    expect(Object.keys(imported.requestBody.content)).toEqual(["application/json"]);
  });
});

describe("S3 request signing", () => {
  it("matches AWS's documented example (GET Object, header-based SigV4)", () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
    const headers = signRequest(
      {
        accessKeyId: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
      },
      {
        method: "GET",
        url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
        headers: { range: "bytes=0-9" },
        payloadSha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      },
      new Date("2013-05-24T00:00:00Z"),
    );
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Imports

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** A loopback HTTP server whose routes the tests set. */
async function startRemote(routes: Record<string, Handler>): Promise<{ origin: string; server: Server }> {
  const server = createServer((request, response) => {
    const handler = routes[new URL(request.url ?? "/", "http://remote").pathname];
    if (handler) return handler(request, response);
    response.writeHead(404).end("no such file");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, server };
}

describe("importing from a URL", () => {
  let remote: { origin: string; server: Server };
  let allowing: TestApp;
  let photo: Buffer;
  let closedPort: number;
  const hung: ServerResponse[] = [];

  beforeAll(async () => {
    photo = await image(40, 30).png().toBuffer();
    remote = await startRemote({
      "/photo.png": (_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(photo),
      "/text.jpg": (_req, res) => res.writeHead(200, { "content-type": "image/jpeg" }).end("not an image"),
      "/missing.jpg": (_req, res) => res.writeHead(404).end(),
      "/to-private": (_req, res) => res.writeHead(302, { location: "http://10.0.0.1/photo.png" }).end(),
      "/to-metadata": (_req, res) =>
        res.writeHead(301, { location: "http://169.254.169.254/latest/meta-data/" }).end(),
      "/to-ipv6-loopback": (_req, res) => res.writeHead(307, { location: "http://[::1]/photo.png" }).end(),
      "/hop3": (_req, res) => res.writeHead(302, { location: "/hop2" }).end(),
      "/hop2": (_req, res) => res.writeHead(302, { location: "/hop1" }).end(),
      "/hop1": (_req, res) => res.writeHead(302, { location: "/photo.png" }).end(),
      "/hop4": (_req, res) => res.writeHead(302, { location: "/hop3" }).end(),
      "/big": (_req, res) => {
        res.writeHead(200, { "content-type": "image/png" });
        res.end(Buffer.alloc(MAX_BYTES + 1));
      },
      "/big-chunked": (_req, res) => {
        // No content-length: the cap applies as the bytes arrive.
        res.writeHead(200, { "content-type": "image/png", "transfer-encoding": "chunked" });
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(MAX_BYTES / 5));
        res.end();
      },
      "/never-answers": (_req, res) => {
        hung.push(res);
      },
      "/trickles": (_req, res) => {
        res.writeHead(200, { "content-type": "image/png", "content-length": String(photo.length) });
        res.write(photo.subarray(0, 10));
        hung.push(res);
      },
    });
    allowing = await startTestApp(
      {
        HERALD_DATA_DIR: dataDir,
        HERALD_MEDIA_MAX_BYTES: String(MAX_BYTES),
        HERALD_MEDIA_IMPORT_TIMEOUT_MS: String(IMPORT_TIMEOUT_MS),
        HERALD_OUTBOUND_ALLOWLIST: "127.0.0.1",
      },
      { db: t.db },
    );
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
  });

  afterAll(async () => {
    for (const res of hung) res.destroy();
    await allowing?.close();
    remote?.server.closeAllConnections();
    await new Promise((resolve) => remote?.server.close(resolve));
  });

  const importAs = (app: TestApp, url: string) =>
    call(app.app, owner, "POST", `${mediaUrl(workspaceId)}/import`, { url });

  it("imports an image from an allowed host, probed and stored like an upload", async () => {
    const url = `${remote.origin}/photo.png?signature=secret`;
    const response = await importAs(allowing, url);
    expect(response.statusCode).toBe(201);
    const media = response.json();
    expect(media).toMatchObject({
      kind: "image",
      mimeType: "image/png",
      width: 40,
      height: 30,
      size: photo.length,
      sourceUrl: url,
      originalName: "photo.png",
    });
    expect((await fetchPublic(media.url)).rawPayload.equals(photo)).toBe(true);
    expect((await fetchPublic(media.jpegUrl)).headers["content-type"]).toBe("image/jpeg");
    const events = await auditEvents(workspaceId, "media_uploaded", media.id);
    expect(events.map((e) => e.details)).toEqual([
      {
        id: media.id,
        kind: "image",
        mimeType: "image/png",
        size: photo.length,
        sourceUrl: `${remote.origin}/photo.png`,
      },
    ]);
  });

  it("follows up to 3 redirects and refuses a 4th", async () => {
    expect((await importAs(allowing, `${remote.origin}/hop3`)).statusCode).toBe(201);
    const refused = await importAs(allowing, `${remote.origin}/hop4`);
    expect(expectProblem(refused, 422, "HERALD_MEDIA_IMPORT_REFUSED").detail).toMatch(
      /more than 3 redirects/i,
    );
  });

  it("refuses the loopback server without the allow-list, naming the private address", async () => {
    const refused = await importAs(t, `${remote.origin}/photo.png`);
    expect(expectProblem(refused, 422, "HERALD_MEDIA_IMPORT_REFUSED").detail).toContain("127.0.0.1");
  });

  it.each([
    ["http://localhost/photo.png", "localhost"],
    ["http://10.0.0.1/photo.png", "10.0.0.1"],
    ["http://169.254.169.254/latest/meta-data/", "169.254.169.254"],
    ["http://[::1]/photo.png", "::1"],
    ["http://0x7f000001/photo.png", "127.0.0.1"],
    ["http://2130706433/photo.png", "127.0.0.1"],
    ["http://0177.0.0.1/photo.png", "127.0.0.1"],
    ["http://[::ffff:127.0.0.1]/photo.png", "::ffff:7f00:1"],
    ["http://[fd00::1]/photo.png", "fd00::1"],
    ["http://100.64.0.1/photo.png", "100.64.0.1"],
    ["http://0.0.0.0/photo.png", "0.0.0.0"],
  ])("refuses %s (a private or reserved address)", async (url, named) => {
    const refused = await importAs(t, url);
    expect(expectProblem(refused, 422, "HERALD_MEDIA_IMPORT_REFUSED").detail).toContain(named);
  });

  it.each([
    "file:///etc/passwd",
    "ftp://example.com/photo.jpg",
    "gopher://example.com/",
    "not a url",
    "http://user:pass@example.com/a.jpg",
  ])("refuses %s (not a plain http(s) URL)", async (url) => {
    expectProblem(await importAs(t, url), 422, "HERALD_MEDIA_IMPORT_REFUSED");
  });

  it.each(["/to-private", "/to-metadata", "/to-ipv6-loopback"])(
    "refuses a redirect from an allowed host to a private address (%s)",
    async (route) => {
      const refused = await importAs(allowing, `${remote.origin}${route}`);
      expect(expectProblem(refused, 422, "HERALD_MEDIA_IMPORT_REFUSED").detail).toMatch(
        /private or reserved/,
      );
    },
  );

  it("refuses a body over the cap, announced or not, with 413", async () => {
    const announced = await importAs(allowing, `${remote.origin}/big`);
    expect(expectProblem(announced, 413, "HERALD_MEDIA_TOO_LARGE").detail).toContain(String(MAX_BYTES));
    expectProblem(await importAs(allowing, `${remote.origin}/big-chunked`), 413, "HERALD_MEDIA_TOO_LARGE");
  });

  it("gives up on a server that does not answer, or answers too slowly, with 504", async () => {
    const started = Date.now();
    const silent = await importAs(allowing, `${remote.origin}/never-answers`);
    expect(expectProblem(silent, 504, "HERALD_MEDIA_IMPORT_TIMEOUT").detail).toContain(
      String(IMPORT_TIMEOUT_MS),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(IMPORT_TIMEOUT_MS - 50);
    expectProblem(await importAs(allowing, `${remote.origin}/trickles`), 504, "HERALD_MEDIA_IMPORT_TIMEOUT");
  });

  it("answers 422 naming the status for a remote error, and for an unreachable server", async () => {
    const missing = await importAs(allowing, `${remote.origin}/missing.jpg`);
    expect(expectProblem(missing, 422, "HERALD_MEDIA_IMPORT_FAILED").detail).toContain("404");
    const unreachable = await importAs(allowing, `http://127.0.0.1:${closedPort}/photo.png`);
    expect(expectProblem(unreachable, 422, "HERALD_MEDIA_IMPORT_FAILED").detail).toMatch(/ECONNREFUSED/);
  });

  it("refuses imported content that is not an accepted type with 415", async () => {
    expectProblem(
      await importAs(allowing, `${remote.origin}/text.jpg`),
      415,
      "HERALD_MEDIA_UNSUPPORTED_TYPE",
    );
  });
});
