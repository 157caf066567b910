import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AppDeps } from "../http/deps.js";
import { PLATFORMS, POST_FORMATS, platformName } from "./provider.js";

const MediaLimitsSchema = z
  .object({
    mimeTypes: z.array(z.string()),
    maxBytes: z.number().int().optional(),
    minWidth: z.number().int().optional(),
    maxWidth: z.number().int().optional(),
    minHeight: z.number().int().optional(),
    maxHeight: z.number().int().optional(),
    aspectRatio: z.object({ min: z.number(), max: z.number() }).optional(),
    minDurationMs: z.number().int().optional(),
    maxDurationMs: z.number().int().optional(),
    videoCodecs: z.array(z.string()).optional(),
  })
  .meta({ id: "MediaLimits" });
const KindLimits = z.object({ image: MediaLimitsSchema.optional(), video: MediaLimitsSchema.optional() });

const ProviderSchema = z
  .object({
    platform: z.enum(PLATFORMS),
    displayName: z.string(),
    connector: z
      .string()
      .meta({ description: "The connection flow; several platforms may share one (Facebook Login)." }),
    scopes: z.array(z.string()).meta({ description: "The permissions Herald asks for." }),
    capabilities: z.object({
      contentTypes: z.array(z.string()),
      formats: z.array(z.enum(POST_FORMATS)),
      text: z.object({
        maxLength: z.number().int(),
        maxHashtags: z.number().int().optional(),
        maxMentions: z.number().int().optional(),
        required: z.boolean().optional(),
      }),
      media: z.object({
        required: z.boolean(),
        maxCount: z.number().int(),
        carousel: z.object({ min: z.number().int(), max: z.number().int() }).optional(),
        image: MediaLimitsSchema.optional(),
        video: MediaLimitsSchema.optional(),
        mixed: z.boolean(),
        byFormat: z
          .object({ post: KindLimits.optional(), reel: KindLimits.optional(), story: KindLimits.optional() })
          .optional()
          .meta({ description: "Limits of formats that differ from a feed post's." }),
      }),
      link: z.boolean(),
      firstComment: z.boolean(),
    }),
    idempotency: z.enum(["native_key", "reconcile", "none"]),
    refreshable: z
      .boolean()
      .meta({ description: "Herald renews tokens itself; otherwise people reconnect before access ends." }),
  })
  .meta({ id: "Provider" });

export function providersRoutes({ registry }: AppDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/api/v1/providers",
      {
        config: { public: true },
        schema: {
          tags: ["Connections"],
          summary: "The platforms this Herald can connect and publish to, with their capabilities and limits",
          response: { 200: z.object({ items: z.array(ProviderSchema) }) },
        },
      },
      async () => ({
        items: [...registry.adapters.values()].map((adapter) => ({
          platform: adapter.platform,
          displayName: platformName(adapter.platform),
          connector: adapter.connector.id,
          scopes: adapter.connector.scopes,
          capabilities: adapter.capabilities,
          idempotency: adapter.idempotency,
          refreshable: adapter.refreshWindowSeconds !== null,
        })),
      }),
    );
  };
}
