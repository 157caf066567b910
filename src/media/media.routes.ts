import { createReadStream } from "node:fs";
import path from "node:path";
import multipart from "@fastify/multipart";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { workspaceScope } from "../access/workspace-access.js";
import { AppError, NotFoundError, ValidationError } from "../errors.js";
import type { AppDeps } from "../http/deps.js";
import { PageQuery, pageOf } from "../http/pagination.js";
import { NoContent, problemResponses } from "../http/problem.js";
import { WorkspaceParams } from "../workspaces/workspaces.schemas.js";
import { type IncomingFile, receiveStream, TooLargeError } from "./incoming.js";
import { MediaTooLargeError } from "./media.errors.js";
import { MediaFileParams, MediaImportSchema, MediaParams, MediaSchema } from "./media.schemas.js";
import * as service from "./media.service.js";
import { createMediaStore, LocalMediaStore } from "./media.store.js";
import { ACCEPTED_TYPES, EXTENSIONS } from "./probe.js";

const tags = ["Media"];
const base = "/api/v1/workspaces/:workspaceId/media";

const TYPE_OF_EXTENSION = new Map(Object.entries(EXTENSIONS).map(([type, extension]) => [extension, type]));
const FileBytes = z.unknown().meta({ description: "The file's bytes." });

export function mediaRoutes({ pool, config }: AppDeps): FastifyPluginAsyncZod {
  const scope = workspaceScope(pool);
  const store = createMediaStore(config);
  const { maxBytes, importTimeoutMs } = config.media;

  return async (app) => {
    // Here only: the rest of the API takes JSON. One file per request, capped.
    await app.register(multipart, {
      limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 4096, parts: 12 },
    });

    app.post(
      base,
      {
        schema: {
          tags,
          summary: "Upload a file (multipart/form-data, field `file`)",
          description: `Images (${ACCEPTED_TYPES.filter((t) => t.startsWith("image/")).join(", ")}) and videos (MP4, MOV), at most ${maxBytes} bytes. The type is read from the content; a non-JPEG image also gets a JPEG version.`,
          consumes: ["multipart/form-data"],
          params: WorkspaceParams,
          response: { 201: MediaSchema, ...problemResponses(400, 401, 403, 404, 413, 415, 422, 429) },
        },
      },
      async (request, reply) => {
        // Permission first: a caller who may not upload is refused before a byte is read.
        await scope(request, "media:write", async () => undefined);
        if (!request.isMultipart()) {
          throw new AppError(
            415,
            "HERALD_UNSUPPORTED_MEDIA_TYPE",
            "Unsupported media type",
            "Send the file as multipart/form-data in a field named `file`.",
          );
        }
        const part = await request.file({ limits: { fileSize: maxBytes } });
        if (part?.fieldname !== "file") {
          throw new ValidationError("Send the file in a multipart field named `file`.", [
            { path: "body.file", message: "is required", rule: "required" },
          ]);
        }
        const file = await receive(maxBytes, () =>
          receiveStream(part.file, maxBytes, () => part.file.truncated),
        );
        try {
          const media = await service.ingestMedia(
            store,
            (fn) => scope(request, "media:write", fn),
            file,
            { originalName: part.filename ? part.filename.slice(0, 500) : null, sourceUrl: null },
            request.log,
          );
          return reply.status(201).send(media);
        } finally {
          await file.dispose();
        }
      },
    );

    app.post(
      `${base}/import`,
      {
        schema: {
          tags,
          summary: "Import a file from a URL",
          description:
            "Herald fetches the URL itself: only public http(s) addresses (unless the operator allows more), at most 3 redirects, each checked again; the size limit and a time limit apply.",
          params: WorkspaceParams,
          body: MediaImportSchema,
          response: { 201: MediaSchema, ...problemResponses(400, 401, 403, 404, 413, 415, 422, 429, 504) },
        },
      },
      async (request, reply) => {
        // Permission first: a caller who may not import cannot make Herald fetch anything.
        await scope(request, "media:write", async () => undefined);
        const { url } = request.body;
        const { file, finalUrl } = await service.fetchRemote(url, {
          policy: { allowlist: config.outboundAllowlist },
          maxBytes,
          timeoutMs: importTimeoutMs,
        });
        try {
          const media = await service.ingestMedia(
            store,
            (fn) => scope(request, "media:write", fn),
            file,
            { originalName: nameInUrl(finalUrl), sourceUrl: url },
            request.log,
          );
          return reply.status(201).send(media);
        } finally {
          await file.dispose();
        }
      },
    );

    app.get(
      base,
      {
        schema: {
          tags,
          summary: "The workspace's media, newest first",
          params: WorkspaceParams,
          querystring: PageQuery,
          response: { 200: pageOf(MediaSchema), ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) => scope(request, "media:read", (tx) => service.listMedia(tx, store, request.query)),
    );

    app.get(
      `${base}/:mediaId`,
      {
        schema: {
          tags,
          summary: "One media file",
          params: MediaParams,
          response: { 200: MediaSchema, ...problemResponses(400, 401, 403, 404, 429) },
        },
      },
      async (request) =>
        scope(request, "media:read", (tx) => service.getMedia(tx, store, request.params.mediaId)),
    );

    app.delete(
      `${base}/:mediaId`,
      {
        schema: {
          tags,
          summary: "Delete a media file (refused while a post not yet published uses it)",
          params: MediaParams,
          response: { 204: NoContent, ...problemResponses(400, 401, 403, 404, 409, 429) },
        },
      },
      async (request, reply) => {
        const keys = await scope(request, "media:write", (tx, access) =>
          service.deleteMedia(tx, access, request.params.mediaId),
        );
        await service.removeObjects(store, keys, request.log);
        return reply.status(204).send(null);
      },
    );

    app.get(
      "/media/files/:storageKey",
      {
        schema: {
          tags,
          summary: "A stored file, by its public URL (local store)",
          description:
            "No authentication: platforms fetch media by URL. The key is random and unguessable. Supports single byte ranges.",
          params: MediaFileParams,
          response: { 200: FileBytes, 206: FileBytes, ...problemResponses(404, 416, 429) },
        },
        // Platforms fetch videos in many ranges from shared crawler addresses; files are static.
        config: { rateLimit: false },
      },
      async (request, reply) => {
        const { storageKey } = request.params;
        if (!(store instanceof LocalMediaStore)) throw new NotFoundError();
        const file = store.pathOf(storageKey);
        const size = await store.sizeOf(storageKey);
        const type = TYPE_OF_EXTENSION.get(path.extname(storageKey).slice(1));
        if (!file || size === undefined || !type) throw new NotFoundError();
        reply
          .header("content-type", type)
          .header("x-content-type-options", "nosniff")
          // The key names the bytes for ever: a new file gets a new key.
          .header("cache-control", "public, max-age=31536000, immutable")
          .header("accept-ranges", "bytes")
          .header("etag", `"${storageKey}"`)
          .header("cross-origin-resource-policy", "cross-origin");
        const range = parseRange(request.headers.range, size);
        if (range === "unsatisfiable") {
          reply.header("content-range", `bytes */${size}`);
          throw new AppError(
            416,
            "HERALD_RANGE_NOT_SATISFIABLE",
            "Range not satisfiable",
            `The file has ${size} bytes; the range asked for is outside it.`,
          );
        }
        if (range) {
          reply
            .status(206)
            .header("content-range", `bytes ${range.start}-${range.end}/${size}`)
            .header("content-length", String(range.end - range.start + 1));
          return reply.send(createReadStream(file, { start: range.start, end: range.end }));
        }
        reply.header("content-length", String(size));
        return reply.send(createReadStream(file));
      },
    );
  };
}

/** Reads an upload, turning "over the cap" into the 413 problem. */
async function receive(maxBytes: number, read: () => Promise<IncomingFile>): Promise<IncomingFile> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof TooLargeError) throw new MediaTooLargeError(error.maxBytes);
    const code = error instanceof Error && "code" in error ? error.code : undefined;
    if (code === "FST_REQ_FILE_TOO_LARGE") throw new MediaTooLargeError(maxBytes);
    throw error;
  }
}

/**
 * One byte range (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-`, `bytes=-n`. Several ranges or a
 * malformed header are ignored (the whole file is sent, as the RFC allows).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Number(last);
  if (last !== "" && end < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end: Math.min(end, size - 1) };
}

/** The file name at the end of a URL's path, if it has one. */
function nameInUrl(value: string): string | null {
  try {
    const name = decodeURIComponent(new URL(value).pathname.split("/").pop() ?? "");
    return name ? name.slice(0, 500) : null;
  } catch {
    return null;
  }
}
