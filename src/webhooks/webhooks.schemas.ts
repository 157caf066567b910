import { z } from "zod";
import { Id } from "../http/ids.js";

/** The events a webhook can subscribe to. `webhook.test` is sent only on request (POST .../test). */
export const SUBSCRIBABLE_EVENTS = [
  "post.published",
  "post.failed",
  "post.unconfirmed",
  "account.needs_reconnection",
  "account.expiring",
] as const;

export const WEBHOOK_EVENT_TYPES = [...SUBSCRIBABLE_EVENTS, "webhook.test"] as const;

export const WebhookSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    description: z.string().nullable(),
    events: z
      .array(z.string())
      .meta({ description: 'The event types sent to this URL; `["*"]`: all of them.' }),
    enabled: z.boolean(),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "Webhook" });
export type Webhook = z.infer<typeof WebhookSchema>;

export const WebhookCreatedSchema = WebhookSchema.extend({
  secret: z.string().meta({
    description:
      "The signing secret (`whsec_` + base64), shown once, never again: store it now. Verify the " +
      "`webhook-signature` header with it (Standard Webhooks).",
  }),
}).meta({ id: "WebhookCreated" });

export const WebhookCreateSchema = z
  .strictObject({
    url: z
      .string()
      .trim()
      .min(8)
      .max(2048)
      .meta({
        description:
          "Where events are POSTed. https is recommended; http is accepted for intranets. Private and " +
          "reserved addresses are refused unless the operator allows them (HERALD_OUTBOUND_ALLOWLIST).",
      }),
    events: z
      .array(z.enum([...SUBSCRIBABLE_EVENTS, "*"]))
      .min(1)
      .max(SUBSCRIBABLE_EVENTS.length + 1)
      // "*" subscribes to every event, including ones added later.
      .transform((events) => (events.includes("*") ? ["*"] : [...new Set(events)])),
    description: z.string().trim().max(500).optional(),
  })
  .meta({
    id: "WebhookCreate",
    examples: [
      {
        url: "https://example.com/herald-events",
        events: ["post.published", "post.failed"],
        description: "Our CRM",
      },
    ],
  });
export type WebhookCreate = z.infer<typeof WebhookCreateSchema>;

export const WebhookUpdateSchema = z
  .strictObject({
    enabled: z.boolean().optional().meta({
      description: "false pauses deliveries: events are not recorded for it until it is enabled again.",
    }),
    events: WebhookCreateSchema.shape.events.optional(),
    description: z.string().trim().max(500).nullable().optional(),
  })
  .refine((change) => Object.keys(change).length > 0, "Give at least one of enabled, events, description.")
  .meta({ id: "WebhookUpdate", examples: [{ enabled: false }] });
export type WebhookUpdate = z.infer<typeof WebhookUpdateSchema>;

export const WebhookDeliverySchema = z
  .object({
    id: z.uuid(),
    webhookId: z.uuid(),
    eventType: z.string(),
    messageId: z.string().meta({ description: "The `webhook-id` header: the same on every retry." }),
    status: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int(),
    lastStatus: z
      .number()
      .int()
      .nullable()
      .meta({ description: "The HTTP status of the last attempt; null when no answer came." }),
    lastError: z.string().nullable(),
    lastAttemptAt: z.iso.datetime({ offset: true }).nullable(),
    deliveredAt: z.iso.datetime({ offset: true }).nullable(),
    createdAt: z.iso.datetime({ offset: true }),
  })
  .meta({ id: "WebhookDelivery" });
export type WebhookDelivery = z.infer<typeof WebhookDeliverySchema>;

export const WebhookParams = z.object({ workspaceId: Id, webhookId: Id });
