import { z } from "zod";
import { POST_FORMATS } from "../providers/provider.js";

/** A hard ceiling on text for every platform; each platform's own limit is checked per target. */
const MAX_TEXT = 100_000;

const HttpUrl = z
  .url({ protocol: /^https?$/, error: "must be an absolute http(s) URL" })
  .max(2048, "must be at most 2,048 characters");

const MediaIds = z.array(z.uuid()).max(20);

export const PostContentSchema = z
  .strictObject({
    text: z.string().max(MAX_TEXT).optional(),
    mediaIds: MediaIds.optional(),
    link: HttpUrl.nullable().optional(),
  })
  .meta({ id: "PostContent" });

export const TargetOverridesSchema = z
  .strictObject({
    text: z.string().max(MAX_TEXT).optional(),
    mediaIds: MediaIds.optional(),
    link: HttpUrl.nullable().optional(),
    firstComment: z.string().min(1).max(10_000).optional(),
    format: z.enum(POST_FORMATS).optional().meta({ description: "Instagram: post, reel or story." }),
  })
  .meta({ id: "TargetOverrides" });

const TargetInput = z.strictObject({
  accountId: z.uuid(),
  overrides: TargetOverridesSchema.optional(),
});

const When = {
  publishAt: z.iso
    .datetime({
      offset: true,
      error: "must be an RFC 3339 time with an offset, like 2026-12-01T09:30:00+01:00",
    })
    .optional(),
  publishNow: z.literal(true).optional(),
  draft: z.boolean().optional(),
};

export const PostCreateSchema = z
  .strictObject({
    clientId: z.uuid().optional(),
    content: PostContentSchema,
    targets: z.array(TargetInput).min(1, "must name at least one account").max(50),
    ...When,
  })
  .superRefine((body, ctx) => {
    if (!body.draft && body.publishAt === undefined && !body.publishNow)
      ctx.addIssue({
        code: "custom",
        path: ["publishAt"],
        message: "is required unless publishNow or draft is true",
      });
    if (body.publishNow && (body.publishAt !== undefined || body.draft))
      ctx.addIssue({
        code: "custom",
        path: ["publishNow"],
        message: "cannot be combined with publishAt or draft",
      });
  })
  .meta({
    id: "PostCreate",
    examples: [
      {
        content: { text: "Our autumn menu is here." },
        targets: [{ accountId: "8a0c5f8e-5b7e-4d59-9a38-6f3d2f1c9b10" }],
        publishAt: "2026-12-01T09:30:00+01:00",
      },
    ],
  });
export type PostCreate = z.infer<typeof PostCreateSchema>;

export const PostUpdateSchema = z
  .strictObject({
    content: PostContentSchema.optional(),
    targets: z.array(TargetInput).min(1).max(50).optional(),
    ...When,
  })
  .superRefine((body, ctx) => {
    if (body.publishNow && (body.publishAt !== undefined || body.draft))
      ctx.addIssue({
        code: "custom",
        path: ["publishNow"],
        message: "cannot be combined with publishAt or draft",
      });
  })
  .meta({ id: "PostUpdate", examples: [{ publishAt: "2026-12-01T10:00:00+01:00" }] });
export type PostUpdate = z.infer<typeof PostUpdateSchema>;

export const TARGET_STATUSES = [
  "draft",
  "pending_approval",
  "scheduled",
  "publishing",
  "published",
  "failed",
  "unconfirmed",
  "cancelled",
] as const;
export type TargetStatus = (typeof TARGET_STATUSES)[number];

/** A post's status: its targets' when they agree, else what a person needs to know first. */
export const POST_STATUSES = [...TARGET_STATUSES, "partially_published"] as const;
export type PostStatus = (typeof POST_STATUSES)[number];

const Time = z.iso.datetime({ offset: true });

export const AttemptSchema = z
  .object({
    attempt: z.number().int(),
    startedAt: Time,
    endedAt: Time.nullable(),
    outcome: z.string().nullable(),
    httpStatus: z.number().int().nullable(),
    platformCode: z.string().nullable(),
    platformSubcode: z.string().nullable(),
    message: z.string().nullable(),
    latencyMs: z.number().int().nullable(),
    latenessMs: z.number().int().nullable(),
  })
  .meta({ id: "PublishAttempt" });

export const TargetSchema = z
  .object({
    id: z.uuid(),
    accountId: z.uuid(),
    platform: z.string(),
    status: z.enum(TARGET_STATUSES),
    overrides: TargetOverridesSchema,
    publishAt: Time.nullable(),
    attempts: z.number().int(),
    nextAttemptAt: Time.nullable(),
    platformPostId: z.string().nullable(),
    platformUrl: z.string().nullable(),
    publishedAt: Time.nullable(),
    error: z.object({ code: z.string().nullable(), message: z.string() }).nullable(),
    attemptLog: z.array(AttemptSchema).optional(),
  })
  .meta({ id: "PostTarget" });
export type Target = z.infer<typeof TargetSchema>;

export const PostSchema = z
  .object({
    id: z.uuid(),
    clientId: z.uuid().nullable(),
    status: z.enum(POST_STATUSES),
    content: PostContentSchema,
    publishAt: Time.nullable(),
    approval: z.object({
      state: z.enum(["none", "pending", "approved", "rejected"]),
      approvedBy: z.uuid().nullable(),
      approvedAt: Time.nullable(),
      rejectedBy: z.uuid().nullable(),
      rejectedAt: Time.nullable(),
      reason: z.string().nullable(),
    }),
    version: z.number().int(),
    createdBy: z.uuid().nullable(),
    createdAt: Time,
    updatedAt: Time,
    targets: z.array(TargetSchema),
  })
  .meta({ id: "Post" });
export type Post = z.infer<typeof PostSchema>;

export const PostParams = z.object({ workspaceId: z.uuid(), postId: z.uuid() });

export const PostListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().min(1).max(512).optional(),
  status: z.enum(POST_STATUSES).optional(),
  clientId: z.uuid().optional(),
  accountId: z.uuid().optional(),
  from: Time.optional(),
  to: Time.optional(),
});

export const CalendarQuery = z
  .object({
    from: Time,
    to: Time,
    clientId: z.uuid().optional(),
  })
  .meta({
    examples: [{ from: "2026-12-01T00:00:00+01:00", to: "2027-01-01T00:00:00+01:00", clientId: ":clientId" }],
  });

export const RejectSchema = z
  .strictObject({
    reason: z.string().trim().min(1, "is required: say what to change").max(2000),
  })
  .meta({ examples: [{ reason: "The price in the second line is wrong." }] });

export const NextSlotQuery = z
  .object({
    clientId: z.uuid(),
    after: Time.optional(),
  })
  .meta({ examples: [{ clientId: ":clientId" }] });

export const ValidationResultSchema = z
  .object({
    valid: z.boolean(),
    errors: z.array(z.object({ path: z.string(), message: z.string(), rule: z.string().optional() })),
    targets: z.array(
      z.object({
        accountId: z.uuid(),
        platform: z.string().nullable(),
        valid: z.boolean(),
        /** Characters used and allowed, for counters. */
        text: z.object({ length: z.number().int(), maxLength: z.number().int().nullable() }),
      }),
    ),
  })
  .meta({ id: "PostValidation" });
