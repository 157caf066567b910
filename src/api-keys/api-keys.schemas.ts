import { z } from "zod";
import { SCOPES } from "../access/permissions.js";
import { Id } from "../http/ids.js";

export const ApiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().meta({ description: "The first characters of the secret, to tell keys apart." }),
    scopes: z.array(z.enum(SCOPES)),
    createdAt: z.iso.datetime({ offset: true }),
    expiresAt: z.iso.datetime({ offset: true }).nullable(),
    lastUsedAt: z.iso.datetime({ offset: true }).nullable(),
    revokedAt: z.iso.datetime({ offset: true }).nullable(),
  })
  .meta({ id: "ApiKey" });
export type ApiKey = z.infer<typeof ApiKeySchema>;

export const ApiKeyCreatedSchema = ApiKeySchema.extend({
  secret: z.string().meta({ description: "Shown once, never again: store it now." }),
}).meta({ id: "ApiKeyCreated" });

export const ApiKeyCreateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    scopes: z
      .array(z.enum(SCOPES))
      .min(1)
      .transform((scopes) => [...new Set(scopes)]),
    expiresAt: z.iso
      .datetime({ offset: true })
      // Checked only once the value is a date-time: one error per problem.
      .pipe(z.string().refine((value) => Date.parse(value) > Date.now(), "must be in the future"))
      .optional(),
  })
  .meta({ id: "ApiKeyCreate", examples: [{ name: "Publishing script", scopes: ["posts:write"] }] });
export type ApiKeyCreate = z.infer<typeof ApiKeyCreateSchema>;

export const ApiKeyParams = z.object({ workspaceId: Id, keyId: Id });
