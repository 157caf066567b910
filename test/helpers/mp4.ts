/**
 * A tiny ISO BMFF (MP4/MOV) writer for tests: real box layouts (ISO/IEC 14496-12) with just the
 * boxes a prober reads (ftyp, moov/mvhd, trak/tkhd, mdia/hdlr, minf/stbl/stsd, mdat). The media
 * data is filler: nothing decodes it.
 */

const u8 = (n: number) => Buffer.from([n]);
function u16(n: number) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
function i32(n: number) {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}
function u64(n: number | bigint) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
const fourcc = (type: string) => {
  if (type.length !== 4) throw new Error(`fourcc must be 4 characters: ${type}`);
  return Buffer.from(type, "latin1");
};

/** A box with a 32-bit size. */
export function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  return Buffer.concat([u32(8 + body.length), fourcc(type), body]);
}

/** A box with size 1 and a 64-bit `largesize`, as writers do for big `mdat`s. */
export function largeBox(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  return Buffer.concat([u32(1), fourcc(type), u64(16 + body.length), body]);
}

function fullBox(type: string, version: number, ...payload: Buffer[]): Buffer {
  return box(type, u8(version), Buffer.alloc(3), ...payload);
}

/** 3×3 transformation matrix (16.16 and 2.30 fixed point); `degrees` 0 or 90. */
function matrix(degrees: 0 | 90): Buffer {
  const one = 0x00010000;
  const [a, b, c, d] = degrees === 90 ? [0, one, -one, 0] : [one, 0, 0, one];
  return Buffer.concat([i32(a), i32(b), i32(0), i32(c), i32(d), i32(0), i32(0), i32(0), i32(0x40000000)]);
}

function mvhd(version: 0 | 1, timescale: number, duration: number | bigint): Buffer {
  const times =
    version === 1
      ? Buffer.concat([u64(0), u64(0), u32(timescale), u64(duration)])
      : Buffer.concat([u32(0), u32(0), u32(timescale), u32(Number(duration))]);
  // rate 1.0, volume 1.0, reserved, matrix, pre_defined, next_track_ID
  const rest = Buffer.concat([
    u32(0x00010000),
    u16(0x0100),
    Buffer.alloc(10),
    matrix(0),
    Buffer.alloc(24),
    u32(3),
  ]);
  return fullBox("mvhd", version, times, rest);
}

function tkhd(version: 0 | 1, trackId: number, width: number, height: number, rotation: 0 | 90): Buffer {
  const times =
    version === 1
      ? Buffer.concat([u64(0), u64(0), u32(trackId), u32(0), u64(0)])
      : Buffer.concat([u32(0), u32(0), u32(trackId), u32(0), u32(0)]);
  const rest = Buffer.concat([
    Buffer.alloc(8),
    u16(0),
    u16(0),
    u16(0),
    u16(0),
    matrix(rotation),
    u32(width * 65536),
    u32(height * 65536),
  ]);
  return fullBox("tkhd", version, times, rest);
}

function trak(options: {
  version: 0 | 1;
  trackId: number;
  handler: "vide" | "soun";
  format: string;
  width: number;
  height: number;
  rotation: 0 | 90;
}): Buffer {
  const hdlr = fullBox("hdlr", 0, u32(0), fourcc(options.handler), Buffer.alloc(12), Buffer.from("\0"));
  // A sample entry: 6 reserved bytes and a data reference index, then type-specific fields (zeros).
  const entry = box(
    options.format,
    Buffer.alloc(6),
    u16(1),
    Buffer.alloc(options.handler === "vide" ? 70 : 20),
  );
  const stsd = fullBox("stsd", 0, u32(1), entry);
  return box(
    "trak",
    tkhd(options.version, options.trackId, options.width, options.height, options.rotation),
    box("mdia", hdlr, box("minf", box("stbl", stsd))),
  );
}

export type Mp4Options = {
  /** `qt  ` makes a QuickTime MOV. */
  brand?: string;
  width?: number;
  height?: number;
  timescale?: number;
  duration?: number | bigint;
  videoFormat?: string;
  /** false: no video track (an audio-only file). */
  video?: boolean;
  /** null: no audio track. */
  audioFormat?: string | null;
  /** The movie header after the media data (as cameras write it). */
  moovAtEnd?: boolean;
  /** 64-bit box size on mdat. */
  largeMdat?: boolean;
  /** Version 1 (64-bit times) mvhd and tkhd. */
  version?: 0 | 1;
  rotation?: 0 | 90;
  mdatBytes?: number;
};

export function buildMp4(options: Mp4Options = {}): Buffer {
  const brand = options.brand ?? "isom";
  const version = options.version ?? 0;
  const width = options.width ?? 1280;
  const height = options.height ?? 720;
  const ftyp = box("ftyp", fourcc(brand), u32(0x200), fourcc(brand), fourcc("mp41"));
  const tracks: Buffer[] = [];
  if (options.video !== false) {
    const format = options.videoFormat ?? "avc1";
    tracks.push(
      trak({ version, trackId: 1, handler: "vide", format, width, height, rotation: options.rotation ?? 0 }),
    );
  }
  const audio = options.audioFormat === undefined ? "mp4a" : options.audioFormat;
  if (audio)
    tracks.push(
      trak({ version, trackId: 2, handler: "soun", format: audio, width: 0, height: 0, rotation: 0 }),
    );
  const moov = box("moov", mvhd(version, options.timescale ?? 1000, options.duration ?? 5000), ...tracks);
  const filler = Buffer.alloc(options.mdatBytes ?? 1024, 0x5a);
  const mdat = options.largeMdat ? largeBox("mdat", filler) : box("mdat", filler);
  return Buffer.concat(options.moovAtEnd ? [ftyp, mdat, moov] : [ftyp, moov, mdat]);
}
