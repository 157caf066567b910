/**
 * The providers this Herald offers, from configuration: the Sandbox when it is on, Facebook and
 * Instagram when a Facebook app is configured.
 */
import type { Config } from "../config.js";
import type { Logger } from "../observability/logger.js";
import { facebookProvider } from "./facebook.js";
import { instagramProvider } from "./instagram.js";
import { GraphClient, metaConnector } from "./meta.js";
import type { Connector, Platform, ProviderAdapter } from "./provider.js";
import { sandboxProvider } from "./sandbox.js";

export type Registry = {
  adapters: Map<Platform, ProviderAdapter>;
  /** The connector that starts a connection for this platform (Instagram: Facebook Login). */
  connectorFor(platform: string): Connector | undefined;
  connector(id: string): Connector | undefined;
  adapter(platform: string): ProviderAdapter | undefined;
};

export function createRegistry(config: Config, log: Logger): Registry {
  const adapters = new Map<Platform, ProviderAdapter>();
  if (config.sandbox.url) {
    const { url, clientId, clientSecret } = config.sandbox;
    adapters.set("sandbox", sandboxProvider({ url, clientId, clientSecret, log }));
  }
  if (config.facebook) {
    const options = { ...config.facebook, log };
    const connector = metaConnector(options);
    const graph = new GraphClient(options);
    adapters.set("facebook", facebookProvider(graph, connector));
    adapters.set("instagram", instagramProvider(graph, connector));
  }
  return registryOf([...adapters.values()]);
}

export function registryOf(list: ProviderAdapter[]): Registry {
  const adapters = new Map(list.map((adapter) => [adapter.platform, adapter]));
  const connectors = new Map(list.map((adapter) => [adapter.connector.id, adapter.connector]));
  const isPlatform = (value: string): value is Platform => adapters.has(value as Platform);
  return {
    adapters,
    connectorFor: (platform) => (isPlatform(platform) ? adapters.get(platform)?.connector : undefined),
    connector: (id) => connectors.get(id),
    adapter: (platform) => (isPlatform(platform) ? adapters.get(platform) : undefined),
  };
}
