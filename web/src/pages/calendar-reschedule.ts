/** Rescheduling from the calendar: PATCH the post's time; on refusal put it back and say why. */
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, type Schemas, unwrap } from "../api/client";

type Status = Schemas["Post"]["status"];

/** Colours by status; the status is also written in every event's title. */
export const STATUS_COLOURS: Record<Status, string> = {
  draft: "#6b7280",
  pending_approval: "#b45309",
  scheduled: "#1d4ed8",
  publishing: "#7c3aed",
  published: "#15803d",
  partially_published: "#a16207",
  failed: "#b91c1c",
  unconfirmed: "#c2410c",
  cancelled: "#4b5563",
};

/** Only posts that have not started going out can move. */
export function isMovable(status: Status): boolean {
  return status === "scheduled" || status === "draft" || status === "pending_approval";
}

export function useReschedule(workspaceId: string) {
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>();
  const [moved, setMoved] = useState(false);
  const move = async (postId: string, start: Date, revert: () => void) => {
    setError(undefined);
    setMoved(false);
    try {
      await unwrap(
        api.PATCH("/api/v1/workspaces/{workspaceId}/posts/{postId}", {
          params: { path: { workspaceId, postId } },
          body: { publishAt: start.toISOString() },
        }),
      );
      setMoved(true);
    } catch (caught) {
      // The calendar shows what the server holds, never a half-done move.
      revert();
      setError(caught);
    } finally {
      await queryClient.invalidateQueries({ queryKey: ["calendar", workspaceId] });
      await queryClient.invalidateQueries({ queryKey: ["post", workspaceId, postId] });
    }
  };
  return { move, error, moved };
}
