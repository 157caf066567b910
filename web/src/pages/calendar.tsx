/**
 * The calendar (month, week, list), loaded on demand: FullCalendar is most of this chunk.
 * Posts are coloured by status (with the status also in the title, never colour alone); dragging a
 * post that has not gone out yet reschedules it, and a refused move snaps back with the reason.
 */
import "temporal-polyfill/global";
import FullCalendar from "@fullcalendar/react";
import dayGridPlugin from "@fullcalendar/react/daygrid";
import interactionPlugin from "@fullcalendar/react/interaction";
import listPlugin from "@fullcalendar/react/list";
import classicThemePlugin from "@fullcalendar/react/themes/classic";
import timeGridPlugin from "@fullcalendar/react/timegrid";
import "@fullcalendar/react/skeleton.css";
import "@fullcalendar/react/themes/classic/theme.css";
import "@fullcalendar/react/themes/classic/palette.css";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useNavigate } from "react-router";
import { api, unwrap } from "../api/client";
import { ErrorState, FormError, PageHeader, statusLabel } from "../components/ui";
import { useClients } from "../queries";
import { can, useWorkspace } from "../session";
import { browserTimeZone } from "../time";
import { isMovable, STATUS_COLOURS, useReschedule } from "./calendar-reschedule";

export default function CalendarPage() {
  const workspace = useWorkspace();
  const navigate = useNavigate();
  const clients = useClients();
  const [clientId, setClientId] = useState("");
  const [range, setRange] = useState<{ from: string; to: string }>();
  const posts = useQuery({
    queryKey: ["calendar", workspace.id, clientId, range?.from, range?.to],
    enabled: range !== undefined,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspaceId}/calendar", {
          params: {
            path: { workspaceId: workspace.id },
            query: { from: range?.from ?? "", to: range?.to ?? "", ...(clientId ? { clientId } : {}) },
          },
        }),
      ),
  });
  const reschedule = useReschedule(workspace.id);
  const editable = can.writePosts(workspace.role);

  const events = (posts.data?.items ?? [])
    .filter((post) => post.publishAt)
    .map((post) => ({
      id: post.id,
      title: `${statusLabel(post.status)}: ${post.content.text?.slice(0, 40) || "(no text)"}`,
      start: post.publishAt ?? undefined,
      editable: editable && isMovable(post.status),
      backgroundColor: STATUS_COLOURS[post.status],
      borderColor: STATUS_COLOURS[post.status],
      textColor: "#fff",
      extendedProps: { status: post.status },
    }));

  return (
    <>
      <PageHeader title="Calendar" />
      <div className="filters">
        <label>
          Client{" "}
          <select value={clientId} onChange={(e) => setClientId(e.target.value)}>
            <option value="">All clients</option>
            {(clients.data?.items ?? []).map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <span className="hint">Times are shown in your time zone, {browserTimeZone()}.</span>
      </div>
      <ul className="legend" aria-label="Colours by status">
        {Object.entries(STATUS_COLOURS).map(([status, colour]) => (
          <li key={status}>
            <span className="swatch" style={{ background: colour }} aria-hidden="true" />{" "}
            {statusLabel(status)}
          </li>
        ))}
      </ul>
      {reschedule.error ? <FormError error={reschedule.error} /> : null}
      {reschedule.moved ? (
        <p role="status" className="alert alert-ok">
          Rescheduled.
        </p>
      ) : null}
      {posts.isError ? <ErrorState error={posts.error} retry={() => void posts.refetch()} /> : null}
      <div className="calendar" aria-busy={posts.isFetching}>
        <FullCalendar
          plugins={[dayGridPlugin, timeGridPlugin, listPlugin, interactionPlugin, classicThemePlugin]}
          initialView={window.matchMedia?.("(max-width: 600px)").matches ? "listWeek" : "dayGridMonth"}
          headerToolbar={{
            start: "prev,next today",
            center: "title",
            end: "dayGridMonth,timeGridWeek,listWeek",
          }}
          height="auto"
          events={events}
          datesSet={(info) => {
            const from = info.start.toISOString();
            const to = info.end.toISOString();
            setRange((current) => (current?.from === from && current.to === to ? current : { from, to }));
          }}
          eventClick={(info) => {
            info.jsEvent.preventDefault();
            navigate(`/posts/${info.event.id}`);
          }}
          eventDrop={(info) => {
            const start = info.event.start;
            if (!start) return info.revert();
            void reschedule.move(info.event.id, start, info.revert);
          }}
        />
      </div>
    </>
  );
}
