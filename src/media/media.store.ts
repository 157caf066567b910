/**
 * Where media bytes live: a directory on local disk (served by Herald at /media/files/{key}) or an
 * S3-compatible bucket (served by the bucket or its CDN). Keys are random and unguessable, because
 * platforms fetch media by a public URL without credentials.
 */

import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, mkdir, rename, rm, stat } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import type { Config } from "../config.js";
import { EMPTY_PAYLOAD_SHA256, signRequest } from "./sigv4.js";

/** A stored object's key: 32 random hex characters and the extension of its type. */
export const STORAGE_KEY = /^[0-9a-f]{32}\.(jpg|png|webp|gif|mp4|mov)$/;

export function newStorageKey(extension: string): string {
  return `${randomBytes(16).toString("hex")}.${extension}`;
}

export type StoredFile = { mimeType: string; sizeBytes: number; sha256: Buffer };

export interface MediaStore {
  readonly kind: "local" | "s3";
  /** Stores the local file at `source` under `key` (the source is left in place). */
  put(key: string, source: string, file: StoredFile): Promise<void>;
  /** Removes the object; a missing one is not an error. */
  remove(key: string): Promise<void>;
  /** The public URL platforms fetch the object at. */
  url(key: string): string;
}

export class LocalMediaStore implements MediaStore {
  readonly kind = "local";

  constructor(
    readonly dir: string,
    private readonly publicUrl: URL,
  ) {}

  /** The file of a key, or undefined for a key that is not one Herald makes. */
  pathOf(key: string): string | undefined {
    return STORAGE_KEY.test(key) ? path.join(this.dir, key) : undefined;
  }

  async put(key: string, source: string): Promise<void> {
    const target = this.pathOf(key);
    if (!target) throw new TypeError(`not a storage key: ${key}`);
    await mkdir(this.dir, { recursive: true });
    // Copied under a temporary name then renamed: a reader never sees half a file.
    const temporary = path.join(this.dir, `.incoming-${randomBytes(8).toString("hex")}`);
    try {
      await copyFile(source, temporary);
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async remove(key: string): Promise<void> {
    const target = this.pathOf(key);
    if (target) await rm(target, { force: true });
  }

  /** Size of the stored file, or undefined when there is none. */
  async sizeOf(key: string): Promise<number | undefined> {
    const target = this.pathOf(key);
    if (!target) return undefined;
    try {
      const info = await stat(target);
      return info.isFile() ? info.size : undefined;
    } catch {
      return undefined;
    }
  }

  url(key: string): string {
    return `${this.publicUrl.href.replace(/\/+$/, "")}/media/files/${key}`;
  }
}

type S3Settings = Extract<Config["media"]["store"], { kind: "s3" }>;

/** An S3-compatible bucket, addressed path-style (`{endpoint}/{bucket}/{key}`: MinIO, R2, S3). */
export class S3MediaStore implements MediaStore {
  readonly kind = "s3";

  constructor(private readonly settings: S3Settings) {}

  private objectUrl(key: string): URL {
    return new URL(`${this.settings.endpoint}/${this.settings.bucket}/${encodeURIComponent(key)}`);
  }

  async put(key: string, source: string, file: StoredFile): Promise<void> {
    const url = this.objectUrl(key);
    const headers = {
      "content-type": file.mimeType,
      "content-length": String(file.sizeBytes),
      "cache-control": "public, max-age=31536000, immutable",
    };
    const signed = signRequest(this.settings, {
      method: "PUT",
      url,
      headers,
      payloadSha256: file.sha256.toString("hex"),
    });
    await this.send("PUT", url, { ...headers, ...signed }, source);
  }

  async remove(key: string): Promise<void> {
    const url = this.objectUrl(key);
    const signed = signRequest(this.settings, {
      method: "DELETE",
      url,
      headers: {},
      payloadSha256: EMPTY_PAYLOAD_SHA256,
    });
    await this.send("DELETE", url, signed);
  }

  url(key: string): string {
    return `${this.settings.publicUrl}/${key}`;
  }

  private send(method: string, url: URL, headers: Record<string, string>, bodyFile?: string): Promise<void> {
    const transport = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(url, { method, headers, timeout: 120_000 }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size <= 4096) chunks.push(chunk);
        });
        response.on("end", () => {
          const status = response.statusCode ?? 0;
          // 404 on DELETE: already gone.
          if ((status >= 200 && status < 300) || (method === "DELETE" && status === 404)) return resolve();
          const code = /<Code>([^<]{1,100})<\/Code>/.exec(Buffer.concat(chunks).toString("utf8"))?.[1];
          reject(new Error(`S3 ${method} answered ${status}${code ? ` ${code}` : ""}`));
        });
        response.on("error", reject);
      });
      request.on("timeout", () => request.destroy(new Error(`S3 ${method} timed out`)));
      request.on("error", reject);
      if (bodyFile) {
        const stream = createReadStream(bodyFile);
        stream.on("error", (error) => request.destroy(error));
        stream.pipe(request);
      } else {
        request.end();
      }
    });
  }
}

/** The store the configuration names. Nothing is touched until the first file is stored. */
export function createMediaStore(config: Config): MediaStore {
  const store = config.media.store;
  return store.kind === "local" ? new LocalMediaStore(store.dir, config.publicUrl) : new S3MediaStore(store);
}
