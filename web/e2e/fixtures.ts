/** Shared e2e helpers: a page that fails its test on any console error, and quick API setup. */
import { randomBytes } from "node:crypto";
import { test as base, expect, type Page } from "@playwright/test";

export const PASSWORD = "correct horse battery staple";

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}@example.com`;
}

export const test = base.extend<{ consoleErrors: string[] }>({
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on("console", (message) => {
        // A 4xx the app asked for and handled (a 422 from a form, a 401 before sign-in) is logged by
        // the browser as a failed resource load; that is not an error of the app.
        if (message.type() === "error" && !/Failed to load resource/.test(message.text())) {
          errors.push(message.text());
        }
      });
      page.on("pageerror", (error) => errors.push(error.message));
      await use(errors);
      expect(errors, "console errors").toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };

/** Signs a person up through the API, in the page's context (the cookie is the browser's). */
export async function signUpByApi(page: Page, name = "E2E Person", email = uniqueEmail("e2e")) {
  const response = await page.request.post("/api/v1/auth/sign-up", {
    data: { name, email, password: PASSWORD },
  });
  expect(response.status()).toBe(201);
  return email;
}

export async function createWorkspaceByApi(page: Page, name: string): Promise<string> {
  const response = await page.request.post("/api/v1/workspaces", { data: { name } });
  expect(response.status()).toBe(201);
  return (await response.json()).id;
}

/** No horizontal scrolling: the page fits the viewport's width. */
export async function expectNoHorizontalOverflow(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `horizontal overflow on ${page.url()}`).toBeLessThanOrEqual(0);
}

/** A wall-clock time in a zone, as a datetime-local input takes it. */
export function localTimeIn(timeZone: string, at: Date): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  }).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")}T${get("hour")}:${get("minute")}`;
}

/** Connects the Sandbox through the real popup: consent page, callback, pending choice. */
export async function connectSandbox(page: Page) {
  await page.goto("/accounts");
  const popupPromise = page.waitForEvent("popup");
  await page.getByRole("button", { name: "Connect Sandbox" }).click();
  const popup = await popupPromise;
  await popup.getByRole("button", { name: "Approve" }).click();
  const chooser = page.getByRole("region", { name: "Choose the accounts to add" });
  await expect(chooser.getByRole("checkbox", { name: /Sandbox Page/ })).toBeChecked();
  await chooser.getByRole("checkbox", { name: /Sandbox Shop/ }).uncheck();
  await chooser.getByRole("button", { name: "Add 1 account" }).click();
  await expect(page.getByRole("heading", { name: /Sandbox Page/ })).toBeVisible();
  // The popup closed itself once it had handed the result over.
  await expect.poll(() => popup.isClosed()).toBe(true);
}
