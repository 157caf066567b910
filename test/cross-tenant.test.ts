/**
 * Every registered route that names a workspace is called by a member of another workspace:
 * - with the other workspace's ids (a stranger probing), and
 * - with their own workspace id but the other workspace's resource ids (a member mixing ids),
 * by a session and by an admin API key. Each answer must be the same 404 as for an id that does not
 * exist, and the other workspace's data must be unchanged afterwards.
 *
 * Routes are read from the running app, so a new endpoint is covered without touching this file,
 * unless it has a path parameter not listed in `idsOf` (the test fails and says which).
 */
import { randomUUID } from "node:crypto";
import type { RouteOptions } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  addMember,
  call,
  createClient,
  createWorkspace,
  type Session,
  signUp,
  startTestApp,
  type TestApp,
} from "./helpers/app.js";
import { asOwner } from "./helpers/database.js";
import { withoutRequestId } from "./helpers/problems.js";

type Ids = {
  workspaceId: string;
  clientId: string;
  memberId: string;
  keyId: string;
  accountId: string;
  pendingId: string;
  postId: string;
  mediaId: string;
  webhookId: string;
  ruleId: string;
  alertId: string;
  channelId: string;
};

/** Path parameters that are not ids: the same in every attempt. */
const CONSTANTS = { platform: "sandbox" };
type Tenant = { session: Session; apiKey: string; ids: Ids };

let t: TestApp;
let victim: Tenant;
let intruder: Tenant;

async function tenant(name: string): Promise<Tenant> {
  const session = await signUp(t.app, undefined, name);
  const workspaceId = await createWorkspace(t.app, session, name);
  const clientId = await createClient(t.app, session, workspaceId, { name: `${name} client` });
  const member = await addMember(t.app, session, workspaceId, "editor");
  const key = await call(t.app, session, "POST", `/api/v1/workspaces/${workspaceId}/api-keys`, {
    name: "admin key",
    scopes: ["admin"],
  });
  // An account and a pending selection, written directly: connecting is tested elsewhere.
  const { accountId, pendingId, postId, mediaId, webhookId, ruleId, alertId, channelId } = await asOwner(
    t.db.url,
    async (owner) => {
      const credential = await owner.query<{ id: string }>(
        `insert into account_credentials (workspace_id, platform, subject, access_token, key_id)
       values ($1, 'sandbox', $2, '\\x01', 'k') returning id`,
        [workspaceId, `user:${name}`],
      );
      const account = await owner.query<{ id: string }>(
        `insert into social_accounts (workspace_id, platform, platform_account_id, name, status, credential_id)
       values ($1, 'sandbox', $2, $3, 'active', $4) returning id`,
        [workspaceId, `acct_${name}`, `${name} page`, credential.rows[0]?.id],
      );
      const pending = await owner.query<{ id: string }>(
        `insert into pending_connections (workspace_id, user_id, platform, accounts, credentials, key_id, expires_at)
       values ($1, $2, 'sandbox', '[]', '\\x01', 'k', now() + interval '1 hour') returning id`,
        [workspaceId, session.userId],
      );
      const post = await owner.query<{ id: string }>(
        "insert into posts (workspace_id, client_id, content) values ($1, $2, '{}') returning id",
        [workspaceId, clientId],
      );
      await owner.query(
        `insert into post_targets (workspace_id, post_id, account_id, platform, status)
       values ($1, $2, $3, 'sandbox', 'draft')`,
        [workspaceId, post.rows[0]?.id, account.rows[0]?.id],
      );
      const media = await owner.query<{ id: string }>(
        `insert into media (workspace_id, kind, mime_type, size_bytes, sha256, storage_key)
       values ($1, 'image', 'image/png', 1, '\\x00', $2) returning id`,
        [workspaceId, `fixture-${name}-${randomUUID()}.png`],
      );
      const webhook = await owner.query<{ id: string }>(
        `insert into webhooks (workspace_id, url, events, secret, key_id)
       values ($1, 'https://example.com/hook', '{post.failed}', '\\x01', 'k') returning id`,
        [workspaceId],
      );
      const channel = await owner.query<{ id: string }>(
        `insert into notification_channels (workspace_id, kind, name, target)
       values ($1, 'email', 'Ops', 'ops@example.com') returning id`,
        [workspaceId],
      );
      const rule = await owner.query<{ id: string }>(
        "select id from alert_rules where workspace_id = $1 order by created_at, id limit 1",
        [workspaceId],
      );
      const alert = await owner.query<{ id: string }>(
        `insert into alerts (workspace_id, rule_id, rule_name, metric, severity, scope_key, message)
       values ($1, $2, 'R', 'publish_attempts', 'warning', 'workspace', 'fixture') returning id`,
        [workspaceId, rule.rows[0]?.id],
      );
      return {
        ruleId: rule.rows[0]?.id ?? "",
        alertId: alert.rows[0]?.id ?? "",
        accountId: account.rows[0]?.id ?? "",
        pendingId: pending.rows[0]?.id ?? "",
        postId: post.rows[0]?.id ?? "",
        mediaId: media.rows[0]?.id ?? "",
        webhookId: webhook.rows[0]?.id ?? "",
        channelId: channel.rows[0]?.id ?? "",
      };
    },
  );
  return {
    session,
    apiKey: key.json().secret,
    ids: {
      workspaceId,
      clientId,
      memberId: member.memberId,
      keyId: key.json().id,
      accountId,
      pendingId,
      postId,
      mediaId,
      webhookId,
      ruleId,
      alertId,
      channelId,
    },
  };
}

/** An example body for the route, from its schema's OpenAPI examples. */
function exampleBody(route: RouteOptions): unknown {
  const body = route.schema?.body;
  if (!(body instanceof z.ZodType)) return undefined;
  const examples = body.meta()?.examples;
  if (!Array.isArray(examples) || examples.length === 0) {
    throw new Error(`${route.method} ${route.url}: add an example to the body schema (.meta({ examples }))`);
  }
  return examples[0];
}

/**
 * A query string for routes whose querystring schema has required fields, from its examples;
 * an example value `:name` stands for the id of that name.
 */
function exampleQuery(route: RouteOptions, ids: Partial<Record<string, string>>): string {
  const query = route.schema?.querystring;
  if (!(query instanceof z.ZodType)) return "";
  const examples = query.meta()?.examples;
  const example = Array.isArray(examples) ? (examples[0] as Record<string, string>) : undefined;
  if (!example) return "";
  const pairs = Object.entries(example).map(
    ([key, value]) =>
      `${key}=${encodeURIComponent(value.startsWith(":") ? (ids[value.slice(1)] ?? "") : value)}`,
  );
  return `?${pairs.join("&")}`;
}

function fillPath(url: string, ids: Partial<Record<string, string>>): string {
  return url.replace(/:(\w+)/g, (_, name: string) => {
    const id = ids[name];
    if (!id)
      throw new Error(`${url}: the cross-tenant test has no fixture for :${name}; add one in tenant()`);
    return id;
  });
}

beforeAll(async () => {
  // The Sandbox provider is on (never called here) so that the connection routes reach their checks.
  t = await startTestApp({ HERALD_SANDBOX_URL: "http://127.0.0.1:9/sandbox" });
  victim = await tenant("Victim");
  intruder = await tenant("Intruder");
});

afterAll(async () => {
  await t?.close();
});

describe("cross-tenant access through every workspace route", () => {
  it("answers 404, identical to a missing id, and changes nothing", async () => {
    const routes = t.app.routeTable.filter((route) => route.url.includes(":workspaceId"));
    expect(routes.length).toBeGreaterThanOrEqual(13);
    const missing = await call(t.app, intruder.session, "GET", `/api/v1/workspaces/${randomUUID()}`);
    expect(missing.statusCode).toBe(404);
    const notFoundBody = withoutRequestId(missing.json());

    let checked = 0;
    for (const route of routes) {
      const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter(
        (m) => m !== "HEAD",
      );
      const body = exampleBody(route);
      // Their own workspace, the victim's resources.
      const mixed = { ...victim.ids, workspaceId: intruder.ids.workspaceId };
      const attempts = [
        { as: intruder.session, ids: victim.ids, label: "session, victim's workspace" },
        { as: intruder.apiKey, ids: victim.ids, label: "API key, victim's workspace" },
        ...((route.url.match(/:\w+/g) ?? []).filter((param) => !(param.slice(1) in CONSTANTS)).length > 1
          ? [
              { as: intruder.session, ids: mixed, label: "session, own workspace, victim's ids" },
              { as: intruder.apiKey, ids: mixed, label: "API key, own workspace, victim's ids" },
            ]
          : []),
      ];
      for (const method of methods) {
        for (const attempt of attempts) {
          const label = { route: `${method} ${route.url}`, attempt: attempt.label };
          const response = await call(
            t.app,
            attempt.as,
            method as "GET",
            fillPath(route.url, { ...attempt.ids, ...CONSTANTS }) + exampleQuery(route, attempt.ids),
            body,
          );
          if (attempt.ids === victim.ids) {
            // A stranger to the workspace: 404, word for word the answer for a workspace that does not exist.
            expect({ ...label, status: response.statusCode }).toEqual({ ...label, status: 404 });
            expect(withoutRequestId(response.json())).toEqual(notFoundBody);
          } else {
            // In their own workspace with someone else's ids: the same answer as for ids that do not exist
            // (404, or a 403 that the caller's permissions give whatever the id).
            const randomIds = Object.fromEntries(Object.keys(victim.ids).map((k) => [k, randomUUID()]));
            const unknown = await call(
              t.app,
              attempt.as,
              method as "GET",
              fillPath(route.url, { ...randomIds, workspaceId: intruder.ids.workspaceId, ...CONSTANTS }) +
                exampleQuery(route, randomIds),
              body,
            );
            expect({ ...label, status: response.statusCode }).toEqual({
              ...label,
              status: unknown.statusCode,
            });
            expect([403, 404]).toContain(response.statusCode);
            expect(withoutRequestId(response.json())).toEqual(withoutRequestId(unknown.json()));
          }
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(30);

    // The victim's workspace is as it was.
    const { workspaceId, clientId, memberId, keyId } = victim.ids;
    const base = `/api/v1/workspaces/${workspaceId}`;
    expect((await call(t.app, victim.session, "GET", `${base}/clients/${clientId}`)).json().name).toBe(
      "Victim client",
    );
    expect((await call(t.app, victim.session, "GET", base)).json().name).toBe("Victim");
    const members = (await call(t.app, victim.session, "GET", `${base}/members`)).json().items;
    expect(members.map((m: { id: string }) => m.id)).toContain(memberId);
    const keys = (await call(t.app, victim.session, "GET", `${base}/api-keys`)).json().items;
    expect(keys.find((k: { id: string }) => k.id === keyId)?.revokedAt).toBeNull();
    expect((await call(t.app, victim.apiKey, "GET", `${base}/clients`)).statusCode).toBe(200);
  });
});
