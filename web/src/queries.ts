/** Queries several pages share, keyed by workspace so that switching never shows stale data. */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "./api/client";
import { useWorkspace } from "./session";

export function useClients() {
  const { id: workspaceId } = useWorkspace();
  return useQuery({
    queryKey: ["clients", workspaceId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspaceId}/clients", { params: { path: { workspaceId } } })),
  });
}

export function useAccounts() {
  const { id: workspaceId } = useWorkspace();
  return useQuery({
    queryKey: ["accounts", workspaceId],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/accounts", {
          params: { path: { workspaceId }, query: { limit: 100 } },
        }),
      ),
  });
}

export function useProviders() {
  return useQuery({
    queryKey: ["providers"],
    queryFn: () => unwrap(api.GET("/api/v1/providers")),
    staleTime: Number.POSITIVE_INFINITY,
  });
}
