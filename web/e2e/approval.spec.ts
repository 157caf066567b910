/**
 * A client that requires approval: staff schedule a post, the client's own user (role `client`)
 * sees only that client's posts and rejects it with a reason, and the author sees the reason.
 */
import {
  connectSandbox,
  createWorkspaceByApi,
  expect,
  localTimeIn,
  PASSWORD,
  signUpByApi,
  test,
  uniqueEmail,
} from "./fixtures";

test("a client user rejects a post with a reason, and the author sees why", async ({ page, browser }) => {
  await signUpByApi(page);
  const workspaceId = await createWorkspaceByApi(page, "Approvals Agency");
  const strict = await page.request.post(`/api/v1/workspaces/${workspaceId}/clients`, {
    data: { name: "Strict Bakery", timezone: "Europe/Paris", requiresApproval: true },
  });
  const strictId = (await strict.json()).id;
  await page.request.post(`/api/v1/workspaces/${workspaceId}/clients`, { data: { name: "Other Brand" } });
  const clientEmail = uniqueEmail("client");
  const invite = await page.request.post(`/api/v1/workspaces/${workspaceId}/members`, {
    data: { email: clientEmail, role: "client", clientIds: [strictId] },
  });
  expect(invite.status()).toBe(201);

  await connectSandbox(page);
  await page
    .getByRole("listitem")
    .filter({ has: page.getByRole("heading", { name: /Sandbox Page/ }) })
    .getByRole("checkbox", { name: "Strict Bakery" })
    .check();

  await page.goto("/compose");
  await page.getByLabel("Client").selectOption({ label: "Strict Bakery" });
  await page.getByRole("checkbox", { name: /Sandbox Page/ }).check();
  await page.getByLabel("Text", { exact: true }).fill("Croissants at half price, today only");
  await page
    .getByLabel(/Date and time in Europe\/Paris/)
    .fill(localTimeIn("Europe/Paris", new Date(Date.now() + 86_400_000)));
  await page.getByRole("button", { name: "Schedule post" }).click();
  await expect(page.getByText("Pending approval").first()).toBeVisible();
  const postUrl = page.url();

  // The client's own person, in a browser of their own.
  const clientContext = await browser.newContext();
  const clientPage = await clientContext.newPage();
  await clientPage.goto("/sign-up");
  await clientPage.getByLabel("Name").fill("Bea Baker");
  await clientPage.getByLabel("Email").fill(clientEmail);
  await clientPage.getByLabel("Password").fill(PASSWORD);
  await clientPage.getByRole("button", { name: "Create account" }).click();
  const nav = clientPage.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Approvals" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Compose" })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Settings" })).toHaveCount(0);
  await nav.getByRole("link", { name: "Approvals" }).click();
  await expect(clientPage.getByText("You see the posts prepared for Strict Bakery.")).toBeVisible();
  const card = clientPage.getByRole("listitem", { name: "Post for Strict Bakery" });
  await expect(card.getByText("Croissants at half price, today only")).toBeVisible();
  await clientPage.screenshot({ path: "test-results/screenshots/approvals-client.png", fullPage: true });
  await card.getByRole("button", { name: "Reject…" }).click();
  await card.getByRole("button", { name: "Reject post" }).click();
  await expect(card.getByText("Say what to change.")).toBeVisible();
  await card.getByLabel("Why is it rejected?").fill("It is half price on Sunday only.");
  await card.getByRole("button", { name: "Reject post" }).click();
  await expect(clientPage.getByText("Nothing is waiting for approval.")).toBeVisible();
  await clientContext.close();

  await page.goto(postUrl);
  await expect(page.getByText("Rejected — “It is half price on Sunday only.”")).toBeVisible();
});
