/**
 * References for bench:api, each a bare Fastify route on the same machine:
 * - `static`: answers a fixed body of the same bytes as Herald (no auth, no database): the cost of
 *   HTTP alone;
 * - `database`: runs the same SQL round trips as Herald's route (session by token; BEGIN with the
 *   workspace setting and the membership query; the clients query; COMMIT) on a plain pg pool and
 *   returns the rows: the floor that the database sets, with none of Herald's code.
 */
import Fastify from "fastify";
import pg from "pg";

const app = Fastify();
const mode = process.env.MODE ?? "static";

if (mode === "static") {
  const body = process.env.BARE_BODY ?? "{}";
  app.get("/", async (_request, reply) => reply.type("application/json").send(body));
} else {
  const pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL,
    max: 10,
    options: "-c role=herald_app",
  });
  const { TOKEN = "", WORKSPACE_ID = "", USER_ID = "" } = process.env;
  app.get("/", async () => {
    await pool.query({
      name: "session",
      text: "select s.user_id, u.email, u.name, s.expires_at from sessions s join users u on u.id = s.user_id where s.token = $1 and s.expires_at > now()",
      values: [TOKEN],
    });
    const client = await pool.connect();
    try {
      await client.query(
        `begin; select set_config('herald.workspace_id', '${WORKSPACE_ID}', true);
         select m.id, m.role, m.restricted, coalesce(array_agg(mc.client_id) filter (where mc.client_id is not null), '{}') as client_ids
         from members m left join member_clients mc on mc.workspace_id = m.workspace_id and mc.member_id = m.id
         where m.user_id = '${USER_ID}' and m.status = 'active' group by m.id`,
      );
      const { rows } = await client.query({
        name: "clients",
        text: "select * from clients where ($1::uuid[] is null or id = any($1)) and ($2::text is null or (name_key, id) > ($2::text, $3::uuid)) order by name_key, id limit $4",
        values: [null, null, null, 51],
      });
      await client.query("commit");
      return { items: rows, nextCursor: null };
    } finally {
      client.release();
    }
  });
}

await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
