/**
 * Facebook Pages. Connected through Facebook Login (meta.ts); publishes with the page's token.
 */

import type { GraphClient } from "./meta.js";
import type { Connector, ProviderAdapter, Tokens } from "./provider.js";

export function facebookProvider(graph: GraphClient, connector: Connector): ProviderAdapter {
  return {
    platform: "facebook",
    connector,
    capabilities: {
      contentTypes: ["text", "link", "image", "carousel", "video"],
      // A post's text may be 63,206 characters long (the limit Facebook applies to page posts).
      text: { maxLength: 63_206 },
      // Multi-photo posts attach unpublished photos (attached_media).
      media: { required: false, maxCount: 10 },
      link: true,
      firstComment: true,
    },
    // Facebook has no idempotency key: after an ambiguous failure, look the post up first.
    idempotency: "reconcile",
    // Page tokens do not expire; the person's data access does, and only they can renew it.
    refreshWindowSeconds: null,
    // Deviation: Facebook revokes per person and app (DELETE /me/permissions), not per page.
    // Revoking when one page is disconnected would cut every other page and workspace that person
    // connected; disconnecting deletes Herald's copy of the token instead.
    revocable: false,
    /** Asks Meta how the page token stands (validity, expiry, permissions): a forced refresh. */
    refresh: (tokens: Tokens) => graph.tokensFor(tokens.accessToken),
    async revoke() {},
  };
}
