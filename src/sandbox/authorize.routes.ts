/**
 * The authorization endpoint (RFC 6749 §4.1.1 with PKCE, RFC 7636) and its consent page.
 *
 * A request that cannot be trusted to redirect (unknown client, bad redirect_uri) or that breaks
 * the rules Herald must follow (response_type=code, S256 PKCE) gets an HTML error page, never a
 * redirect. The consent form carries only an opaque single-use id; the parameters stay here.
 */
import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { z } from "zod";
import type { SandboxContext } from "./context.js";
import { pageErrorHandler } from "./error-handlers.js";
import { describeIssues, PageError } from "./errors.js";
import type { ConsentRequest } from "./identity.js";
import { consentPage } from "./pages.js";

const DEFAULT_USERNAME = "demo";
const DEFAULT_ACCOUNTS = ["Sandbox Page", "Sandbox Shop"];
const DEFAULT_SCOPE = "accounts:read posts:write";

/** Repeated parameters arrive as arrays and are refused by `z.string()`. */
const AuthorizeQuery = z.object({
  response_type: z.string().optional(),
  client_id: z.string().optional(),
  redirect_uri: z.string().optional(),
  state: z.string().max(2000).optional(),
  code_challenge: z.string().optional(),
  code_challenge_method: z.string().optional(),
  scope: z.string().max(1000).optional(),
  auto_approve: z.string().optional(),
  sandbox_user: z.string().optional(),
  sandbox_accounts: z.string().optional(),
});

const DecisionForm = z.object({
  consent_request: z.string().max(200),
  decision: z.enum(["approve", "deny"]),
  username: z.string().max(1000).optional(),
  accounts: z.string().max(10_000).optional(),
});

const Username = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, "A username is 1 to 64 letters, digits, dots, dashes or underscores.");

const AccountNames = z
  .string()
  .transform((list) => [...new Set(list.split(",").map((name) => name.trim()))].filter(Boolean))
  .pipe(
    z
      .array(
        z
          .string()
          .max(80, "An account name has at most 80 characters.")
          // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
          .regex(/^[^\u0000-\u001f\u007f]*$/, "An account name cannot contain control characters."),
      )
      .min(1, "Name at least one account.")
      .max(20, "At most 20 accounts at once."),
  );

/** The parameters of an authorization request that the approval and its redirect need. */
type Authorization = Pick<ConsentRequest, "redirectUri" | "state" | "scope" | "codeChallenge">;

/** RFC 7636 §4.2: the S256 challenge is base64url, 43 characters; up to 128 are allowed. */
const CODE_CHALLENGE = /^[A-Za-z0-9._~-]{43,128}$/;

export function authorizeRoutes(ctx: SandboxContext): FastifyPluginAsync {
  return async (app) => {
    app.setErrorHandler(pageErrorHandler(ctx));

    app.get("/oauth/authorize", { schema: { hide: true } }, async (request, reply) => {
      const parsed = AuthorizeQuery.safeParse(request.query);
      if (!parsed.success) throw badRequest(describeIssues(parsed.error.issues));
      const query = parsed.data;
      if (query.client_id !== ctx.clientId) throw badRequest("Unknown client_id.");
      const redirectUri = checkRedirectUri(query.redirect_uri);
      if (query.response_type !== "code") throw badRequest("response_type must be code.");
      if (!query.code_challenge || !CODE_CHALLENGE.test(query.code_challenge)) {
        throw badRequest("code_challenge is required (PKCE, RFC 7636): 43 to 128 base64url characters.");
      }
      if (query.code_challenge_method !== "S256") throw badRequest("code_challenge_method must be S256.");

      const username = Username.safeParse(query.sandbox_user ?? DEFAULT_USERNAME);
      if (!username.success) throw badRequest(`sandbox_user: ${username.error.issues[0]?.message}`);
      const accountNames = AccountNames.safeParse(query.sandbox_accounts ?? DEFAULT_ACCOUNTS.join(","));
      if (!accountNames.success) {
        throw badRequest(`sandbox_accounts: ${accountNames.error.issues[0]?.message}`);
      }
      const authorization: Authorization = {
        redirectUri,
        state: query.state ?? null,
        scope: query.scope?.trim() || DEFAULT_SCOPE,
        codeChallenge: query.code_challenge,
      };
      if (query.auto_approve === "1") {
        return approveAndRedirect(reply, authorization, username.data, accountNames.data);
      }
      const consent = ctx.store.identity.openConsent({
        ...authorization,
        username: username.data,
        accountNames: accountNames.data,
      });
      return sendConsentPage(reply, consent, ctx.baseUrl(request));
    });

    app.post("/oauth/authorize/decision", { schema: { hide: true } }, async (request, reply) => {
      const form = DecisionForm.safeParse(request.body);
      if (!form.success) throw badRequest(describeIssues(form.error.issues));
      const consent = ctx.store.identity.consent(form.data.consent_request);
      if (!consent) {
        throw badRequest("This consent request expired or was already answered. Start connecting again.");
      }
      if (form.data.decision === "deny") {
        ctx.store.identity.closeConsent(consent.id);
        return reply.redirect(
          redirectWith(consent.redirectUri, {
            error: "access_denied",
            error_description: "The user denied access.",
            state: consent.state,
          }),
          302,
        );
      }
      const username = Username.safeParse(form.data.username ?? "");
      const accountNames = AccountNames.safeParse(form.data.accounts ?? "");
      if (!username.success || !accountNames.success) {
        const issue = username.error?.issues[0] ?? accountNames.error?.issues[0];
        return sendConsentPage(reply, consent, ctx.baseUrl(request), {
          username: form.data.username,
          accounts: form.data.accounts,
          error: issue?.message ?? "Check the form.",
        });
      }
      ctx.store.identity.closeConsent(consent.id);
      return approveAndRedirect(reply, consent, username.data, accountNames.data);
    });

    function approveAndRedirect(
      reply: FastifyReply,
      authorization: Authorization,
      username: string,
      accountNames: string[],
    ) {
      const code = ctx.store.identity.approve({
        username,
        accountNames,
        scope: authorization.scope,
        redirectUri: authorization.redirectUri,
        codeChallenge: authorization.codeChallenge,
      });
      return reply.redirect(
        redirectWith(authorization.redirectUri, { code, state: authorization.state }),
        302,
      );
    }

    function sendConsentPage(
      reply: FastifyReply,
      consent: ConsentRequest,
      baseUrl: string,
      retry: { username?: string; accounts?: string; error?: string } = {},
    ) {
      return (
        reply
          .status(retry.error ? 400 : 200)
          .type("text/html; charset=utf-8")
          .header("cache-control", "no-store")
          // Under helmet's "no-referrer" a browser sends `Origin: null` with the form's POST, which
          // Herald's CSRF wall refuses (403) when the Sandbox is mounted; same-origin sends the origin.
          .header("referrer-policy", "same-origin")
          .send(
            consentPage({
              indexUrl: `${baseUrl}/`,
              action: `${baseUrl}/oauth/authorize/decision`,
              clientId: ctx.clientId,
              consent,
              ...retry,
            }),
          )
      );
    }
  };
}

function badRequest(message: string): PageError {
  return new PageError(400, "This authorization request cannot be used", message);
}

/** An absolute http(s) URL without a fragment (RFC 6749 §3.1.2), or a 400 page. */
function checkRedirectUri(value: string | undefined): string {
  if (!value) throw badRequest("redirect_uri is required.");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badRequest("redirect_uri must be an absolute http(s) URL.");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw badRequest("redirect_uri must be an absolute http(s) URL.");
  }
  if (value.includes("#")) throw badRequest("redirect_uri must not contain a fragment.");
  return value;
}

function redirectWith(redirectUri: string, params: Record<string, string | null>): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) if (value !== null) url.searchParams.set(name, value);
  return url.toString();
}
