/**
 * bench:audit: the cost of the audit trail, each figure beside a reference from the same run.
 *
 * 1. Added latency of writing an event inside a request's transaction: a transaction that changes
 *    a client, with and without its audit event, alternated (median and p99 of each).
 * 2. Inserts per second with 4 concurrent writers on one workspace for 10 s while a sealer runs as
 *    the worker does; beside 4 writers doing a bare INSERT into a plain table. Then: did sealing
 *    keep up, and is the chain linear (verify ok, seq 1..n)?
 * 3. "Latest 50 events of a workspace" and "one month filtered by action" at 5 million rows
 *    (BENCH_AUDIT_ROWS), spread over 100 workspaces and 12 months (median of 20 runs each).
 * 4. A streamed CSV export of the one workspace that holds a fifth of those rows (a million at the
 *    default size): rows per second and how much the process's memory grew meanwhile.
 *
 * Aims (issue 3): < 1 ms added median, >= 2,000 inserts/s, both queries < 20 ms.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { type AuditContext, recordAudit } from "../src/audit/audit.js";
import { listAuditEvents, streamAuditEvents } from "../src/audit/audit.repository.js";
import { toCsv } from "../src/audit/audit.service.js";
import { sealAll } from "../src/audit/sealer.js";
import { startEmbeddedPostgres } from "../src/db/embedded.js";
import { migrate } from "../src/db/migrate.js";
import { createAppPool } from "../src/db/pool.js";
import { withWorkspace } from "../src/db/tenant.js";
import { createLogger } from "../src/observability/logger.js";
import { figure } from "./figures.js";
import { ROOT, table, writeResult } from "./lib.js";

const ROWS = Number(process.env.BENCH_AUDIT_ROWS ?? 5_000_000);
const WRITE_SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const LATENCY_ITERATIONS = 2000;

const log = createLogger("warn");
const context: AuditContext = {
  actor: { type: "user", id: randomUUID(), name: "Bench Person", email: "bench@example.com" },
  ip: "203.0.113.7",
  userAgent: "bench/1.0",
  requestId: "bench",
};

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const ms = (value: number) => Math.round(value * 1000) / 1000;

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-bench-audit-"));
await fs.chmod(dataDir, 0o755);
const database = await startEmbeddedPostgres({ dataDir, port: 0, log });
const owner = new pg.Client({ connectionString: database.url });
const pool = createAppPool(database.url, { max: 12, applicationName: "bench-audit", log });

try {
  await migrate(database.url, log);
  await owner.connect();
  const workspaceId = randomUUID();
  const clientId = randomUUID();
  await owner.query("insert into workspaces (id, name, slug) values ($1, 'Bench', 'bench')", [workspaceId]);
  await owner.query(
    "insert into clients (id, workspace_id, name, name_key) values ($1, $2, 'Client', 'client')",
    [clientId, workspaceId],
  );

  // 1. Added latency inside a request's transaction.
  const change = (tx: Pick<pg.PoolClient, "query">) =>
    tx.query(
      "update clients set requires_approval = not requires_approval, updated_at = now() where id = $1",
      [clientId],
    );
  const without: number[] = [];
  const withAudit: number[] = [];
  for (let i = 0; i < LATENCY_ITERATIONS + 200; i++) {
    const audited = i % 2 === 1;
    const started = performance.now();
    await withWorkspace(pool, workspaceId, async (tx) => {
      await change(tx);
      if (audited) {
        await recordAudit(tx, workspaceId, context, {
          action: "client_updated",
          target: { type: "client", id: clientId },
          clientId,
          details: { requiresApproval: { before: false, after: true } },
        });
      }
    });
    // The first 200 warm the connections and plans up.
    if (i >= 200) (audited ? withAudit : without).push(performance.now() - started);
  }
  await sealAll(pool);

  // 2. Throughput with 4 writers on one workspace, sealing alongside.
  await owner.query(
    "create table bench_plain (id uuid primary key default gen_random_uuid(), workspace_id uuid, action text, details jsonb, created_at timestamptz default clock_timestamp())",
  );
  await owner.query("grant insert on bench_plain to herald_app");
  const writers = async (write: () => Promise<unknown>) => {
    const deadline = performance.now() + WRITE_SECONDS * 1000;
    let count = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (performance.now() < deadline) {
          await write();
          count++;
        }
      }),
    );
    return count / WRITE_SECONDS;
  };
  const bareRate = await writers(() =>
    pool.query("insert into bench_plain (workspace_id, action, details) values ($1, 'client_updated', $2)", [
      workspaceId,
      JSON.stringify({ n: 1 }),
    ]),
  );
  let sealing = true;
  let sealed = 0;
  const sealer = (async () => {
    while (sealing) {
      sealed += await sealAll(pool);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  const auditRate = await writers(() =>
    withWorkspace(pool, workspaceId, (tx) =>
      recordAudit(tx, workspaceId, context, { action: "client_updated", clientId, details: { n: 1 } }),
    ),
  );
  sealing = false;
  await sealer;
  const backlog = Number((await owner.query("select count(*) from audit_unsealed")).rows[0].count);
  const sealStart = performance.now();
  sealed += await sealAll(pool);
  const drainMs = performance.now() - sealStart;
  const chain = (
    await owner.query(
      "select count(*)::int as n, max(seq)::int as max from audit_seals where workspace_id = $1",
      [workspaceId],
    )
  ).rows[0];
  const verified = (await owner.query("select * from herald_audit_verify($1)", [workspaceId])).rows[0];

  // 3. Queries at scale.
  const workspaces = Array.from({ length: 100 }, () => randomUUID());
  const generationStart = performance.now();
  await owner.query("set role herald_audit");
  await owner.query("select herald_audit_ensure_partitions(1, 12)");
  const batch = 250_000;
  for (let done = 0; done < ROWS; done += batch) {
    await owner.query(
      `insert into audit_events (workspace_id, actor_type, actor_id, actor_name, action, target_type, target_id,
         outcome, severity, request_id, details, ip, user_agent, created_at)
       select case when i % 5 = 0 then ($1::uuid[])[1] else ($1::uuid[])[1 + (i % 100)] end, 'user', ($1::uuid[])[1 + (i % 7)], 'Person ' || (i % 50),
              (array['client_created','client_updated','member_invited','api_key_created','workspace_updated'])[1 + (i % 5)],
              'client', i::text, 'success', 'low', 'gen', jsonb_build_object('i', i), '198.51.100.1', 'gen/1.0',
              now() - make_interval(secs => (i::double precision / $3) * 365 * 86400)
       from generate_series($2::int, $2::int + $4 - 1) as i`,
      [workspaces, done, ROWS, Math.min(batch, ROWS - done)],
    );
  }
  await owner.query("reset role");
  await owner.query("analyze audit_events");
  const generationSeconds = (performance.now() - generationStart) / 1000;
  await owner
    .query("delete from audit_unsealed where workspace_id = any($1)", [workspaces])
    .catch(() => undefined);

  const target = workspaces[3] ?? workspaceId;
  const timeQuery = async (query: (tx: Pick<pg.PoolClient, "query">) => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < 25; i++) {
      const started = performance.now();
      await withWorkspace(pool, target, query);
      if (i >= 5) times.push(performance.now() - started);
    }
    return { median: percentile(times, 50), p99: percentile(times, 99) };
  };
  const latest = await timeQuery((tx) => listAuditEvents(tx, {}, undefined, 51));
  const monthStart = new Date(Date.now() - 120 * 86_400_000);
  const monthEnd = new Date(monthStart.getTime() + 30 * 86_400_000);
  const filtered = await timeQuery((tx) =>
    listAuditEvents(
      tx,
      { action: "member_invited", from: monthStart.toISOString(), to: monthEnd.toISOString() },
      undefined,
      51,
    ),
  );

  // 4. Exporting a million rows, streamed.
  const big = workspaces[0] ?? workspaceId;
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const exportStart = performance.now();
  let exportedBytes = 0;
  let exportedRows = 0;
  await withWorkspace(pool, big, async (tx) => {
    const rows = streamAuditEvents(tx, { from: new Date(Date.now() - 366 * 86_400_000).toISOString() });
    rows.on("data", () => {
      exportedRows++;
    });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        exportedBytes += chunk.length;
        done();
      },
    });
    await pipeline(rows, toCsv(), sink);
  });
  clearInterval(sampler);
  const exportSeconds = (performance.now() - exportStart) / 1000;
  const growthMiB = Math.round((peak - baseline) / 1048576);

  const added = percentile(withAudit, 50) - percentile(without, 50);
  const rows = [
    {
      figure: "transaction without event (reference): median / p99 ms",
      value: `${ms(percentile(without, 50))} / ${ms(percentile(without, 99))}`,
      aim: "",
    },
    {
      figure: "same transaction with its audit event: median / p99 ms",
      value: `${ms(percentile(withAudit, 50))} / ${ms(percentile(withAudit, 99))}`,
      aim: "",
    },
    {
      figure: "added by the audit event: median / p99 ms",
      value: `${ms(added)} / ${ms(percentile(withAudit, 99) - percentile(without, 99))}`,
      aim: "< 1 ms median",
    },
    { figure: "bare INSERT, 4 writers (reference): rows/s", value: String(Math.round(bareRate)), aim: "" },
    {
      figure: "audit events, 4 writers on one workspace: rows/s",
      value: `${Math.round(auditRate)} (${((auditRate / bareRate) * 100).toFixed(0)}% of bare)`,
      aim: ">= 2000",
    },
    {
      figure: "sealing: backlog when writers stopped / drained in ms",
      value: `${backlog} / ${Math.round(drainMs)}`,
      aim: "keeps up",
    },
    {
      figure: "chain after the run: seals, max seq, verify",
      value: `${chain.n}, ${chain.max}, ${verified.ok ? "ok" : "BROKEN"}`,
      aim: "linear",
    },
    {
      figure: `rows generated for queries (${ROWS.toLocaleString("en")}, s)`,
      value: generationSeconds.toFixed(0),
      aim: "",
    },
    {
      figure: "latest 50 events of a workspace: median / p99 ms",
      value: `${ms(latest.median)} / ${ms(latest.p99)}`,
      aim: "< 20 ms",
    },
    {
      figure: "one month filtered by action: median / p99 ms",
      value: `${ms(filtered.median)} / ${ms(filtered.p99)}`,
      aim: "< 20 ms",
    },
    {
      figure: `CSV export of ${exportedRows.toLocaleString("en")} rows: rows/s, MiB written, memory growth MiB`,
      value: `${Math.round(exportedRows / exportSeconds)}, ${Math.round(exportedBytes / 1048576)}, ${growthMiB}`,
      aim: "flat memory",
    },
  ];
  const file = await writeResult("audit", {
    benchmark: "audit",
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version },
    latencyMs: {
      without: { median: percentile(without, 50), p99: percentile(without, 99) },
      with: { median: percentile(withAudit, 50), p99: percentile(withAudit, 99) },
      addedMedian: added,
    },
    throughput: {
      bareInsertsPerSecond: bareRate,
      auditInsertsPerSecond: auditRate,
      ratio: auditRate / bareRate,
    },
    sealing: { sealed, backlogAtStop: backlog, drainMs, chain, verified },
    queries: { rows: ROWS, generationSeconds, latest, filteredMonth: filtered },
    export: { rows: exportedRows, seconds: exportSeconds, bytes: exportedBytes, memoryGrowthMiB: growthMiB },
    figures: [
      figure("transaction with one audit event, median", percentile(withAudit, 50), "ms", {
        name: "the same transaction without it",
        value: percentile(without, 50),
      }),
      figure("audit events, 4 writers", Math.round(auditRate), "rows/s", {
        name: "bare INSERT, 4 writers",
        value: Math.round(bareRate),
      }),
      figure(`latest 50 events at ${ROWS.toLocaleString("en")} rows, median`, latest.median, "ms"),
      figure("CSV export", Math.round(exportedRows / exportSeconds), "rows/s"),
    ],
  });
  process.stdout.write(`${table(rows)}\n\nresults: ${path.relative(ROOT, file)}\n`);
} finally {
  await pool.end();
  await owner.end().catch(() => undefined);
  await database.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
