/**
 * End-to-end tests of the web app (web/e2e/): Debian's Chromium against a real Herald (the built
 * dist, `npm run test:e2e` builds first) on a temporary data directory and a free port, with its
 * embedded PostgreSQL, worker and Sandbox. Never `npx playwright install`: the browser is
 * /usr/bin/chromium (`apt-get install -y chromium`).
 */
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { defineConfig, devices } from "@playwright/test";

// Workers load this file again: the port and the directory are fixed once, in the environment.
process.env.HERALD_E2E_PORT ??= String(41_000 + Math.floor(Math.random() * 8000));
if (!process.env.HERALD_E2E_DATA_DIR) {
  const dir = mkdtempSync(path.join(tmpdir(), "herald-e2e-"));
  // As root, the embedded PostgreSQL runs as "postgres", which must be able to enter it.
  chmodSync(dir, 0o755);
  process.env.HERALD_E2E_DATA_DIR = dir;
}
const port = process.env.HERALD_E2E_PORT;
const baseURL = `http://localhost:${port}`;

export default defineConfig({
  testDir: "web/e2e",
  outputDir: "test-results/e2e",
  timeout: 180_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [
    ["list"],
    ["junit", { outputFile: "test-results/e2e-junit.xml" }],
    ["./web/e2e/summary-reporter.ts"],
  ],
  use: {
    baseURL,
    timezoneId: "UTC",
    locale: "en-GB",
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
  projects: [{ name: "chromium", use: { ...devices["Desktop Chrome"] } }],
  webServer: {
    command: "node bin/herald.js start",
    url: `${baseURL}/ready`,
    timeout: 120_000,
    reuseExistingServer: false,
    stderr: "pipe",
    stdout: "pipe",
    env: {
      PORT: port,
      HOST: "127.0.0.1",
      HERALD_DATA_DIR: process.env.HERALD_E2E_DATA_DIR,
      HERALD_PUBLIC_URL: baseURL,
      LOG_LEVEL: "warn",
    },
  },
});
