import { z } from "zod";
import { Id } from "../http/ids.js";
import { PageQuery } from "../http/pagination.js";
import { PLATFORMS } from "../providers/provider.js";

export const ACCOUNT_STATUSES = ["active", "expiring", "needs_reconnection", "disconnected"] as const;

export const AccountSchema = z
  .object({
    id: z.uuid(),
    platform: z.enum(PLATFORMS),
    platformAccountId: z.string(),
    name: z.string(),
    handle: z.string().nullable(),
    avatarUrl: z.string().nullable(),
    status: z.enum(ACCOUNT_STATUSES),
    statusReason: z
      .string()
      .nullable()
      .meta({ description: "Why the account needs attention, in plain words." }),
    scopes: z.array(z.string()).meta({ description: "Permissions the platform granted." }),
    missingScopes: z
      .array(z.string())
      .meta({ description: "Permissions Herald needs that were not granted." }),
    tokenExpiresAt: z.iso
      .datetime({ offset: true })
      .nullable()
      .meta({ description: "Null: the token does not expire." }),
    grantExpiresAt: z.iso
      .datetime({ offset: true })
      .nullable()
      .meta({ description: "When access ends unless the person reconnects." }),
    lastRefreshedAt: z.iso.datetime({ offset: true }).nullable(),
    clientIds: z.array(z.uuid()),
    connectedAt: z.iso.datetime({ offset: true }),
    disconnectedAt: z.iso.datetime({ offset: true }).nullable(),
  })
  .meta({ id: "Account" });
export type Account = z.infer<typeof AccountSchema>;

export const AccountQuery = PageQuery.extend({
  clientId: Id.optional(),
  platform: z.enum(PLATFORMS).optional(),
  status: z.enum(ACCOUNT_STATUSES).optional(),
});

export const AccountParams = z.object({ workspaceId: Id, accountId: Id });
export const AccountClientParams = z.object({ workspaceId: Id, accountId: Id, clientId: Id });
