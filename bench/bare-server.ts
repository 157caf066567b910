/**
 * The reference for bench:api: a bare Fastify route on the same machine, answering a fixed body of
 * the same bytes as Herald's answer (no auth, no database), so the ratio isolates Herald's own cost.
 */
import Fastify from "fastify";

const body = process.env.BARE_BODY ?? "{}";
const app = Fastify();
app.get("/", async (_request, reply) => reply.type("application/json").send(body));
await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
process.stdout.write("listening\n");
