import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The JSON report feeds the "N passed, N failed" line of .ci/run.
    reporters: [
      "default",
      [
        "json",
        { outputFile: `test-results/${process.env.TEST_DATABASE_URL ? "external-db" : "embedded-db"}.json` },
      ],
    ],
    maxWorkers: 4,
    projects: [
      {
        test: {
          name: "server",
          include: ["test/**/*.test.ts"],
          globalSetup: ["test/global-setup.ts"],
          // Test files share one PostgreSQL server but each gets its own database cloned from a migrated
          // template, so they run in parallel safely; the work is mostly waiting on the database.
          pool: "forks",
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      // The web app's component tests (jsdom): web/vitest.config.ts.
      "web/vitest.config.ts",
    ],
  },
});
