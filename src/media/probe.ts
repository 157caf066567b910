/**
 * What a file is, decided by its content alone: never by its name or the MIME type a client or a
 * remote server claims. Images are read with sharp (type, size after EXIF orientation); videos
 * with the ISO BMFF reader (iso-bmff.ts).
 */
import { open } from "node:fs/promises";
import sharp, { type Metadata } from "sharp";
import { InvalidVideoError, looksLikeIsoBmff, probeIsoBmff } from "./iso-bmff.js";

// sharp keeps recently read files open by default; Herald reads each temporary file once.
sharp.cache({ files: 0 });

export const ACCEPTED_TYPES = [
  "image/jpeg",
  "image/png",
  "image/webp",
  "image/gif",
  "video/mp4",
  "video/quicktime",
] as const;
export type AcceptedType = (typeof ACCEPTED_TYPES)[number];

export const EXTENSIONS: Record<AcceptedType, string> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
  "image/gif": "gif",
  "video/mp4": "mp4",
  "video/quicktime": "mov",
};

export type Probe =
  | { kind: "image"; mimeType: AcceptedType; width: number; height: number }
  | {
      kind: "video";
      mimeType: AcceptedType;
      width: number;
      height: number;
      durationMs: number | null;
      container: string;
      videoCodec: string;
      audioCodec: string | null;
    };

/** The file is not one of the accepted types (415). */
export class UnsupportedTypeError extends Error {
  constructor(readonly found: string) {
    super(`The file is ${found}.`);
    this.name = "UnsupportedTypeError";
  }
}

/** The file has an accepted type's signature but cannot be read as one (422). */
export class UnreadableMediaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnreadableMediaError";
  }
}

const SHARP_FORMATS: Record<string, AcceptedType> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  gif: "image/gif",
};

/** The image type named by the first bytes (magic numbers), if any. */
function imageSignature(head: Buffer): AcceptedType | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "image/jpeg";
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return "image/png";
  const start = head.toString("latin1", 0, 6);
  if (start === "GIF87a" || start === "GIF89a") return "image/gif";
  if (head.toString("latin1", 0, 4) === "RIFF" && head.toString("latin1", 8, 12) === "WEBP")
    return "image/webp";
  return undefined;
}

/** A rough name for a file Herald refuses, for the 415's message. */
function describeUnknown(head: Buffer): string {
  if (head.length === 0) return "empty";
  const start = head.toString("latin1", 0, 8);
  if (start.startsWith("%PDF")) return "a PDF document";
  if (start.startsWith("II*\0") || start.startsWith("MM\0*")) return "a TIFF image";
  if (start.startsWith("BM")) return "a BMP image";
  if (head.toString("latin1", 4, 8) === "ftyp")
    return `an ISO media file of brand "${head.toString("latin1", 8, 12)}"`;
  if (start.startsWith("RIFF")) return "a RIFF file that is not WebP";
  const printable = head
    .subarray(0, 64)
    .every((byte) => byte === 9 || byte === 10 || byte === 13 || (byte >= 32 && byte < 127));
  return printable ? "text" : "of an unknown type";
}

/** Probes the file at `path` (of `size` bytes). Throws UnsupportedTypeError or UnreadableMediaError. */
export async function probeFile(path: string, size: number): Promise<Probe> {
  const file = await open(path, "r");
  try {
    const head = Buffer.alloc(Math.min(64, size));
    await file.read(head, 0, head.length, 0);
    const image = imageSignature(head);
    if (image) return await probeImage(path, image);
    if (looksLikeIsoBmff(head)) {
      try {
        const video = await probeIsoBmff(file, size);
        return { kind: "video", ...video };
      } catch (error) {
        if (!(error instanceof InvalidVideoError)) throw error;
        // A HEIF/AVIF image or an audio-only file is a type Herald does not take; a broken
        // MP4 is an unreadable one.
        if (error.unsupported) throw new UnsupportedTypeError(error.message);
        throw new UnreadableMediaError(`The video cannot be read: ${error.message}.`);
      }
    }
    throw new UnsupportedTypeError(describeUnknown(head));
  } finally {
    await file.close();
  }
}

async function probeImage(path: string, signature: AcceptedType): Promise<Probe> {
  let metadata: Metadata;
  try {
    metadata = await sharp(path).metadata();
  } catch {
    throw new UnreadableMediaError(`The file starts like ${signature} but cannot be decoded.`);
  }
  const mimeType = metadata.format ? SHARP_FORMATS[metadata.format] : undefined;
  if (!mimeType || mimeType !== signature)
    throw new UnreadableMediaError(`The file starts like ${signature} but cannot be decoded.`);
  // autoOrient: the size once EXIF orientation is applied (a portrait photo stored sideways).
  const { width, height } = metadata.autoOrient;
  if (!width || !height) throw new UnreadableMediaError("The image has no size.");
  return { kind: "image", mimeType, width, height };
}

/**
 * A JPEG of the image (upright, transparency flattened on white), for platforms that take JPEG
 * only (Instagram). An animated GIF gives its first frame.
 */
export async function renderJpeg(path: string, outputPath: string): Promise<{ sizeBytes: number }> {
  const info = await sharp(path)
    .rotate()
    .flatten({ background: "#ffffff" })
    .jpeg({ quality: 90, mozjpeg: true })
    .toFile(outputPath);
  return { sizeBytes: info.size };
}
