/**
 * The first-time journey: sign up → workspace → client → a Sandbox account through the OAuth
 * popup → compose and schedule → the calendar → published → the post on the Sandbox feed.
 */
import {
  connectSandbox,
  expect,
  expectNoHorizontalOverflow,
  localTimeIn,
  test,
  uniqueEmail,
} from "./fixtures";

const ZONE = "Asia/Tokyo";

test("a new person gets a post published on the Sandbox", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/sign-in/);
  await page.screenshot({ path: "test-results/screenshots/sign-in.png", fullPage: true });
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByLabel("Name").fill("Ada Lovelace");
  await page.getByLabel("Email").fill(uniqueEmail("ada"));
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Create account" }).click();

  await expect(page.getByRole("heading", { name: "Create your first workspace" })).toBeVisible();
  await page.getByLabel("Workspace name").fill("Northwind Agency");
  await page.getByRole("button", { name: "Create workspace" }).click();
  await expect(page.getByRole("heading", { name: "Get a post out" })).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/home.png", fullPage: true });

  await page.getByRole("link", { name: "Add a client" }).click();
  await page.getByRole("button", { name: "Add a client" }).click();
  await page.getByLabel("Client name").fill("Contoso Coffee");
  await page.getByLabel("Time zone").fill(ZONE);
  await page.getByRole("button", { name: "Create client" }).click();
  await expect(page.getByRole("heading", { name: "Contoso Coffee" })).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/clients.png", fullPage: true });

  await connectSandbox(page);
  const card = page
    .getByRole("listitem")
    .filter({ has: page.getByRole("heading", { name: /Sandbox Page/ }) });
  await card.getByRole("checkbox", { name: "Contoso Coffee" }).check();
  await expect(card.getByRole("checkbox", { name: "Contoso Coffee" })).toBeChecked();
  await page.screenshot({ path: "test-results/screenshots/accounts.png", fullPage: true });

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Compose" }).click();
  await page.getByLabel("Client").selectOption({ label: "Contoso Coffee" });
  await page.getByRole("checkbox", { name: /Sandbox Page/ }).check();
  const text = `Autumn menu is here ${Date.now()}`;
  await page.getByLabel("Text", { exact: true }).fill(text);
  await expect(page.getByText(/characters/).first()).toContainText(`${text.length} / 500 characters`);
  await expect(page.getByText("✓ Ready for sandbox")).toBeVisible();
  // The next minute that is at least 20 s away, in the client's zone (written out on the page).
  const at = new Date(Math.ceil((Date.now() + 20_000) / 60_000) * 60_000);
  const timeField = page.getByLabel(/Date and time in Asia\/Tokyo \(UTC\+09:00\)/);
  await timeField.fill(localTimeIn(ZONE, at));
  await page.screenshot({ path: "test-results/screenshots/composer.png", fullPage: true });
  await page.getByRole("button", { name: "Schedule post" }).click();

  await expect(page.getByRole("heading", { name: "Post" })).toBeVisible();
  await expect(page.getByText("(Asia/Tokyo)")).toBeVisible();
  await page.getByRole("button", { name: "Open the calendar" }).click();
  await expect(page.getByText(`Scheduled: ${text.slice(0, 40)}`)).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/calendar.png", fullPage: true });
  await page.getByText(`Scheduled: ${text.slice(0, 40)}`).click();

  // The detail page follows the post while it goes out.
  const target = page.getByTestId("target");
  await expect(target.getByText("Published", { exact: false }).first()).toBeVisible({
    timeout: at.getTime() - Date.now() + 60_000,
  });
  await page.screenshot({ path: "test-results/screenshots/post-detail.png", fullPage: true });
  const feedPromise = page.waitForEvent("popup");
  await target.getByRole("link", { name: "View on sandbox" }).click();
  const feed = await feedPromise;
  await expect(feed.getByText(text)).toBeVisible();

  await page.goto("/posts");
  await expect(page.getByRole("link", { name: text.slice(0, 60) })).toBeVisible();
  await page.goto("/monitoring");
  await expect(page.getByRole("heading", { name: /Herald is/ })).toBeVisible();
  await expect(page.getByText("Success rate by platform (%)")).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/monitoring.png", fullPage: true });
  await page.goto("/audit");
  await expect(page.getByRole("cell", { name: "Post published" }).first()).toBeVisible();
  await page.getByRole("button", { name: "Verify the chain" }).click();
  await expect(page.getByRole("status")).toContainText(/Intact|Broken/);
  await page.screenshot({ path: "test-results/screenshots/audit.png", fullPage: true });

  // Narrow screens: every main page fits 375 px without scrolling sideways.
  await page.setViewportSize({ width: 375, height: 800 });
  for (const path of [
    "/",
    "/compose",
    "/calendar",
    "/posts",
    "/accounts",
    "/clients",
    "/approvals",
    "/monitoring",
    "/audit",
    "/settings/members",
    "/settings/api-keys",
    "/settings/webhooks",
  ]) {
    await page.goto(path);
    await expect(page.locator("main h1")).toBeVisible();
    await page.waitForLoadState("networkidle");
    await expectNoHorizontalOverflow(page);
  }
  await page.goto("/compose");
  await page.screenshot({ path: "test-results/screenshots/composer-375.png", fullPage: true });
  await page.goto("/sign-in");
  await expectNoHorizontalOverflow(page);
});
