/**
 * The OAuth popup's way home when `window.opener` is gone.
 *
 * Herald's callback page posts the result to `window.opener`. A popup can lose its opener on the
 * way, though: a page in the chain with a stricter Cross-Origin-Opener-Policy (the Sandbox's
 * consent page has helmet's `same-origin`, and platforms set their own) moves the popup into a
 * browsing context group of its own. The callback page then sends the popup to
 * /accounts/connect?pending=…; this relay, run before the app renders, hands that result to the
 * page that started connecting through a BroadcastChannel (same origin, any group) and closes.
 */

export const OAUTH_CHANNEL = "herald-oauth";
const STARTED_KEY = "herald.connect-started";
/** A connection flow older than this is not waited for any more. */
const FLOW_MS = 15 * 60_000;

export type OAuthRelayMessage = { type: "herald:oauth-relay"; pendingId?: string; error?: string };

/** Called by the page that opens the popup. */
export function markConnectStarted(): void {
  try {
    window.localStorage.setItem(STARTED_KEY, String(Date.now()));
  } catch {
    // Without storage the popup shows the choice itself.
  }
}

/** The flow continues in this tab (popups blocked): nothing to relay. */
export function clearConnectStarted(): void {
  try {
    window.localStorage.removeItem(STARTED_KEY);
  } catch {
    // Nothing stored.
  }
}

/** True when this window is such a popup and has handed its result over (it then closes). */
export function relayOAuthResult(): boolean {
  if (window.location.pathname !== "/accounts/connect" || typeof BroadcastChannel === "undefined")
    return false;
  let started: number;
  try {
    started = Number(window.localStorage.getItem(STARTED_KEY));
    if (!started || Date.now() - started > FLOW_MS) return false;
    window.localStorage.removeItem(STARTED_KEY);
  } catch {
    return false;
  }
  const params = new URLSearchParams(window.location.search);
  const message: OAuthRelayMessage = { type: "herald:oauth-relay" };
  const pendingId = params.get("pending");
  const error = params.get("error");
  if (pendingId) message.pendingId = pendingId;
  if (error) message.error = error;
  const channel = new BroadcastChannel(OAUTH_CHANNEL);
  channel.postMessage(message);
  channel.close();
  document.body.textContent = "Done. You can close this window and go back to Herald.";
  window.close();
  return true;
}
