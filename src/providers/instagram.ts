/**
 * Instagram professional accounts, through Facebook Login (meta.ts). An Instagram account acts
 * with the token of the Facebook page it is linked to, so it shares that page's credential.
 */

import type { GraphClient } from "./meta.js";
import type { Connector, ProviderAdapter, Tokens } from "./provider.js";

export function instagramProvider(graph: GraphClient, connector: Connector): ProviderAdapter {
  return {
    platform: "instagram",
    connector,
    capabilities: {
      contentTypes: ["image", "carousel", "video", "reel", "story"],
      // Captions: 2,200 characters, 30 hashtags, 20 @mentions; a carousel holds 2 to 10 items; every
      // post needs media (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media).
      text: { maxLength: 2_200, maxHashtags: 30, maxMentions: 20 },
      media: { required: true, maxCount: 10, carousel: { min: 2, max: 10 } },
      link: false,
      firstComment: true,
    },
    // The media container is created once per target and reused: publishing it twice is refused
    // by Instagram, and its status says whether it was published.
    idempotency: "native_key",
    refreshWindowSeconds: null,
    // As for Facebook: revocation is per person and app, never per account.
    revocable: false,
    refresh: (tokens: Tokens) => graph.tokensFor(tokens.accessToken),
    async revoke() {},
  };
}
