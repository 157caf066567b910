/** What every Sandbox route file is given: the state, the client it knows, and request helpers. */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../observability/logger.js";
import type { SandboxStore } from "./store.js";

export type SandboxContext = {
  store: SandboxStore;
  clientId: string;
  clientSecret: string;
  random: () => number;
  log: Logger;
  /**
   * The Sandbox's base URL as this caller reached it (protocol, host, mount prefix), so links work
   * under Herald's `/sandbox`, standalone at `/`, and behind a proxy Herald trusts.
   */
  baseUrl(request: FastifyRequest): string;
  /** Takes the response over and never answers: the connection is dropped after `ms`. */
  holdThenDrop(reply: FastifyReply, ms: number): void;
};
