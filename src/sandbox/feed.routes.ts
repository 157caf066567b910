/** The pages people look at: the index of users and accounts, and each account's feed. */
import type { FastifyPluginAsync } from "fastify";
import { z } from "zod";
import type { SandboxContext } from "./context.js";
import { pageErrorHandler } from "./error-handlers.js";
import { PageError } from "./errors.js";
import { feedPage, indexPage } from "./pages.js";

/** A feed page shows the newest posts only: benchmark accounts hold tens of thousands. */
const FEED_PAGE_SIZE = 200;

const FeedParams = z.object({ accountId: z.string() });

export function feedRoutes(ctx: SandboxContext): FastifyPluginAsync {
  const { identity, posts } = ctx.store;

  return async (app) => {
    app.setErrorHandler(pageErrorHandler(ctx));

    app.get("/", { schema: { hide: true } }, async (request, reply) => {
      const baseUrl = ctx.baseUrl(request);
      const directory = identity.directory().map(({ user, accounts }) => ({
        user,
        accounts: accounts.map((account) => ({ account, posts: posts.countLive(account.id) })),
      }));
      return reply.type("text/html; charset=utf-8").send(
        indexPage({
          indexUrl: `${baseUrl}/`,
          feedUrl: (accountId) => `${baseUrl}/feed/${encodeURIComponent(accountId)}`,
          directory,
        }),
      );
    });

    app.get("/feed/:accountId", { schema: { hide: true } }, async (request, reply) => {
      const { accountId } = FeedParams.parse(request.params);
      const account = identity.account(accountId);
      if (!account) throw new PageError(404, "No such account", `There is no Sandbox account ${accountId}.`);
      return reply.type("text/html; charset=utf-8").send(
        feedPage({
          indexUrl: `${ctx.baseUrl(request)}/`,
          account,
          posts: posts.list(accountId, FEED_PAGE_SIZE),
          total: posts.countLive(accountId),
        }),
      );
    });
  };
}
