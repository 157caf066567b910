/**
 * One log line per request, when it completes (Fastify's default is two: incoming and completed).
 * The URL is logged with secret-bearing query parameters redacted (OAuth codes, tokens).
 */
import { type FastifyReply, type FastifyRequest, LogController } from "fastify";
import { redactUrl } from "../observability/logger.js";

export class AccessLog extends LogController {
  constructor() {
    super({ requestIdLogLabel: "requestId" });
  }

  override incomingRequest() {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply) {
    const line = {
      method: request.method,
      url: redactUrl(request.url),
      route: request.routeOptions.url,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (error) reply.log.error({ ...line, err: error }, "request errored");
    else reply.log.info(line, "request completed");
  }
}
