/**
 * Validation: the composer flags a text too long for the Sandbox as it is typed, the server's 422
 * lands next to the account it names, and forms show their own errors before sending.
 */
import { connectSandbox, createWorkspaceByApi, expect, signUpByApi, test } from "./fixtures";

test("a post too long for the Sandbox is flagged live and refused with the reason", async ({ page }) => {
  await signUpByApi(page);
  await createWorkspaceByApi(page, "Validation Agency");
  await connectSandbox(page);

  await page.goto("/compose");
  await page.getByRole("checkbox", { name: /Sandbox Page/ }).check();
  await page.getByLabel("Text", { exact: true }).fill("x".repeat(520));
  const target = page.getByTestId("target-sandbox");
  await expect(target.getByText("520 / 500 characters — 20 too many")).toBeVisible();
  await expect(target.getByRole("list", { name: /Problems for Sandbox Page/ })).toContainText(
    "at most 500 characters",
  );
  await page.screenshot({ path: "test-results/screenshots/composer-invalid.png", fullPage: true });

  await page.getByLabel("Publish now").check();
  await page.getByRole("button", { name: "Publish now" }).click();
  // The server's 422: a summary on top, its problem under the account it names (errors[].path).
  await expect(page.getByRole("alert").first()).toContainText("1 problem to fix");
  await expect(target.getByRole("list", { name: /Problems for Sandbox Page/ })).toContainText(
    "this text has 520",
  );
  await expect(page).toHaveURL(/\/compose$/);
  // Fixing it per account clears the problem.
  await target.getByLabel("Customise the text for Sandbox Page").check();
  await target.getByLabel("Text for Sandbox Page", { exact: true }).fill("Short enough now");
  await expect(target.getByText("✓ Ready for sandbox")).toBeVisible();

  // Client-side checks come first: a client without a name is not sent.
  await page.goto("/clients");
  await page.getByRole("button", { name: "Add a client" }).click();
  await page.getByLabel("Time zone").fill("Mars/Olympus");
  await page.getByRole("button", { name: "Create client" }).click();
  await expect(page.getByText("Give the client a name.")).toBeVisible();
  await expect(page.getByText("Choose a time zone from the list")).toBeVisible();
  await expect(page.getByLabel("Client name")).toHaveAttribute("aria-invalid", "true");
});

test("a lost session sends the person to sign in and back to the page", async ({ page }) => {
  const email = await signUpByApi(page);
  await createWorkspaceByApi(page, "Session Agency");
  await page.goto("/posts");
  await expect(page.getByRole("heading", { name: "Queue" })).toBeVisible();
  await page.context().clearCookies();
  await page.getByLabel("Status").selectOption({ label: "Published" });
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fposts/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/posts$/);
  await expect(page.getByRole("heading", { name: "Queue" })).toBeVisible();
});
