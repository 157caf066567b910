/**
 * The Sandbox's HTML: consent, index, feeds, errors. Plain forms and links, no script (Herald's
 * Content-Security-Policy forbids inline scripts); one inline <style>, which it allows. Every value
 * goes through `escapeHtml`, attributes included.
 */
import { escapeHtml } from "../http/html.js";
import type { Account, ConsentRequest, User } from "./identity.js";
import type { Post } from "./posts.js";

const STYLE = `
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
header.site { background: #3b3f8f; color: #fff; padding: 0.6rem 1.5rem; }
header.site a { color: #fff; text-decoration: none; font-weight: 600; }
main { max-width: 42rem; margin: 1.5rem auto; padding: 0 1rem; }
.card { background: #fff; border-radius: 8px; padding: 1rem 1.25rem; margin-bottom: 1rem;
  box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.post-text { white-space: pre-wrap; overflow-wrap: anywhere; }
.meta { color: #5b6272; font-size: 0.875rem; }
.error { color: #a3142a; }
label { display: block; margin: 0.75rem 0; }
input[type=text] { display: block; width: 100%; box-sizing: border-box; padding: 0.4rem; font: inherit; }
button { font: inherit; padding: 0.4rem 1.2rem; margin-right: 0.5rem; }
code { overflow-wrap: anywhere; }
`;

function layout(title: string, indexUrl: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Sandbox</title>
<style>${STYLE}</style>
</head>
<body>
<header class="site"><a href="${escapeHtml(indexUrl)}">Sandbox</a> · a pretend social network</header>
<main>
${body}
</main>
</body>
</html>
`;
}

export function errorPage(indexUrl: string, title: string, message: string): string {
  return layout(
    title,
    indexUrl,
    `<div class="card"><h1>${escapeHtml(title)}</h1><p class="error">${escapeHtml(message)}</p></div>`,
  );
}

export type ConsentView = {
  indexUrl: string;
  action: string;
  clientId: string;
  consent: ConsentRequest;
  /** The value the user typed, shown back with `error` when it was not accepted. */
  username?: string;
  accounts?: string;
  error?: string;
};

export function consentPage(view: ConsentView): string {
  const scopes = view.consent.scope.split(" ").filter(Boolean);
  const username = view.username ?? view.consent.username;
  const accounts = view.accounts ?? view.consent.accountNames.join(", ");
  return layout(
    "Allow access",
    view.indexUrl,
    `<div class="card">
<h1>Allow Herald to use your Sandbox accounts?</h1>
<p><strong>Herald</strong> (client <code>${escapeHtml(view.clientId)}</code>) asks to:</p>
<ul>${scopes.map((scope) => `<li><code>${escapeHtml(scope)}</code></li>`).join("")}</ul>
<p class="meta">You will be sent back to <code>${escapeHtml(view.consent.redirectUri)}</code>.</p>
${view.error ? `<p class="error">${escapeHtml(view.error)}</p>` : ""}
<form method="post" action="${escapeHtml(view.action)}">
<input type="hidden" name="consent_request" value="${escapeHtml(view.consent.id)}">
<label>Sign in as (any username; it is created if new)
<input type="text" name="username" value="${escapeHtml(username)}" required maxlength="64"></label>
<label>Accounts to share (comma-separated names; new ones are created)
<input type="text" name="accounts" value="${escapeHtml(accounts)}" required></label>
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form>
</div>`,
  );
}

export type IndexView = {
  indexUrl: string;
  feedUrl: (accountId: string) => string;
  directory: Array<{ user: User; accounts: Array<{ account: Account; posts: number }> }>;
};

export function indexPage(view: IndexView): string {
  const users = view.directory.map(
    ({ user, accounts }) => `<div class="card">
<h2>${escapeHtml(user.username)}</h2>
<ul>${accounts
      .map(
        ({ account, posts }) =>
          `<li><a href="${escapeHtml(view.feedUrl(account.id))}">${escapeHtml(account.name)}</a> ` +
          `<span class="meta">${escapeHtml(account.handle)} · ${posts} post${posts === 1 ? "" : "s"}</span></li>`,
      )
      .join("")}</ul>
</div>`,
  );
  const empty = `<div class="card"><p>Nobody has connected yet. Connect a Sandbox account from Herald; its
accounts and their feeds appear here.</p></div>`;
  return layout(
    "Sandbox",
    view.indexUrl,
    `<h1>Sandbox</h1>
<p>A pretend social network built into Herald: publish to it offline and see the result here.</p>
${users.length > 0 ? users.join("\n") : empty}`,
  );
}

export type FeedView = {
  indexUrl: string;
  account: Account;
  posts: Post[];
  total: number;
};

export function feedPage(view: FeedView): string {
  const { account, posts, total } = view;
  const shown =
    total > posts.length
      ? `the latest ${posts.length} of ${total} posts`
      : `${total} post${total === 1 ? "" : "s"}`;
  const articles = posts.map((post) => {
    const at = new Date(post.createdAt).toISOString();
    const media = post.mediaUrls.map(
      (url, i) => `<li><a href="${escapeHtml(url)}" rel="nofollow noopener">media ${i + 1}</a></li>`,
    );
    return `<article class="card" id="post-${escapeHtml(post.id)}">
<p class="post-text">${escapeHtml(post.text)}</p>
${media.length > 0 ? `<ul>${media.join("")}</ul>` : ""}
${post.link ? `<p><a href="${escapeHtml(post.link)}" rel="nofollow noopener">${escapeHtml(post.link)}</a></p>` : ""}
<p class="meta"><time datetime="${escapeHtml(at)}">${escapeHtml(at)}</time> · <a href="#post-${escapeHtml(post.id)}">${escapeHtml(post.id)}</a></p>
</article>`;
  });
  return layout(
    account.name,
    view.indexUrl,
    `<h1>${escapeHtml(account.name)}</h1>
<p class="meta">${escapeHtml(account.handle)} · owned by ${escapeHtml(account.username)} · ${shown}</p>
${articles.length > 0 ? articles.join("\n") : `<div class="card"><p>No posts yet.</p></div>`}`,
  );
}
