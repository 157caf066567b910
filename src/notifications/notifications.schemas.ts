import { z } from "zod";
import { Id } from "../http/ids.js";

export const SEVERITIES = ["info", "warning", "error", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The events a channel can subscribe to; `notification.test` is sent only on request. */
export const NOTIFICATION_EVENTS = [
  "alert.fired",
  "alert.resolved",
  "account.needs_reconnection",
  "account.expiring",
] as const;

export const CHANNEL_KINDS = ["webhook", "slack", "email"] as const;

export const ChannelSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(CHANNEL_KINDS),
    name: z.string(),
    target: z.string().meta({
      description:
        "webhook: the URL; email: the address; slack: the incoming-webhook URL with its secret path " +
        "hidden (Herald keeps the whole URL encrypted).",
    }),
    minSeverity: z.enum(SEVERITIES),
    events: z.array(z.string()).meta({ description: 'The event types sent; `["*"]`: all of them.' }),
    enabled: z.boolean(),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "NotificationChannel" });
export type Channel = z.infer<typeof ChannelSchema>;

export const ChannelCreatedSchema = ChannelSchema.extend({
  secret: z.string().optional().meta({
    description:
      "webhook channels only: the Standard Webhooks signing secret (`whsec_` + base64), shown once.",
  }),
}).meta({ id: "NotificationChannelCreated" });

const common = {
  name: z.string().trim().min(1).max(200),
  minSeverity: z
    .enum(SEVERITIES)
    .default("warning")
    .meta({ description: "The least severe event sent to this channel (default warning)." }),
  events: z
    .array(z.enum([...NOTIFICATION_EVENTS, "*"]))
    .min(1)
    .max(NOTIFICATION_EVENTS.length + 1)
    .default(["*"])
    .transform((events) => (events.includes("*") ? ["*"] : [...new Set(events)])),
};
const url = z
  .string()
  .trim()
  .min(8)
  .max(2048)
  .meta({
    description:
      "Private and reserved addresses are refused (422) unless the operator allows them " +
      "(HERALD_OUTBOUND_ALLOWLIST).",
  });

export const ChannelCreateSchema = z
  .discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("webhook"), target: url, ...common }),
    z.strictObject({
      kind: z.literal("slack"),
      target: url.meta({ description: "The Slack incoming-webhook URL." }),
      ...common,
    }),
    z.strictObject({ kind: z.literal("email"), target: z.email().max(320), ...common }),
  ])
  .meta({
    id: "NotificationChannelCreate",
    examples: [
      {
        kind: "slack",
        name: "#ops",
        target: "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        minSeverity: "warning",
        events: ["alert.fired", "alert.resolved"],
      },
    ],
  });
export type ChannelCreate = z.infer<typeof ChannelCreateSchema>;

export const NotificationDeliverySchema = z
  .object({
    id: z.uuid(),
    channelId: z.uuid(),
    eventType: z.string(),
    severity: z.enum(SEVERITIES),
    messageId: z.string().meta({ description: "The same on every retry (`webhook-id` for webhooks)." }),
    status: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int(),
    lastStatus: z
      .number()
      .int()
      .nullable()
      .meta({ description: "HTTP status (webhook, slack) or SMTP reply code (email) of the last attempt." }),
    lastError: z.string().nullable(),
    lastAttemptAt: z.iso.datetime({ offset: true }).nullable(),
    deliveredAt: z.iso.datetime({ offset: true }).nullable(),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "NotificationDelivery" });
export type NotificationDelivery = z.infer<typeof NotificationDeliverySchema>;

export const ChannelParams = z.object({ workspaceId: Id, channelId: Id });
