/**
 * The posting API, as a platform would offer it: bearer access tokens, the accounts their grant
 * covers, posts with an optional `Idempotency-Key`, and the fault injection of faults.ts on create.
 *
 * Every create call lands in the ledger with its outcome, whatever happens to it (refused before
 * the handler ran included): the chaos suite proves from the ledger that Herald never published
 * the same post twice.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import { z } from "zod";
import type { SandboxContext } from "./context.js";
import { apiErrorHandler } from "./error-handlers.js";
import { describeIssues, SandboxApiError } from "./errors.js";
import { fires, latencyOf } from "./faults.js";
import type { Account, Grant } from "./identity.js";
import type { LedgerEntry, Post } from "./posts.js";

const TEXT_LIMIT = 500;
const MEDIA_LIMIT = 4;

const HttpUrl = z.string().max(2048).refine(isHttpUrl, { message: "must be an absolute http(s) URL" });

const PostBody = z.strictObject({
  text: z
    .string()
    .refine((text) => text.trim().length > 0, { message: "must not be empty" })
    // Characters as people count them (code points), not UTF-16 units.
    .refine((text) => [...text].length <= TEXT_LIMIT, { message: `is at most ${TEXT_LIMIT} characters` }),
  mediaUrls: z
    .array(HttpUrl)
    .max(MEDIA_LIMIT, { message: `at most ${MEDIA_LIMIT} media URLs` })
    .optional(),
  link: HttpUrl.nullable().optional(),
});

const IdempotencyKey = z.string().min(1).max(255).optional();
/** The text of a body, valid or not, for the ledger. */
const AnyText = z.object({ text: z.string() });

const AccountParams = z.object({ accountId: z.string() });
const PostParams = z.object({ postId: z.string() });
const AccountPostParams = z.object({ accountId: z.string(), postId: z.string() });

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  since: z.iso.datetime({ offset: true }).optional(),
});

const CREATE_ROUTE = "/api/accounts/:accountId/posts";

export function apiRoutes(ctx: SandboxContext): FastifyPluginAsync {
  const { identity, posts } = ctx.store;

  return async (app) => {
    const createRoute = `${app.prefix}${CREATE_ROUTE}`;
    app.setErrorHandler(
      apiErrorHandler((error, request) => {
        if (request.method !== "POST" || request.routeOptions.url !== createRoute) return;
        const outcome =
          error.code === "rate_limited"
            ? "rate_limited"
            : error.code === "unavailable"
              ? "error"
              : "rejected";
        posts.record({ ...callFacts(request), outcome, postId: null });
      }),
    );
    // Herald's per-address rate limit does not apply: this stands for a remote platform, whose
    // limits are the injected 429s, and Herald's own benchmarks call it from one address.
    // Its requests log at warn and above only: Herald logs each call it makes ("platform call"),
    // and a second line per call from the pretend platform would double the log of publishing.
    const options = { schema: { hide: true }, config: { rateLimit: false }, logLevel: "warn" } as const;

    app.get("/api/me/accounts", options, async (request) => {
      const grant = authenticate(request);
      return { accounts: identity.accountsOf(grant).map(accountJson) };
    });

    app.post(CREATE_ROUTE, options, async (request, reply) => {
      const { accountId } = AccountParams.parse(request.params);
      authorizeAccount(authenticate(request), accountId);
      const key = IdempotencyKey.safeParse(request.headers["idempotency-key"]);
      if (!key.success) throw invalidPost("Idempotency-Key must be 1 to 255 characters.");
      const body = PostBody.safeParse(request.body);
      if (!body.success) throw invalidPost(describeIssues(body.error.issues));

      const faults = ctx.store.faults;
      const latency = latencyOf(faults, ctx.random);
      if (latency > 0) await delay(latency);
      if (fires(faults.rateLimitRate, ctx.random)) {
        throw new SandboxApiError(429, "rate_limited", "Too many posts; retry later.", {
          "retry-after": String(faults.retryAfterSeconds),
        });
      }
      if (fires(faults.errorRate, ctx.random)) {
        throw new SandboxApiError(503, "unavailable", "The Sandbox is having a bad moment; retry later.");
      }

      const draft = {
        text: body.data.text,
        mediaUrls: body.data.mediaUrls ?? [],
        link: body.data.link ?? null,
      };
      const result = posts.create(accountId, draft, key.data ?? null);
      if (result.kind === "key_reused") {
        throw new SandboxApiError(
          422,
          "idempotency_key_reused",
          "This Idempotency-Key was used on this account for a different post.",
        );
      }
      const facts = callFacts(request);
      const postJson = toPostJson(result.post, ctx.baseUrl(request));
      if (result.kind === "deduped") {
        posts.record({ ...facts, outcome: "deduped", postId: result.post.id });
        return reply.status(200).send(postJson);
      }
      if (fires(faults.timeoutAfterCreateRate, ctx.random)) {
        posts.record({ ...facts, outcome: "timeout_after_create", postId: result.post.id });
        ctx.holdThenDrop(reply, faults.hangMs);
        return reply;
      }
      posts.record({ ...facts, outcome: "created", postId: result.post.id });
      return reply.status(201).send(postJson);
    });

    app.get(CREATE_ROUTE, options, async (request) => {
      const { accountId } = AccountParams.parse(request.params);
      authorizeAccount(authenticate(request), accountId);
      const query = ListQuery.safeParse(request.query);
      if (!query.success) {
        throw new SandboxApiError(400, "invalid_request", describeIssues(query.error.issues));
      }
      const since = query.data.since === undefined ? undefined : Date.parse(query.data.since);
      const baseUrl = ctx.baseUrl(request);
      return {
        posts: posts.list(accountId, query.data.limit, since).map((post) => toPostJson(post, baseUrl)),
      };
    });

    app.get("/api/posts/:postId", options, async (request) => {
      const { postId } = PostParams.parse(request.params);
      const grant = authenticate(request);
      const post = posts.get(postId);
      if (!post) throw notFound(`No post ${postId}.`);
      authorizeAccount(grant, post.accountId);
      return toPostJson(post, ctx.baseUrl(request));
    });

    app.delete(`${CREATE_ROUTE}/:postId`, options, async (request, reply) => {
      const { accountId, postId } = AccountPostParams.parse(request.params);
      authorizeAccount(authenticate(request), accountId);
      if (!posts.delete(accountId, postId)) throw notFound(`No post ${postId} on account ${accountId}.`);
      return reply.status(204).send();
    });
  };

  /** The grant of the bearer access token (RFC 6750). */
  function authenticate(request: FastifyRequest): Grant {
    const match = /^Bearer +(\S+)$/i.exec(request.headers.authorization ?? "");
    if (!match?.[1]) {
      throw new SandboxApiError(
        401,
        "invalid_token",
        "Send an access token: `Authorization: Bearer <token>`.",
        {
          "www-authenticate": 'Bearer realm="sandbox"',
        },
      );
    }
    const access = identity.checkAccess(match[1]);
    if (access.ok) return access.grant;
    const expired = access.reason === "expired";
    throw new SandboxApiError(
      401,
      expired ? "token_expired" : "invalid_token",
      expired ? "The access token expired; refresh it." : "The access token is not valid or was revoked.",
      { "www-authenticate": 'Bearer realm="sandbox", error="invalid_token"' },
    );
  }

  function authorizeAccount(grant: Grant, accountId: string): Account {
    const account = identity.account(accountId);
    if (!account) throw notFound(`No account ${accountId}.`);
    if (!grant.accountIds.includes(accountId)) {
      throw new SandboxApiError(
        403,
        "forbidden",
        `This token does not grant access to account ${accountId}.`,
      );
    }
    return account;
  }
}

/** Who called and with what, read leniently from the request: the ledger records refusals too. */
function callFacts(request: FastifyRequest): Pick<LedgerEntry, "accountId" | "idempotencyKey" | "text"> {
  return {
    accountId: AccountParams.safeParse(request.params).data?.accountId ?? "",
    idempotencyKey: IdempotencyKey.safeParse(request.headers["idempotency-key"]).data ?? null,
    text: AnyText.safeParse(request.body).data?.text ?? null,
  };
}

function accountJson(account: Account) {
  return { id: account.id, name: account.name, handle: account.handle, username: account.username };
}

function toPostJson(post: Post, baseUrl: string) {
  return {
    id: post.id,
    accountId: post.accountId,
    text: post.text,
    mediaUrls: post.mediaUrls,
    link: post.link,
    url: `${baseUrl}/feed/${encodeURIComponent(post.accountId)}#post-${post.id}`,
    createdAt: new Date(post.createdAt).toISOString(),
    idempotencyKey: post.idempotencyKey,
  };
}

function invalidPost(message: string): SandboxApiError {
  return new SandboxApiError(422, "invalid_post", message);
}

function notFound(message: string): SandboxApiError {
  return new SandboxApiError(404, "not_found", message);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
