/**
 * Posts waiting for approval. Staff see every client's; a client user (role `client`) sees only
 * the posts of the clients they belong to — the server filters, this page says so.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link } from "react-router";
import { type ApiError, api, type Schemas, unwrap } from "../api/client";
import { Empty, Field, FormError, formatInZone, PageHeader, QueryState } from "../components/ui";
import { useAccounts, useClients } from "../queries";
import { useWorkspace } from "../session";
import { browserTimeZone } from "../time";

export function ApprovalsPage() {
  const workspace = useWorkspace();
  const clients = useClients();
  const posts = useQuery({
    queryKey: ["posts", workspace.id, "pending_approval"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/posts", {
          params: { path: { workspaceId: workspace.id }, query: { status: "pending_approval", limit: 100 } },
        }),
      ),
  });
  const clientNames = (clients.data?.items ?? []).map((c) => c.name).join(", ");
  return (
    <>
      <PageHeader title="Approvals" />
      {workspace.role === "client" ? (
        <p className="hint">You see the posts prepared for {clientNames || "your client"}.</p>
      ) : null}
      <QueryState query={posts} what="posts to approve">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              <p>Nothing is waiting for approval.</p>
            </Empty>
          ) : (
            <ul className="cards">
              {data.items.map((post) => (
                <ApprovalCard key={post.id} post={post} clients={clients.data?.items ?? []} />
              ))}
            </ul>
          )
        }
      </QueryState>
    </>
  );
}

function ApprovalCard({ post, clients }: { post: Schemas["Post"]; clients: Schemas["Client"][] }) {
  const { id: workspaceId, role } = useWorkspace();
  const queryClient = useQueryClient();
  const accounts = useAccounts();
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState("");
  const [checked, setChecked] = useState(false);
  const client = clients.find((c) => c.id === post.clientId);
  const zone = client?.timezone ?? browserTimeZone();
  const path = { workspaceId, postId: post.id };
  const done = () => queryClient.invalidateQueries({ queryKey: ["posts", workspaceId] });
  const approve = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(api.POST("/api/v1/workspaces/{workspaceId}/posts/{postId}/approve", { params: { path } })),
    onSuccess: done,
  });
  const reject = useMutation<unknown, ApiError>({
    mutationFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspaceId}/posts/{postId}/reject", {
          params: { path },
          body: { reason: reason.trim() },
        }),
      ),
    onSuccess: done,
  });
  const reasonError = reason.trim().length === 0 ? "Say what to change." : reject.error?.forField("reason");
  const submitReject = (event: FormEvent) => {
    event.preventDefault();
    setChecked(true);
    if (reason.trim().length > 0) reject.mutate();
  };
  const names = post.targets
    .map((t) => accounts.data?.items.find((a) => a.id === t.accountId)?.name ?? t.platform)
    .join(", ");
  return (
    <li className="card" aria-label={`Post for ${client?.name ?? "no client"}`}>
      <p className="post-text">{post.content.text}</p>
      <dl className="facts">
        <dt>Client</dt>
        <dd>{client?.name ?? "No client"}</dd>
        <dt>Goes out</dt>
        <dd>{post.publishAt ? `${formatInZone(post.publishAt, zone)} (${zone})` : "When approved"}</dd>
        <dt>On</dt>
        <dd>{names}</dd>
      </dl>
      {role !== "client" ? <Link to={`/posts/${post.id}`}>Details</Link> : null}
      <FormError error={approve.error} />
      {rejecting ? (
        <form onSubmit={submitReject} noValidate>
          <Field
            label="Why is it rejected?"
            hint="The author sees this."
            error={checked ? reasonError : undefined}
          >
            {(props) => (
              <textarea {...props} rows={3} value={reason} onChange={(e) => setReason(e.target.value)} />
            )}
          </Field>
          <FormError error={reject.error} shownPaths={["reason"]} />
          <div className="actions">
            <button type="submit" className="danger" disabled={reject.isPending}>
              {reject.isPending ? "Rejecting…" : "Reject post"}
            </button>
            <button type="button" onClick={() => setRejecting(false)}>
              Back
            </button>
          </div>
        </form>
      ) : (
        <div className="actions">
          <button
            type="button"
            className="primary"
            onClick={() => approve.mutate()}
            disabled={approve.isPending}
          >
            {approve.isPending ? "Approving…" : "Approve"}
          </button>
          <button type="button" onClick={() => setRejecting(true)}>
            Reject…
          </button>
        </div>
      )}
    </li>
  );
}
