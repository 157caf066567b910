/**
 * Whether Herald may send events to a URL, decided when the webhook is created: the outbound rule
 * of src/http/outbound.ts (http or https, no credentials, no private address literal), plus the
 * host's addresses as DNS gives them now, every one of which must be public or allow-listed.
 *
 * This is the early, explanatory check. Each delivery is checked again where its connection is made
 * (safeFetch's guarded lookup), so a name that later resolves to a private address (DNS rebinding)
 * is still refused at send time.
 */
import { lookup } from "node:dns/promises";
import ipaddr from "ipaddr.js";
import { AppError } from "../errors.js";
import {
  checkOutboundUrl,
  isPublicAddress,
  type OutboundPolicy,
  OutboundRefusedError,
} from "../http/outbound.js";

export class WebhookUrlRefusedError extends AppError {
  constructor(reason: string) {
    super(422, "HERALD_WEBHOOK_URL_REFUSED", "The webhook URL is refused", reason, {
      errors: [{ path: "body.url", message: reason, rule: "outbound_refused" }],
    });
  }
}

/** The URL, normalised, or a WebhookUrlRefusedError saying why it cannot be used. */
export async function checkWebhookUrl(value: string, policy: OutboundPolicy): Promise<string> {
  let url: URL;
  try {
    url = checkOutboundUrl(value, policy);
  } catch (error) {
    if (error instanceof OutboundRefusedError) throw new WebhookUrlRefusedError(error.message);
    throw error;
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  try {
    addresses = (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
  } catch {
    throw new WebhookUrlRefusedError(`${host} could not be resolved.`);
  }
  const refused = addresses.filter((address) => !isPublicAddress(address) && !allowed(policy, host, address));
  if (refused.length > 0 || addresses.length === 0) {
    const which = refused.join(", ");
    throw new WebhookUrlRefusedError(
      host === which
        ? `${host} is a private or reserved address.`
        : `${host} resolves to a private or reserved address (${which}).`,
    );
  }
  return url.href;
}

/**
 * Whether the allow-list admits this host or address: an entry names the host (`hooks.example.com`,
 * `*.example.com`), an address, or a CIDR range. The same reading of HERALD_OUTBOUND_ALLOWLIST as
 * the guarded lookup in src/http/outbound.ts.
 */
function allowed(policy: OutboundPolicy, host: string, address: string): boolean {
  const name = host.toLowerCase();
  const ip = ipaddr.process(address);
  return policy.allowlist.some((entry) => {
    const rule = entry.toLowerCase();
    if (rule.startsWith("*.") ? name.endsWith(rule.slice(1)) : name === rule) return true;
    try {
      if (rule.includes("/")) {
        const [range, bits] = ipaddr.parseCIDR(rule);
        return ip.kind() === range.kind() && ip.match(range, bits);
      }
      return ipaddr.isValid(rule) && ipaddr.process(rule).toString() === ip.toString();
    } catch {
      return false;
    }
  });
}
