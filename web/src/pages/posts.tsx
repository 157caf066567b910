/** The queue (posts by status) and one post's detail: each target's state, attempts and errors. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { type ApiError, api, type Schemas, unwrap } from "../api/client";
import {
  ConfirmButton,
  Empty,
  FormError,
  formatInZone,
  formatLocal,
  PageHeader,
  QueryState,
  StatusBadge,
  statusLabel,
} from "../components/ui";
import { useAccounts, useClients } from "../queries";
import { can, useWorkspace } from "../session";
import { browserTimeZone } from "../time";

type Post = Schemas["Post"];
type Status = Post["status"];
const STATUSES: Status[] = [
  "scheduled",
  "pending_approval",
  "publishing",
  "published",
  "partially_published",
  "failed",
  "unconfirmed",
  "draft",
  "cancelled",
];

export function QueuePage() {
  const { id: workspaceId } = useWorkspace();
  const [status, setStatus] = useState<Status | "">("");
  const [cursor, setCursor] = useState<string>();
  const [previous, setPrevious] = useState<string[]>([]);
  const clients = useClients();
  const posts = useQuery({
    queryKey: ["posts", workspaceId, status, cursor],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/posts", {
          params: {
            path: { workspaceId },
            query: { limit: 25, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) },
          },
        }),
      ),
  });
  const clientName = (id: string | null) => clients.data?.items.find((c) => c.id === id)?.name ?? "No client";
  return (
    <>
      <PageHeader title="Queue">
        <Link className="button-like primary" to="/compose">
          New post
        </Link>
      </PageHeader>
      <div className="filters">
        <label>
          Status{" "}
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value as Status | "");
              setCursor(undefined);
              setPrevious([]);
            }}
          >
            <option value="">All</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <QueryState query={posts} what="posts">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>
                No posts{status ? ` with status "${statusLabel(status)}"` : ""}.{" "}
                <Link to="/compose">Write one</Link>.
              </p>
            </Empty>
          ) : (
            <>
              <div className="table-wrap">
                <table>
                  <caption className="visually-hidden">Posts</caption>
                  <thead>
                    <tr>
                      <th scope="col">Post</th>
                      <th scope="col">Client</th>
                      <th scope="col">When</th>
                      <th scope="col">Status</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.items.map((post) => (
                      <tr key={post.id}>
                        <td>
                          <Link to={`/posts/${post.id}`}>
                            {post.content.text?.slice(0, 60) || "(no text)"}
                          </Link>
                        </td>
                        <td>{clientName(post.clientId)}</td>
                        <td>{formatLocal(post.publishAt)}</td>
                        <td>
                          <StatusBadge status={post.status} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <div className="pager">
                <button
                  type="button"
                  disabled={previous.length === 0}
                  onClick={() => {
                    setCursor(previous.at(-1) || undefined);
                    setPrevious(previous.slice(0, -1));
                  }}
                >
                  Previous page
                </button>
                <button
                  type="button"
                  disabled={!data.nextCursor}
                  onClick={() => {
                    setPrevious([...previous, cursor ?? ""]);
                    setCursor(data.nextCursor ?? undefined);
                  }}
                >
                  Next page
                </button>
              </div>
            </>
          )
        }
      </QueryState>
    </>
  );
}

export function PostDetailPage() {
  const { postId = "" } = useParams();
  const { id: workspaceId } = useWorkspace();
  const post = useQuery({
    queryKey: ["post", workspaceId, postId],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/posts/{postId}", {
          params: { path: { workspaceId, postId } },
        }),
      ),
    // Follow a post while it is on its way out.
    refetchInterval: (query) => {
      const status = query.state.data?.status;
      return status === "scheduled" || status === "publishing" ? 3000 : false;
    },
  });
  return (
    <QueryState query={post} what="the post">
      {(data) => <PostDetail post={data} />}
    </QueryState>
  );
}

function PostDetail({ post }: { post: Post }) {
  const workspace = useWorkspace();
  const workspaceId = workspace.id;
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const accounts = useAccounts();
  const clients = useClients();
  const client = clients.data?.items.find((c) => c.id === post.clientId);
  const zone = client?.timezone ?? browserTimeZone();
  const path = { workspaceId, postId: post.id };
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: ["post", workspaceId, post.id] }),
      queryClient.invalidateQueries({ queryKey: ["posts", workspaceId] }),
      queryClient.invalidateQueries({ queryKey: ["calendar", workspaceId] }),
    ]);
  const retry = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(api.POST("/api/v1/workspaces/{workspaceId}/posts/{postId}/retry", { params: { path } })),
    onSuccess: refresh,
  });
  const cancel = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(api.DELETE("/api/v1/workspaces/{workspaceId}/posts/{postId}", { params: { path } })),
    onSuccess: refresh,
  });
  const accountName = (id: string) => accounts.data?.items.find((a) => a.id === id)?.name ?? "Account";
  const writer = can.writePosts(workspace.role);
  const retryable = post.targets.some((t) => t.status === "failed" || t.status === "unconfirmed");
  const cancellable = post.targets.some((t) => ["draft", "scheduled", "pending_approval"].includes(t.status));
  return (
    <>
      <PageHeader title="Post">
        <StatusBadge status={post.status} />
      </PageHeader>
      <section className="card">
        <p className="post-text">{post.content.text || <span className="muted">(no text)</span>}</p>
        <dl className="facts">
          <dt>Client</dt>
          <dd>{client?.name ?? "No client"}</dd>
          <dt>Scheduled for</dt>
          <dd>{post.publishAt ? `${formatInZone(post.publishAt, zone)} (${zone})` : "Not scheduled"}</dd>
          <dt>Approval</dt>
          <dd>
            {statusLabel(post.approval.state)}
            {post.approval.reason ? ` — “${post.approval.reason}”` : ""}
          </dd>
        </dl>
        <FormError error={retry.error ?? cancel.error} />
        {writer ? (
          <div className="actions">
            {retryable ? (
              <button
                type="button"
                className="primary"
                onClick={() => retry.mutate()}
                disabled={retry.isPending}
              >
                {retry.isPending ? "Retrying…" : "Retry failed targets"}
              </button>
            ) : null}
            {cancellable ? (
              <ConfirmButton
                label="Cancel post"
                question="Cancel this post? It will not be published."
                confirmLabel="Cancel post"
                busy={cancel.isPending}
                onConfirm={() => cancel.mutate()}
              />
            ) : null}
            <button type="button" onClick={() => navigate("/calendar")}>
              Open the calendar
            </button>
          </div>
        ) : null}
      </section>
      <h2>Targets</h2>
      <ul className="cards">
        {post.targets.map((target) => (
          <li key={target.id} className="card" data-testid="target">
            <h3>
              {accountName(target.accountId)} <span className="platform">{target.platform}</span>{" "}
              <StatusBadge status={target.status} />
            </h3>
            <dl className="facts">
              <dt>Attempts</dt>
              <dd>{target.attempts}</dd>
              {target.publishedAt ? (
                <>
                  <dt>Published</dt>
                  <dd>{formatInZone(target.publishedAt, zone)}</dd>
                </>
              ) : null}
              {target.nextAttemptAt ? (
                <>
                  <dt>Next attempt</dt>
                  <dd>{formatInZone(target.nextAttemptAt, zone)}</dd>
                </>
              ) : null}
            </dl>
            {target.error ? (
              <p className="alert alert-error">
                <span aria-hidden="true">⚠ </span>
                {target.error.message}
                {target.error.code ? <span className="muted"> ({target.error.code})</span> : null}
              </p>
            ) : null}
            {target.platformUrl ? (
              <p>
                <a href={target.platformUrl} target="_blank" rel="noreferrer">
                  View on {target.platform}
                </a>
              </p>
            ) : null}
            {target.attemptLog && target.attemptLog.length > 0 ? (
              <details>
                <summary>Attempt log</summary>
                <ol className="attempts">
                  {target.attemptLog.map((attempt) => (
                    <li key={attempt.attempt}>
                      #{attempt.attempt} {formatInZone(attempt.startedAt, zone)} —{" "}
                      {attempt.outcome ?? "running"}
                      {attempt.httpStatus ? `, HTTP ${attempt.httpStatus}` : ""}
                      {attempt.latencyMs !== null ? `, ${attempt.latencyMs} ms` : ""}
                      {attempt.message ? `: ${attempt.message}` : ""}
                    </li>
                  ))}
                </ol>
              </details>
            ) : null}
          </li>
        ))}
      </ul>
    </>
  );
}
