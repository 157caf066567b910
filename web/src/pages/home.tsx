/** Where a person lands: the next step to get a post out, and what is coming up. */
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { api, unwrap } from "../api/client";
import { Loading, PageHeader, StatusBadge } from "../components/ui";
import { useAccounts, useClients } from "../queries";
import { can, useWorkspace } from "../session";

export function HomePage() {
  const workspace = useWorkspace();
  const clients = useClients();
  const accounts = useAccounts();
  const upcoming = useQuery({
    queryKey: ["posts", workspace.id, "home"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/posts", {
          params: { path: { workspaceId: workspace.id }, query: { limit: 5 } },
        }),
      ),
  });
  if (clients.isPending || accounts.isPending) return <Loading what="Loading your workspace" />;
  const hasClient = (clients.data?.items.length ?? 0) > 0;
  const hasAccount = (accounts.data?.items.filter((a) => a.status !== "disconnected").length ?? 0) > 0;
  const hasPost = (upcoming.data?.items.length ?? 0) > 0;
  const writer = can.writePosts(workspace.role);
  return (
    <>
      <PageHeader title={workspace.name} />
      {writer ? (
        <section aria-labelledby="steps" className="card">
          <h2 id="steps">Get a post out</h2>
          <ol className="steps">
            <li className={hasClient ? "done" : ""}>
              <span className="visually-hidden">{hasClient ? "Done: " : "To do: "}</span>
              <Link to="/clients">Add a client</Link> — the brand you post for, with its time zone.
            </li>
            <li className={hasAccount ? "done" : ""}>
              <span className="visually-hidden">{hasAccount ? "Done: " : "To do: "}</span>
              <Link to="/accounts">Connect an account</Link> — the Sandbox works right away, no setup.
            </li>
            <li className={hasPost ? "done" : ""}>
              <span className="visually-hidden">{hasPost ? "Done: " : "To do: "}</span>
              <Link to="/compose">Write and schedule a post</Link>, then watch it on the{" "}
              <Link to="/calendar">calendar</Link>.
            </li>
          </ol>
        </section>
      ) : null}
      <section aria-labelledby="recent" className="card">
        <h2 id="recent">Latest posts</h2>
        {upcoming.isPending ? (
          <Loading what="Loading posts" />
        ) : upcoming.data && upcoming.data.items.length > 0 ? (
          <ul className="list">
            {upcoming.data.items.map((post) => (
              <li key={post.id}>
                <Link to={`/posts/${post.id}`}>{post.content.text?.slice(0, 80) || "(no text)"}</Link>{" "}
                <StatusBadge status={post.status} />
              </li>
            ))}
          </ul>
        ) : (
          <p>No posts yet.</p>
        )}
      </section>
    </>
  );
}
