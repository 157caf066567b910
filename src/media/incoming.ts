/**
 * A file on its way in: written to a private temporary directory as it arrives (an upload can be
 * a gigabyte; it never sits in memory), hashed and counted on the way, removed once stored.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

export type IncomingFile = {
  path: string;
  /** Where renditions may be written next to the file. */
  dir: string;
  sizeBytes: number;
  sha256: Buffer;
  /** Removes the temporary directory and everything in it. */
  dispose(): Promise<void>;
};

/** More bytes than the cap arrived. */
export class TooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`larger than ${maxBytes} bytes`);
    this.name = "TooLargeError";
  }
}

async function workDir(): Promise<{ dir: string; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "herald-media-"));
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Writes a stream to a temporary file, refusing it past `maxBytes`. `truncated` tells whether the
 * producer itself cut the stream at a limit (a multipart parser does, and then ends it quietly).
 */
export async function receiveStream(
  source: Readable,
  maxBytes: number,
  truncated: () => boolean = () => false,
): Promise<IncomingFile> {
  const { dir, dispose } = await workDir();
  const file = path.join(dir, "original");
  const hash = createHash("sha256");
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new TooLargeError(maxBytes));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, meter, createWriteStream(file, { mode: 0o600 }));
    if (truncated()) throw new TooLargeError(maxBytes);
  } catch (error) {
    await dispose();
    throw error;
  }
  return { path: file, dir, sizeBytes: size, sha256: hash.digest(), dispose };
}

/** A body already in memory (an import), written out so that it is probed like an upload. */
export async function receiveBuffer(body: Buffer): Promise<IncomingFile> {
  const { dir, dispose } = await workDir();
  const file = path.join(dir, "original");
  try {
    await writeFile(file, body, { mode: 0o600 });
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    path: file,
    dir,
    sizeBytes: body.length,
    sha256: createHash("sha256").update(body).digest(),
    dispose,
  };
}
