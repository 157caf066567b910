import { z } from "zod";
import { ROLES } from "../access/permissions.js";
import { Id } from "../http/ids.js";

export const MemberSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string().nullable().meta({ description: "Null until the invitation is accepted." }),
    role: z.enum(ROLES),
    status: z.enum(["invited", "active"]),
    limitedToClients: z
      .boolean()
      .meta({ description: "True: the member sees only `clientIds` (always true for the client role)." }),
    clientIds: z.array(z.uuid()).meta({ description: "The clients a limited member sees." }),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "Member" });
export type Member = z.infer<typeof MemberSchema>;

const ClientIds = z.array(Id).max(500);

export const MemberInviteSchema = z
  .strictObject({
    email: z
      .email()
      .max(254)
      .transform((e) => e.toLowerCase()),
    role: z.enum(ROLES),
    clientIds: ClientIds.optional().meta({
      description:
        "Limit the member to these clients; omitted or empty: every client (not allowed for the client role).",
    }),
  })
  .meta({ id: "MemberInvite", examples: [{ email: "sam@example.com", role: "editor" }] });
export type MemberInvite = z.infer<typeof MemberInviteSchema>;

export const MemberUpdateSchema = z
  .strictObject({ role: z.enum(ROLES).optional(), clientIds: ClientIds.optional() })
  .refine((v) => v.role !== undefined || v.clientIds !== undefined, "give at least one of role, clientIds")
  .meta({ id: "MemberUpdate", examples: [{ role: "manager" }] });
export type MemberUpdate = z.infer<typeof MemberUpdateSchema>;

export const MemberParams = z.object({ workspaceId: Id, memberId: Id });
