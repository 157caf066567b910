import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Schemas } from "../src/api/client";
import CalendarPage from "../src/pages/calendar";
import { client, fakeApi, renderPage } from "./helpers";

/**
 * FullCalendar's own dragging needs a real layout engine; this stand-in renders each event with a
 * "drop" button that calls `eventDrop` the way FullCalendar does (the moved event and `revert`).
 */
type FakeEvent = { id: string; title: string; start?: string; editable?: boolean };
type FakeProps = {
  events: FakeEvent[];
  datesSet: (info: { start: Date; end: Date }) => void;
  eventDrop: (info: { event: { id: string; start: Date | null }; revert: () => void }) => void;
};
const reverted = vi.fn();
vi.mock("@fullcalendar/react", async () => {
  const { useEffect } = await import("react");
  return {
    default: function FakeCalendar({ events, datesSet, eventDrop }: FakeProps) {
      // Once, like FullCalendar's first render of a month.
      useEffect(
        () => datesSet({ start: new Date("2099-01-01T00:00:00Z"), end: new Date("2099-02-01T00:00:00Z") }),
        [],
      );
      return (
        <ul>
          {events.map((event) => (
            <li key={event.id}>
              {event.title}
              {event.editable ? (
                <button
                  type="button"
                  onClick={() =>
                    eventDrop({
                      event: { id: event.id, start: new Date("2099-01-20T08:00:00Z") },
                      revert: reverted,
                    })
                  }
                >
                  Drop {event.id} on the 20th
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      );
    },
  };
});
for (const plugin of ["daygrid", "timegrid", "list", "interaction", "themes/classic"]) {
  vi.doMock(`@fullcalendar/react/${plugin}`, () => ({ default: {} }));
}

afterEach(() => {
  vi.unstubAllGlobals();
  reverted.mockReset();
});

function post(
  id: string,
  status: Schemas["Post"]["status"],
  publishAt = "2099-01-15T08:30:00Z",
): Schemas["Post"] {
  return {
    id,
    clientId: client.id,
    status,
    content: { text: `Post ${id}` },
    publishAt,
    approval: {
      state: "none",
      approvedBy: null,
      approvedAt: null,
      rejectedBy: null,
      rejectedAt: null,
      reason: null,
    },
    version: 1,
    createdBy: null,
    createdAt: "2099-01-01T00:00:00Z",
    updatedAt: "2099-01-01T00:00:00Z",
    targets: [],
  };
}

describe("rescheduling on the calendar", () => {
  it("moves a scheduled post to where it was dropped", async () => {
    let stored = post("a", "scheduled");
    const api = fakeApi(({ path, method, body }) => {
      if (path.endsWith("/clients")) return { body: { items: [client] } };
      if (path.endsWith("/calendar")) return { body: { items: [stored] } };
      if (path.endsWith("/posts/a") && method === "PATCH") {
        stored = { ...stored, publishAt: (body as { publishAt: string }).publishAt };
        return { body: stored };
      }
      return undefined;
    });
    renderPage(<CalendarPage />, "/calendar");
    await userEvent.click(await screen.findByRole("button", { name: "Drop a on the 20th" }));
    await waitFor(() => expect(screen.getByRole("status").textContent).toContain("Rescheduled"));
    expect(api.calls.find((c) => c.method === "PATCH")?.body).toEqual({
      publishAt: "2099-01-20T08:00:00.000Z",
    });
    expect(reverted).not.toHaveBeenCalled();
    // The calendar reads the range again from the server after a move.
    expect(api.calls.filter((c) => c.path.endsWith("/calendar")).length).toBeGreaterThanOrEqual(2);
  });

  it("puts the post back and says why when the server refuses the move", async () => {
    fakeApi(({ path, method }) => {
      if (path.endsWith("/clients")) return { body: { items: [client] } };
      if (path.endsWith("/calendar")) return { body: { items: [post("a", "scheduled")] } };
      if (path.endsWith("/posts/a") && method === "PATCH")
        return {
          status: 409,
          body: {
            type: "urn:herald:problem:conflict",
            title: "Conflict",
            status: 409,
            detail: "The post is already publishing and can no longer be moved.",
            code: "HERALD_CONFLICT",
            requestId: "r1",
          },
        };
      return undefined;
    });
    renderPage(<CalendarPage />, "/calendar");
    await userEvent.click(await screen.findByRole("button", { name: "Drop a on the 20th" }));
    expect((await screen.findByRole("alert")).textContent).toContain("can no longer be moved");
    expect(reverted).toHaveBeenCalledOnce();
  });

  it("lets only posts that have not gone out move, and writes each status out", async () => {
    fakeApi(({ path }) => {
      if (path.endsWith("/clients")) return { body: { items: [client] } };
      if (path.endsWith("/calendar"))
        return { body: { items: [post("a", "scheduled"), post("b", "published"), post("c", "failed")] } };
      return undefined;
    });
    renderPage(<CalendarPage />, "/calendar");
    expect(await screen.findByText("Published: Post b")).toBeTruthy();
    expect(screen.getByText("Failed: Post c")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Drop a on the 20th" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: /Drop b/ })).toBeNull();
    expect(screen.queryByRole("button", { name: /Drop c/ })).toBeNull();
  });
});
