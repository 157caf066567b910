import { z } from "zod";
import { Id } from "../http/ids.js";

/** An IANA time zone name that this runtime knows, e.g. `Europe/Paris`. */
export const TimeZone = z
  .string()
  .max(64)
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, "must be an IANA time zone such as Europe/Paris");

export const PostingTime = z.strictObject({
  weekday: z.number().int().min(1).max(7).meta({ description: "ISO weekday: 1 = Monday ... 7 = Sunday." }),
  time: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be HH:MM, 24-hour")
    .meta({ description: "Local time in the client's time zone." }),
});
export type PostingTime = z.infer<typeof PostingTime>;

const PostingTimes = z.array(PostingTime).max(200);

export const ClientSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    timezone: z.string(),
    postingTimes: z.array(PostingTime),
    requiresApproval: z.boolean(),
    createdAt: z.iso.datetime({ offset: true }),
    updatedAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "Client" });
export type Client = z.infer<typeof ClientSchema>;

export const ClientCreateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    timezone: TimeZone.default("UTC"),
    postingTimes: PostingTimes.default([]),
    requiresApproval: z.boolean().default(false),
  })
  .meta({
    id: "ClientCreate",
    examples: [
      {
        name: "Contoso Coffee",
        timezone: "Europe/Paris",
        postingTimes: [{ weekday: 1, time: "09:30" }],
        requiresApproval: true,
      },
    ],
  });
export type ClientCreate = z.infer<typeof ClientCreateSchema>;

export const ClientUpdateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    timezone: TimeZone.optional(),
    postingTimes: PostingTimes.optional(),
    requiresApproval: z.boolean().optional(),
  })
  .refine((v) => Object.values(v).some((value) => value !== undefined), "give at least one field to change")
  .meta({ id: "ClientUpdate", examples: [{ requiresApproval: false }] });
export type ClientUpdate = z.infer<typeof ClientUpdateSchema>;

export const ClientParams = z.object({ workspaceId: Id, clientId: Id });
