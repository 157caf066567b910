import { z } from "zod";
import { Id } from "../http/ids.js";
import { PageQuery } from "../http/pagination.js";
import { AUDIT_ACTION_NAMES, OUTCOMES, SEVERITIES } from "./catalogue.js";

const Time = z.iso.datetime({ offset: true });

const Filters = z.object({
  action: z.enum(AUDIT_ACTION_NAMES).optional(),
  actorId: Id.optional(),
  accountId: Id.optional(),
  clientId: Id.optional(),
  outcome: z.enum(OUTCOMES).optional(),
  severity: z.enum(SEVERITIES).optional(),
  from: Time.optional().meta({ description: "Events at or after this time." }),
  to: Time.optional().meta({ description: "Events before this time." }),
});

const orderedRange = <T extends { from?: string | undefined; to?: string | undefined }>(filters: T) =>
  filters.from === undefined ||
  filters.to === undefined ||
  Date.parse(filters.from) <= Date.parse(filters.to);

export const AuditQuery = Filters.extend(PageQuery.shape).refine(orderedRange, {
  path: ["from"],
  message: "must not be after `to`",
});
export type AuditQuery = z.infer<typeof AuditQuery>;
export type AuditFilters = z.infer<typeof Filters>;

export const AuditExportQuery = Filters.extend({ format: z.enum(["csv", "json"]).default("csv") }).refine(
  orderedRange,
  { path: ["from"], message: "must not be after `to`" },
);

export const AuditEventSchema = z
  .object({
    id: z.uuid(),
    createdAt: z.iso.datetime({ offset: true }),
    action: z.string(),
    outcome: z.enum(OUTCOMES),
    severity: z.enum(SEVERITIES),
    actor: z.object({
      type: z.enum(["user", "api_key", "system", "anonymous"]),
      id: z.uuid().nullable(),
      name: z.string().nullable(),
      email: z.string().nullable(),
    }),
    target: z.object({ type: z.string(), id: z.string() }).nullable(),
    clientId: z.uuid().nullable(),
    accountId: z.uuid().nullable(),
    subjectEmail: z.string().nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    requestId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    sealed: z
      .boolean()
      .meta({ description: "Linked into the workspace's hash chain (shortly after it was written)." }),
    erased: z.boolean().meta({ description: "Personal data pseudonymised (GDPR erasure)." }),
  })
  .meta({ id: "AuditEvent" });
export type AuditEventItem = z.infer<typeof AuditEventSchema>;

export const VerifySchema = z
  .object({
    ok: z.boolean(),
    checked: z.number().int(),
    firstBrokenId: z.uuid().nullable(),
    unsealed: z.number().int().meta({ description: "Recent events not linked into the chain yet." }),
  })
  .meta({ id: "AuditVerification" });
