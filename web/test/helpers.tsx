/** Rendering a page as the app does (query client, router, a signed-in person) against a fake API. */
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import { vi } from "vitest";
import type { Schemas } from "../src/api/client";
import { type Me, WorkspaceProvider } from "../src/session";

export const WORKSPACE_ID = "11111111-1111-4111-8111-111111111111";

export const me: Me = {
  user: {
    id: "22222222-2222-4222-8222-222222222222",
    name: "Ada",
    email: "ada@example.com",
    createdAt: "2026-01-01T00:00:00Z",
  },
  apiKey: null,
  workspaces: [
    {
      id: WORKSPACE_ID,
      name: "Northwind",
      slug: "northwind",
      role: "owner",
      createdAt: "2026-01-01T00:00:00Z",
    },
  ],
};

type Handler = (request: { method: string; path: string; body: unknown; url: URL }) =>
  | {
      status?: number;
      body: unknown;
    }
  | undefined;

/** Replaces fetch: each call goes to the handler, and is recorded. */
export function fakeApi(handler: Handler) {
  const calls: { method: string; path: string; body: unknown }[] = [];
  const fetch = vi.fn(async (input: Request | string | URL) => {
    const request = input instanceof Request ? input : new Request(input);
    const url = new URL(request.url);
    const text = await request.text();
    const body = text ? JSON.parse(text) : undefined;
    calls.push({ method: request.method, path: url.pathname, body });
    const answer = handler({ method: request.method, path: url.pathname, body, url }) ?? {
      status: 404,
      body: {
        status: 404,
        title: "Not found",
        detail: `no fake for ${request.method} ${url.pathname}`,
        code: "HERALD_NOT_FOUND",
      },
    };
    const status = answer.status ?? 200;
    return new Response(status === 204 ? null : JSON.stringify(answer.body), {
      status,
      headers: { "content-type": status >= 400 ? "application/problem+json" : "application/json" },
    });
  });
  vi.stubGlobal("fetch", fetch);
  return { calls, fetch };
}

export function renderPage(page: ReactNode, path = "/") {
  const queryClient = new QueryClient({
    defaultOptions: { queries: { retry: false }, mutations: { retry: false } },
  });
  return render(
    <QueryClientProvider client={queryClient}>
      <MemoryRouter initialEntries={[path]}>
        <WorkspaceProvider me={me}>
          <Routes>
            <Route path="*" element={page} />
          </Routes>
        </WorkspaceProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

export const client: Schemas["Client"] = {
  id: "33333333-3333-4333-8333-333333333333",
  name: "Contoso Coffee",
  timezone: "Europe/Paris",
  postingTimes: [{ weekday: 1, time: "09:30" }],
  requiresApproval: false,
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:00Z",
};

export const account: Schemas["Account"] = {
  id: "44444444-4444-4444-8444-444444444444",
  platform: "sandbox",
  platformAccountId: "acct_1",
  name: "Contoso on Sandbox",
  handle: "contoso",
  avatarUrl: null,
  status: "active",
  statusReason: null,
  scopes: ["posts:write"],
  missingScopes: [],
  tokenExpiresAt: null,
  grantExpiresAt: null,
  lastRefreshedAt: null,
  clientIds: [client.id],
  connectedAt: "2026-01-01T00:00:00Z",
  disconnectedAt: null,
};

export const sandboxProvider: Schemas["Provider"] = {
  platform: "sandbox",
  displayName: "Sandbox",
  connector: "sandbox",
  scopes: ["posts:write"],
  capabilities: {
    contentTypes: ["text"],
    formats: ["post"],
    text: { maxLength: 500, required: true },
    media: { required: false, maxCount: 4, mixed: false },
    link: true,
    firstComment: false,
  },
  idempotency: "native_key",
  refreshable: true,
};
