import { fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Composer } from "../src/pages/composer";
import { account, client, fakeApi, renderPage, sandboxProvider } from "./helpers";

afterEach(() => vi.unstubAllGlobals());

/** The server's answer for a draft: Sandbox allows 500 characters. */
function validation(body: {
  content: { text?: string };
  targets: { accountId: string; overrides?: { text?: string } }[];
}) {
  const errors: { path: string; message: string; rule: string }[] = [];
  const targets = body.targets.map((target, index) => {
    const text = target.overrides?.text ?? body.content.text ?? "";
    const length = [...text].length;
    if (length > 500)
      errors.push({
        path: `body.targets.${index}.text`,
        rule: "text_too_long",
        message: `Sandbox page Contoso: Sandbox allows at most 500 characters; this text has ${length}.`,
      });
    return {
      accountId: target.accountId,
      platform: "sandbox",
      valid: length <= 500,
      text: { length, maxLength: 500 },
    };
  });
  return { valid: errors.length === 0, errors, targets };
}

function renderComposer() {
  return renderPage(
    <Composer clients={[client]} accounts={[account]} providers={[sandboxProvider]} />,
    "/compose",
  );
}

describe("the composer's live validation", () => {
  it("counts characters at once and asks the server once the person pauses", async () => {
    const api = fakeApi(({ path, body }) =>
      path.endsWith("/posts/validate")
        ? { body: validation(body as Parameters<typeof validation>[0]) }
        : undefined,
    );
    renderComposer();
    await userEvent.click(screen.getByLabelText(/Contoso on Sandbox/));
    await userEvent.type(screen.getByLabelText("Text"), "Hello");
    expect(screen.getByText(/^5 \/ 500 characters/)).toBeTruthy();
    await waitFor(() => expect(screen.getByText("✓ Ready for sandbox")).toBeTruthy());
    // Debounced: five keystrokes, not five requests (one more at most when the account was ticked).
    const validations = api.calls.filter((c) => c.path.endsWith("/posts/validate"));
    expect(validations.length).toBeLessThanOrEqual(2);
    expect(validations.at(-1)?.body).toMatchObject({
      clientId: client.id,
      content: { text: "Hello" },
      targets: [{ accountId: account.id }],
    });
  });

  it("shows the platform's problem under the account and the counter over the limit", async () => {
    fakeApi(({ path, body }) =>
      path.endsWith("/posts/validate")
        ? { body: validation(body as Parameters<typeof validation>[0]) }
        : undefined,
    );
    renderComposer();
    await userEvent.click(screen.getByLabelText(/Contoso on Sandbox/));
    fireEvent.change(screen.getByLabelText("Text"), { target: { value: "x".repeat(510) } });
    expect(screen.getByText(/510 \/ 500 characters — 10 too many/)).toBeTruthy();
    const problems = await screen.findByRole("list", { name: "Problems for Contoso on Sandbox" });
    expect(problems.textContent).toContain("allows at most 500 characters; this text has 510");
    expect(screen.getByText(/Fix the problems above/)).toBeTruthy();
  });

  it("validates an override on its own account", async () => {
    fakeApi(({ path, body }) =>
      path.endsWith("/posts/validate")
        ? { body: validation(body as Parameters<typeof validation>[0]) }
        : undefined,
    );
    renderComposer();
    await userEvent.click(screen.getByLabelText(/Contoso on Sandbox/));
    await userEvent.type(screen.getByLabelText("Text"), "Short");
    await userEvent.click(screen.getByLabelText("Customise the text for Contoso on Sandbox"));
    fireEvent.change(screen.getByLabelText("Text for Contoso on Sandbox"), {
      target: { value: "y".repeat(600) },
    });
    expect(await screen.findByText(/this text has 600/)).toBeTruthy();
  });

  it("checks on the client before sending: no account, no time", async () => {
    const api = fakeApi(() => undefined);
    renderComposer();
    await userEvent.click(screen.getByRole("button", { name: "Schedule post" }));
    expect(screen.getByText(/Choose at least one account/)).toBeTruthy();
    expect(screen.getByText(/Choose a date and time/)).toBeTruthy();
    expect(api.calls.filter((c) => c.path.endsWith("/posts"))).toHaveLength(0);
  });

  it("shows the server's 422 problems next to the fields they name, and keeps what was written", async () => {
    fakeApi(({ path, method, body }) => {
      if (path.endsWith("/posts/validate"))
        return { body: validation(body as Parameters<typeof validation>[0]) };
      if (path.endsWith("/posts") && method === "POST")
        return {
          status: 422,
          body: {
            type: "urn:herald:problem:validation",
            title: "Validation failed",
            status: 422,
            detail: "publishAt: is in the past",
            code: "HERALD_VALIDATION",
            requestId: "r1",
            errors: [{ path: "body.publishAt", message: "must be in the future" }],
          },
        };
      return undefined;
    });
    renderComposer();
    await userEvent.click(screen.getByLabelText(/Contoso on Sandbox/));
    await userEvent.type(screen.getByLabelText("Text"), "Autumn menu");
    const time = screen.getByLabelText(/Date and time in Europe\/Paris/);
    fireEvent.change(time, { target: { value: "2099-01-15T09:30" } });
    await userEvent.click(screen.getByRole("button", { name: "Schedule post" }));
    expect(await screen.findByText("must be in the future")).toBeTruthy();
    expect(time.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByRole("alert").textContent).toContain("publishAt: is in the past");
    expect((screen.getByLabelText("Text") as HTMLTextAreaElement).value).toBe("Autumn menu");
  });

  it("writes the client's time zone out and sends the time with its offset", async () => {
    const api = fakeApi(({ path, method, body }) => {
      if (path.endsWith("/posts/validate"))
        return { body: validation(body as Parameters<typeof validation>[0]) };
      if (path.endsWith("/posts") && method === "POST") return { status: 201, body: { id: "p1" } };
      return undefined;
    });
    renderComposer();
    await userEvent.click(screen.getByLabelText(/Contoso on Sandbox/));
    await userEvent.type(screen.getByLabelText("Text"), "Winter menu");
    fireEvent.change(screen.getByLabelText(/Date and time in Europe\/Paris \(UTC\+0[12]:00\)/), {
      target: { value: "2099-01-15T09:30" },
    });
    await userEvent.click(screen.getByRole("button", { name: "Schedule post" }));
    await waitFor(() =>
      expect(api.calls.some((c) => c.path.endsWith("/posts") && c.method === "POST")).toBe(true),
    );
    const created = api.calls.find((c) => c.path.endsWith("/posts") && c.method === "POST");
    expect(created?.body).toMatchObject({
      publishAt: "2099-01-15T09:30:00+01:00",
      content: { text: "Winter menu" },
    });
  });
});
