/**
 * Who is signed in and which workspace they are working in. The workspace chosen last is kept in
 * localStorage (an id, nothing secret); the list and the roles always come from GET /me.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from "react";
import { ApiError, api, type Schemas, unwrap } from "./api/client";

export type Me = Schemas["Me"];
export type Workspace = Schemas["Workspace"];
export type Role = NonNullable<Workspace["role"]>;

const STORAGE_KEY = "herald.workspace";

export function useMe() {
  return useQuery({
    queryKey: ["me"],
    queryFn: async (): Promise<Me | null> => {
      try {
        return await unwrap(api.GET("/api/v1/me"));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }
    },
    staleTime: 60_000,
  });
}

type WorkspaceState = {
  workspace: Workspace | undefined;
  workspaces: Workspace[];
  select: (id: string) => void;
};

const WorkspaceContext = createContext<WorkspaceState>({
  workspace: undefined,
  workspaces: [],
  select: () => {},
});

export function WorkspaceProvider({ me, children }: { me: Me; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [chosen, setChosen] = useState(() => readChosen());
  const workspace = me.workspaces.find((w) => w.id === chosen) ?? me.workspaces[0];
  const select = useCallback(
    (id: string) => {
      writeChosen(id);
      setChosen(id);
      // Everything cached belongs to the previous workspace.
      queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== "me" });
    },
    [queryClient],
  );
  const value = useMemo(() => ({ workspace, workspaces: me.workspaces, select }), [workspace, me, select]);
  return <WorkspaceContext.Provider value={value}>{children}</WorkspaceContext.Provider>;
}

export function useWorkspaces(): WorkspaceState {
  return useContext(WorkspaceContext);
}

/** The current workspace; pages under the app shell are only rendered when there is one. */
export function useWorkspace(): Workspace & { role: Role } {
  const { workspace } = useContext(WorkspaceContext);
  if (!workspace) throw new Error("useWorkspace outside a workspace");
  return { ...workspace, role: workspace.role ?? "viewer" };
}

function readChosen(): string | null {
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function writeChosen(id: string): void {
  try {
    window.localStorage.setItem(STORAGE_KEY, id);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
}

/** What a role may do, for showing the right pages and buttons; the server decides for real. */
export const can = {
  writePosts: (role: Role) => ["owner", "admin", "manager", "editor"].includes(role),
  approve: (role: Role) => ["owner", "admin", "manager", "client"].includes(role),
  manageClients: (role: Role) => ["owner", "admin", "manager"].includes(role),
  manageAccounts: (role: Role) => ["owner", "admin", "manager"].includes(role),
  admin: (role: Role) => ["owner", "admin"].includes(role),
  monitor: (role: Role) => role !== "client",
  monitorWrite: (role: Role) => ["owner", "admin", "manager"].includes(role),
  readMembers: (role: Role) => role !== "client",
};
