import { z } from "zod";
import { Id } from "../http/ids.js";
import { PLATFORMS } from "../providers/provider.js";

export const AuthorizeSchema = z
  .strictObject({
    clientIds: z
      .array(Id)
      .max(100)
      .default([])
      .meta({ description: "Clients to link the accounts to once they are added." }),
  })
  .meta({ id: "ConnectionAuthorize", examples: [{ clientIds: [] }] });

export const AuthorizationSchema = z
  .object({
    authorizationUrl: z
      .url()
      .meta({ description: "Open it in a popup; the platform sends the person back to Herald." }),
    expiresAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "ConnectionAuthorization" });

export const PendingAccountSchema = z.object({
  platform: z.enum(PLATFORMS),
  platformAccountId: z.string(),
  name: z.string(),
  handle: z.string().nullable(),
  avatarUrl: z.string().nullable(),
  missingScopes: z.array(z.string()).meta({
    description: "Permissions Herald needs for this account that were not granted, by their platform name.",
  }),
  connectedAccountId: z
    .uuid()
    .nullable()
    .meta({ description: "Already connected in this workspace: confirming renews its access." }),
});
export type PendingAccount = z.infer<typeof PendingAccountSchema>;

export const PendingConnectionSchema = z
  .object({
    id: z.uuid(),
    platform: z.string(),
    clientIds: z.array(z.uuid()),
    accounts: z.array(PendingAccountSchema),
    createdAt: z.iso.datetime({ offset: true }),
    expiresAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "PendingConnection" });
export type PendingConnection = z.infer<typeof PendingConnectionSchema>;

export const ConfirmSchema = z
  .strictObject({
    platformAccountIds: z.array(z.string().min(1).max(200)).min(1).max(100),
    clientIds: z
      .array(Id)
      .max(100)
      .optional()
      .meta({ description: "Defaults to the clients chosen when connecting started." }),
  })
  .meta({ id: "ConnectionConfirm", examples: [{ platformAccountIds: ["acct_0123456789abcdef"] }] });

export const PlatformParams = z.object({ workspaceId: Id, platform: z.string().min(1).max(32) });
export const PendingParams = z.object({ workspaceId: Id, pendingId: Id });
