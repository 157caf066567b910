import { z } from "zod";
import { Id } from "../http/ids.js";

export const MediaSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(["image", "video"]),
    url: z.string().meta({ description: "Public URL of the file (platforms fetch it without credentials)." }),
    mimeType: z.string().meta({ description: "The type found in the file's content." }),
    size: z.number().int().meta({ description: "Bytes." }),
    width: z
      .number()
      .int()
      .nullable()
      .meta({ description: "Pixels, as displayed (EXIF orientation and video rotation applied)." }),
    height: z.number().int().nullable(),
    durationMs: z.number().int().nullable().optional().meta({ description: "Videos only." }),
    container: z.string().nullable().meta({ description: "Videos: mp4 or mov." }),
    videoCodec: z
      .string()
      .nullable()
      .meta({ description: "Videos: h264, hevc, av1, ... or the sample entry's fourcc." }),
    audioCodec: z
      .string()
      .nullable()
      .meta({ description: "Videos: aac, ... or null without an audio track." }),
    jpegUrl: z
      .string()
      .nullable()
      .meta({ description: "Images: a JPEG version (the file itself, or a rendition made at upload)." }),
    sha256: z.string().meta({ description: "SHA-256 of the file, hex." }),
    originalName: z.string().nullable(),
    sourceUrl: z.string().nullable().meta({ description: "The URL an imported file came from." }),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "Media" });
export type Media = z.infer<typeof MediaSchema>;

export const MediaImportSchema = z
  .strictObject({
    url: z.string().min(1).max(2048).meta({ description: "An http(s) URL of a public server." }),
  })
  .meta({ id: "MediaImport", examples: [{ url: "https://example.com/photo.jpg" }] });
export type MediaImport = z.infer<typeof MediaImportSchema>;

export const MediaParams = z.object({ workspaceId: Id, mediaId: Id });

export const MediaFileParams = z.object({
  storageKey: z.string().max(64).meta({ description: "The random key of a stored file." }),
});
