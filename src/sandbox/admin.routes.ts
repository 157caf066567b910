/**
 * The admin API: the ledger, fault injection, every issued token, reset. No authentication: the
 * Sandbox is a fake network for one machine, and this is how tests and benchmarks drive it. It must
 * never be reachable on a public deployment (see README.md).
 */
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { SandboxContext } from "./context.js";
import { apiErrorHandler } from "./error-handlers.js";
import { describeIssues, SandboxApiError } from "./errors.js";
import { FaultsRequestSchema } from "./faults.js";

const LedgerQuery = z.object({
  accountId: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).default(1000),
});

export function adminRoutes(ctx: SandboxContext): FastifyPluginAsync {
  const { store } = ctx;

  return async (app) => {
    app.setErrorHandler(apiErrorHandler());
    const options = { schema: { hide: true }, config: { rateLimit: false } } as const;

    app.get("/admin/ledger", options, async (request) => {
      const query = LedgerQuery.safeParse(request.query);
      if (!query.success) throw invalidRequest(describeIssues(query.error.issues));
      const { entries, counts } = store.posts.readLedger(query.data.accountId, query.data.limit);
      return {
        entries: entries.map((entry) => ({
          at: new Date(entry.at).toISOString(),
          accountId: entry.accountId,
          idempotencyKey: entry.idempotencyKey,
          text: entry.text,
          outcome: entry.outcome,
          postId: entry.postId,
        })),
        counts,
      };
    });

    app.get("/admin/faults", options, async () => store.faults);

    app.put("/admin/faults", options, async (request) => {
      const parsed = FaultsRequestSchema.safeParse(request.body ?? {});
      if (!parsed.success) throw invalidRequest(describeIssues(parsed.error.issues));
      const { expireTokens, ...settings } = parsed.data;
      store.setFaults(settings);
      if (expireTokens) store.identity.expireAccessTokens(expireTokens);
      return store.faults;
    });

    app.get("/admin/tokens", options, async () => ({
      tokens: store.identity.tokenList().map(({ record, grant }) => ({
        token: record.token,
        type: record.type,
        grantId: record.grantId,
        username: grant?.username ?? null,
        accountIds: grant?.accountIds ?? [],
        expiresAt: new Date(record.expiresAt).toISOString(),
        // Revoked with its grant, or a refresh token already rotated away: either way it no longer works.
        revoked: !grant || grant.revokedAt !== null || record.rotatedAt !== null,
      })),
    }));

    app.post("/admin/reset", options, async (_request, reply) => {
      store.reset();
      return reply.status(204).send();
    });
  };
}

function invalidRequest(message: string): SandboxApiError {
  return new SandboxApiError(400, "invalid_request", message);
}
