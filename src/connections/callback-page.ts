/**
 * The page the platform sends the person back to, in the popup Herald opened. It tells the app
 * how the connection went through `window.opener.postMessage` with the app's exact origin as the
 * target (no other window can read it), then closes; without an opener it goes to the app.
 *
 * Every value in the page is escaped; the message travels as a JSON data block, read by a script
 * Herald serves (the Content-Security-Policy allows no inline script).
 */
import { escapeHtml, jsonForScript } from "../http/html.js";
import type { CallbackResult } from "./connections.service.js";

export const CALLBACK_SCRIPT = `(function () {
  var node = document.getElementById("herald-oauth-result");
  if (!node) return;
  var data = JSON.parse(node.textContent);
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage(data.message, data.targetOrigin);
    window.close();
  } else {
    window.location.replace(data.fallbackUrl);
  }
})();
`;

export function callbackPage(result: CallbackResult, appOrigin: string): string {
  const message = result.ok
    ? {
        type: "herald:oauth",
        ok: true,
        pendingId: result.pendingId,
        platform: result.platform,
        accounts: result.accounts,
      }
    : {
        type: "herald:oauth",
        ok: false,
        platform: result.platform,
        error: { code: result.code, message: result.message },
      };
  const fallback = new URL("/accounts/connect", appOrigin);
  if (result.ok) fallback.searchParams.set("pending", result.pendingId);
  else fallback.searchParams.set("error", result.code);
  const title = result.ok ? `${result.platform} is connected` : `${result.platform} was not connected`;
  const text = result.ok
    ? `Herald found ${result.accounts} account${result.accounts === 1 ? "" : "s"}. Choose which to add in Herald.`
    : result.message;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Herald</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; color: #1f2328; }
  h1 { font-size: 1.25rem; }
  a { color: #0b57d0; }
</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(text)}</p>
<p><a id="herald-continue" href="${escapeHtml(fallback.href)}">Continue to Herald</a></p>
</main>
<script type="application/json" id="herald-oauth-result">${jsonForScript({
    message,
    targetOrigin: appOrigin,
    fallbackUrl: fallback.href,
  })}</script>
<script src="/api/v1/oauth/callback.js"></script>
</body>
</html>
`;
}
