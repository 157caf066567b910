/** The signed-in app: navigation, workspace switcher, and the pages. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useState } from "react";
import { Navigate, NavLink, Route, Routes, useNavigate } from "react-router";
import { api, unwrap } from "../api/client";
import { Loading } from "../components/ui";
import { can, useMe, useWorkspaces } from "../session";
import { AccountsPage, ConnectReturnPage } from "./accounts";
import { ApprovalsPage } from "./approvals";
import { AuditPage } from "./audit";
import { ClientsPage } from "./clients";
import { ComposerPage } from "./composer";
import { HomePage } from "./home";
import { PostDetailPage, QueuePage } from "./posts";
import { SettingsPage } from "./settings";
import { NewWorkspacePage, WorkspacesPage } from "./workspaces";

const CalendarPage = lazy(() => import("./calendar"));
const MonitoringPage = lazy(() => import("./monitoring"));

export default function Shell() {
  const { workspace } = useWorkspaces();
  if (!workspace) {
    return (
      <Frame>
        <NewWorkspacePage first />
      </Frame>
    );
  }
  return (
    <Frame>
      <Suspense fallback={<Loading />}>
        <Routes>
          <Route path="/" element={<HomePage />} />
          <Route path="/compose" element={<ComposerPage />} />
          <Route path="/calendar" element={<CalendarPage />} />
          <Route path="/posts" element={<QueuePage />} />
          <Route path="/posts/:postId" element={<PostDetailPage />} />
          <Route path="/approvals" element={<ApprovalsPage />} />
          <Route path="/clients" element={<ClientsPage />} />
          <Route path="/accounts" element={<AccountsPage />} />
          <Route path="/accounts/connect" element={<ConnectReturnPage />} />
          <Route path="/audit" element={<AuditPage />} />
          <Route path="/monitoring" element={<MonitoringPage />} />
          <Route path="/settings/*" element={<SettingsPage />} />
          <Route path="/workspaces" element={<WorkspacesPage />} />
          <Route path="/workspaces/new" element={<NewWorkspacePage />} />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Routes>
      </Suspense>
    </Frame>
  );
}

function Frame({ children }: { children: React.ReactNode }) {
  const [open, setOpen] = useState(false);
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <NavLink to="/" className="brand">
          <span aria-hidden="true">✦</span> Herald
        </NavLink>
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={open}
          aria-controls="nav"
          onClick={() => setOpen(!open)}
        >
          Menu
        </button>
        <WorkspaceSwitcher />
        <SignOut />
      </header>
      <div className="body">
        <Nav open={open} onNavigate={() => setOpen(false)} />
        <main id="main" tabIndex={-1}>
          {children}
        </main>
      </div>
    </div>
  );
}

function Nav({ open, onNavigate }: { open: boolean; onNavigate: () => void }) {
  const { workspace } = useWorkspaces();
  if (!workspace) return null;
  const role = workspace.role ?? "viewer";
  const links: [string, string, boolean][] = [
    ["/", "Home", true],
    ["/compose", "Compose", can.writePosts(role)],
    ["/calendar", "Calendar", true],
    ["/posts", "Queue", true],
    ["/approvals", "Approvals", can.approve(role)],
    ["/clients", "Clients", role !== "client"],
    ["/accounts", "Accounts", role !== "client"],
    ["/monitoring", "Monitoring", can.monitor(role)],
    ["/audit", "Audit log", can.admin(role)],
    ["/settings", "Settings", role !== "client"],
  ];
  return (
    <nav id="nav" aria-label="Main" className={open ? "nav nav-open" : "nav"}>
      <ul>
        {links
          .filter(([, , shown]) => shown)
          .map(([to, label]) => (
            <li key={to}>
              <NavLink to={to} end={to === "/"} onClick={onNavigate}>
                {label}
              </NavLink>
            </li>
          ))}
      </ul>
    </nav>
  );
}

function WorkspaceSwitcher() {
  const { workspace, workspaces, select } = useWorkspaces();
  const navigate = useNavigate();
  if (!workspace) return null;
  return (
    <div className="switcher">
      <label htmlFor="workspace-switcher" className="visually-hidden">
        Workspace
      </label>
      <select
        id="workspace-switcher"
        value={workspace.id}
        onChange={(e) => {
          if (e.target.value === "__new") return navigate("/workspaces/new");
          select(e.target.value);
          navigate("/");
        }}
      >
        {workspaces.map((w) => (
          <option key={w.id} value={w.id}>
            {w.name}
          </option>
        ))}
        <option value="__new">+ New workspace…</option>
      </select>
    </div>
  );
}

function SignOut() {
  const me = useMe();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const signOut = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/auth/sign-out")),
    onSettled: () => {
      queryClient.clear();
      navigate("/sign-in", { replace: true });
    },
  });
  return (
    <div className="user">
      <span className="user-name">{me.data?.user?.name}</span>
      <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
        Sign out
      </button>
    </div>
  );
}
