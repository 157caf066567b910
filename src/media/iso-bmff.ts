/**
 * A small reader of ISO base media files (MP4, QuickTime MOV; ISO/IEC 14496-12): just enough to
 * say what a video is. Top-level boxes are walked on the file itself (an `mdat` can be gigabytes,
 * and `moov` is often after it), then `moov` alone is read into memory and parsed.
 *
 * Every length read from the file is checked against the bytes that hold it: a malformed or
 * hostile file ends in `InvalidVideoError`, never in an out-of-range read or a huge allocation.
 */
import type { FileHandle } from "node:fs/promises";

export class InvalidVideoError extends Error {
  /** `unsupported`: a well-formed file of a kind Herald does not take (a HEIF image, audio only). */
  constructor(
    message: string,
    readonly unsupported = false,
  ) {
    super(message);
    this.name = "InvalidVideoError";
  }
}

export type VideoProbe = {
  container: "mp4" | "mov";
  mimeType: "video/mp4" | "video/quicktime";
  videoCodec: string;
  audioCodec: string | null;
  durationMs: number | null;
  width: number;
  height: number;
};

/** The largest `moov` read into memory; real ones are kilobytes to a few megabytes. */
const MAX_MOOV_BYTES = 64 * 1024 * 1024;
/** Top-level box types a classic QuickTime file may start with (no `ftyp`). */
const QUICKTIME_FIRST_BOXES = new Set(["moov", "mdat", "wide", "free", "skip"]);
/** `ftyp` brands of still images (HEIF, AVIF): ISO BMFF, but not video. */
const IMAGE_BRANDS = new Set(["heic", "heix", "heim", "heis", "mif1", "mif2", "msf1", "avif", "avis"]);

const FOURCC_NAMES: Record<string, string> = {
  avc1: "h264",
  avc3: "h264",
  hvc1: "hevc",
  hev1: "hevc",
  av01: "av1",
  vp08: "vp8",
  vp09: "vp9",
  mp4v: "mpeg4",
  mp4a: "aac",
  "ac-3": "ac3",
  "ec-3": "eac3",
  Opus: "opus",
  fLaC: "flac",
  ".mp3": "mp3",
};

type Box = { type: string; start: number; headerSize: number; size: number };

/** Whether these first bytes look like an ISO BMFF file (a box header Herald would probe). */
export function looksLikeIsoBmff(head: Buffer): boolean {
  if (head.length < 8) return false;
  const type = head.toString("latin1", 4, 8);
  return type === "ftyp" || QUICKTIME_FIRST_BOXES.has(type);
}

/**
 * Reads the box header at `offset` of a region ending at `end`. Handles 64-bit sizes (size 1)
 * and "to the end" (size 0); refuses a box that claims more than its region holds.
 */
function boxAt(bytes: Buffer, offset: number, end: number): Box {
  if (end - offset < 8) throw new InvalidVideoError("a box header is cut short");
  let size = bytes.readUInt32BE(offset);
  const type = bytes.toString("latin1", offset + 4, offset + 8);
  let headerSize = 8;
  if (size === 1) {
    if (end - offset < 16) throw new InvalidVideoError("a 64-bit box header is cut short");
    const large = bytes.readBigUInt64BE(offset + 8);
    if (large > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidVideoError(`the ${type} box is too large`);
    size = Number(large);
    headerSize = 16;
  } else if (size === 0) {
    size = end - offset;
  }
  if (type === "uuid") headerSize += 16;
  if (size < headerSize || offset + size > end)
    throw new InvalidVideoError(`the ${type} box has an impossible size`);
  return { type, start: offset, headerSize, size };
}

function* children(bytes: Buffer, start: number, end: number): Generator<Box> {
  let offset = start;
  while (offset < end) {
    // Some writers pad a container with a 4-byte zero terminator (QuickTime "udta").
    if (end - offset < 8) return;
    const box = boxAt(bytes, offset, end);
    yield box;
    offset += box.size;
  }
}

function child(bytes: Buffer, parent: Box, type: string): Box | undefined {
  for (const box of children(bytes, parent.start + parent.headerSize, parent.start + parent.size)) {
    if (box.type === type) return box;
  }
  return undefined;
}

/** A full box's payload (after version and flags), checked to hold at least `need` bytes. */
function fullBoxBody(box: Box, need: (version: number) => number, bytes: Buffer) {
  const at = box.start + box.headerSize;
  const end = box.start + box.size;
  if (end - at < 4) throw new InvalidVideoError(`the ${box.type} box is too short`);
  const version = bytes.readUInt8(at);
  if (end - at - 4 < need(version)) throw new InvalidVideoError(`the ${box.type} box is too short`);
  return { version, at: at + 4 };
}

/** Reads exactly `length` bytes at `position` (fewer means the file is cut short). */
async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

/** Probes an MP4 or MOV file: container, codecs, duration and the video track's display size. */
export async function probeIsoBmff(file: FileHandle, fileSize: number): Promise<VideoProbe> {
  let container: VideoProbe["container"] | undefined;
  let moov: Buffer | undefined;
  let offset = 0;
  let first = true;
  while (offset < fileSize && moov === undefined) {
    const head = await readAt(file, offset, Math.min(16, fileSize - offset));
    // A short tail (padding) after the last box ends the walk.
    if (head.length < 8) break;
    const header = topLevelBox(head, offset, fileSize);
    const realSize = header.size;
    if (first) {
      first = false;
      if (header.type === "ftyp") {
        const ftyp = await readAt(file, offset, Math.min(realSize, 4096));
        container = brandContainer(ftyp.subarray(header.headerSize));
      } else if (QUICKTIME_FIRST_BOXES.has(header.type)) {
        container = "mov";
      } else {
        throw new InvalidVideoError("the file does not start with an ISO BMFF box");
      }
    }
    if (header.type === "moov") {
      if (realSize > MAX_MOOV_BYTES) throw new InvalidVideoError("the moov box is unreasonably large");
      moov = await readAt(file, offset, realSize);
      if (moov.length !== realSize) throw new InvalidVideoError("the moov box is cut short");
    }
    offset += realSize;
  }
  if (!container) throw new InvalidVideoError("the file is empty");
  if (!moov) throw new InvalidVideoError("the file has no moov box (movie header)");
  return { container, mimeType: container === "mov" ? "video/quicktime" : "video/mp4", ...parseMoov(moov) };
}

/** A top-level box header read from the file (`head`: up to 16 bytes at `offset`). */
function topLevelBox(head: Buffer, offset: number, fileSize: number): Box {
  const size32 = head.readUInt32BE(0);
  const type = head.toString("latin1", 4, 8);
  let size = size32;
  let headerSize = 8;
  if (size32 === 1) {
    if (head.length < 16) throw new InvalidVideoError(`the ${type} box header is cut short`);
    const large = head.readBigUInt64BE(8);
    if (large > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidVideoError(`the ${type} box is too large`);
    size = Number(large);
    headerSize = 16;
  } else if (size32 === 0) {
    size = fileSize - offset;
  }
  if (size < headerSize || offset + size > fileSize)
    throw new InvalidVideoError(`the ${type} box runs past the end of the file`);
  return { type, start: offset, headerSize, size };
}

/** `mov` for QuickTime's brand, `mp4` for the ISO ones; HEIF and AVIF images are refused. */
function brandContainer(ftypBody: Buffer): VideoProbe["container"] {
  if (ftypBody.length < 8) throw new InvalidVideoError("the ftyp box is too short");
  const major = ftypBody.toString("latin1", 0, 4);
  if (IMAGE_BRANDS.has(major))
    throw new InvalidVideoError(`a still image (brand ${major.trim()}), not a video`, true);
  return major === "qt  " ? "mov" : "mp4";
}

type Track = {
  handler: string;
  format: string | null;
  width: number;
  height: number;
  rotated: boolean;
};

function parseMoov(moov: Buffer): Omit<VideoProbe, "container" | "mimeType"> {
  const root = boxAt(moov, 0, moov.length);
  let durationMs: number | null = null;
  const tracks: Track[] = [];
  for (const box of children(moov, root.headerSize, root.size)) {
    if (box.type === "mvhd") durationMs = movieDuration(moov, box);
    if (box.type === "trak") tracks.push(track(moov, box));
  }
  const video = tracks.find((t) => t.handler === "vide" && t.format !== null);
  if (!video?.format) throw new InvalidVideoError("a media file without a video track", true);
  if (video.width === 0 || video.height === 0) throw new InvalidVideoError("the video track has no size");
  const audio = tracks.find((t) => t.handler === "soun" && t.format !== null);
  return {
    videoCodec: codecName(video.format),
    audioCodec: audio?.format ? codecName(audio.format) : null,
    durationMs,
    // A phone's portrait video is stored landscape with a 90° matrix: platforms see it upright.
    width: video.rotated ? video.height : video.width,
    height: video.rotated ? video.width : video.height,
  };
}

function codecName(fourcc: string): string {
  return FOURCC_NAMES[fourcc] ?? fourcc.replace(/[^\x21-\x7e]/g, "").toLowerCase();
}

/** mvhd: timescale and duration (32-bit in version 0, 64-bit in version 1). All ones: unknown. */
function movieDuration(bytes: Buffer, box: Box): number | null {
  const { version, at } = fullBoxBody(box, (v) => (v === 1 ? 28 : 16), bytes);
  const timescale = bytes.readUInt32BE(at + (version === 1 ? 16 : 8));
  const duration = version === 1 ? bytes.readBigUInt64BE(at + 20) : BigInt(bytes.readUInt32BE(at + 12));
  const unknown = version === 1 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn;
  if (timescale === 0 || duration === unknown) return null;
  const ms = (duration * 1000n) / BigInt(timescale);
  return ms > 2_147_483_647n ? null : Number(ms);
}

function track(bytes: Buffer, trak: Box): Track {
  const result: Track = { handler: "", format: null, width: 0, height: 0, rotated: false };
  const tkhd = child(bytes, trak, "tkhd");
  if (tkhd) {
    // tkhd: ... reserved(8) layer(2) alternate_group(2) volume(2) reserved(2) matrix(36) width height
    const { version, at } = fullBoxBody(tkhd, (v) => (v === 1 ? 32 : 20) + 60, bytes);
    const matrixAt = at + (version === 1 ? 32 : 20) + 16;
    const a = bytes.readInt32BE(matrixAt);
    const b = bytes.readInt32BE(matrixAt + 4);
    const c = bytes.readInt32BE(matrixAt + 12);
    const d = bytes.readInt32BE(matrixAt + 16);
    result.rotated = a === 0 && d === 0 && b !== 0 && c !== 0;
    // 16.16 fixed point
    result.width = Math.round(bytes.readUInt32BE(matrixAt + 36) / 65536);
    result.height = Math.round(bytes.readUInt32BE(matrixAt + 40) / 65536);
  }
  const mdia = child(bytes, trak, "mdia");
  if (!mdia) return result;
  const hdlr = child(bytes, mdia, "hdlr");
  if (hdlr) {
    const { at } = fullBoxBody(hdlr, () => 8, bytes);
    result.handler = bytes.toString("latin1", at + 4, at + 8);
  }
  const stsd = descend(bytes, mdia, ["minf", "stbl", "stsd"]);
  if (stsd) {
    const { at } = fullBoxBody(stsd, () => 4, bytes);
    const count = bytes.readUInt32BE(at);
    const entriesAt = at + 4;
    const end = stsd.start + stsd.size;
    if (count > 0 && end - entriesAt >= 8) result.format = boxAt(bytes, entriesAt, end).type;
  }
  return result;
}

function descend(bytes: Buffer, from: Box, path: string[]): Box | undefined {
  let box: Box | undefined = from;
  for (const type of path) {
    box = box && child(bytes, box, type);
  }
  return box;
}
