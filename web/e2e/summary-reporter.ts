/**
 * Writes test-results/e2e.json in the shape of vitest's JSON report (the fields
 * scripts/test-summary.mjs reads), so that .ci/run's "N passed, N failed" line counts the
 * end-to-end tests too. A run that could not start (no browser, the server did not come up) is
 * one failure.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { FullResult, Reporter, TestCase, TestResult } from "@playwright/test/reporter";

type Assertion = { title: string; status: "passed" | "failed" | "skipped" };

export default class SummaryReporter implements Reporter {
  private readonly files = new Map<string, Assertion[]>();

  onTestEnd(test: TestCase, result: TestResult): void {
    const file = test.location.file;
    const status = result.status === "passed" ? "passed" : result.status === "skipped" ? "skipped" : "failed";
    // A retried test counts once, with its last result.
    const list = (this.files.get(file) ?? []).filter((a) => a.title !== test.title);
    list.push({ title: test.title, status });
    this.files.set(file, list);
  }

  onEnd(result: FullResult): void {
    const testResults = [...this.files].map(([name, assertionResults]) => ({
      name,
      status: assertionResults.some((a) => a.status === "failed") ? "failed" : "passed",
      assertionResults,
    }));
    const all = testResults.flatMap((r) => r.assertionResults);
    const failed = all.filter((a) => a.status === "failed").length;
    if (result.status !== "passed" && failed === 0) {
      testResults.push({ name: `e2e run (${result.status})`, status: "failed", assertionResults: [] });
    }
    const outputFile = path.resolve("test-results/e2e.json");
    mkdirSync(path.dirname(outputFile), { recursive: true });
    writeFileSync(
      outputFile,
      JSON.stringify({
        numPassedTests: all.filter((a) => a.status === "passed").length,
        numFailedTests: failed,
        testResults,
      }),
    );
  }
}
