import { z } from "zod";
import { ROLES } from "../access/permissions.js";
import { Id } from "../http/ids.js";

export const Slug = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "use 1-63 lowercase letters, digits and inner hyphens");

export const WorkspaceSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    slug: z.string(),
    role: z.enum(ROLES).nullable().meta({ description: "The caller's role; null for API keys." }),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "Workspace" });
export type Workspace = z.infer<typeof WorkspaceSchema>;

export const WorkspaceCreateSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    slug: Slug.optional().meta({ description: "Derived from the name when omitted." }),
  })
  .meta({ id: "WorkspaceCreate", examples: [{ name: "Northwind Agency" }] });

export const WorkspaceUpdateSchema = z
  .strictObject({ name: z.string().trim().min(1).max(200).optional(), slug: Slug.optional() })
  .refine((v) => v.name !== undefined || v.slug !== undefined, "give at least one of name, slug")
  .meta({ id: "WorkspaceUpdate", examples: [{ name: "Northwind Agency Ltd" }] });

export const WorkspaceParams = z.object({ workspaceId: Id });
