// Sums the JSON reports vitest wrote into a folder and prints "N passed, N failed".
// Exits non-zero when a test failed or no report exists.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const dir = process.argv[2] ?? "test-results";
let files = [];
try {
  files = readdirSync(dir).filter((f) => f.endsWith(".json"));
} catch {}
let passed = 0;
let failed = 0;
for (const file of files) {
  const report = JSON.parse(readFileSync(path.join(dir, file), "utf8"));
  passed += report.numPassedTests;
  // A test file that could not run at all has no test results of its own: count it as one failure.
  const brokenFiles = report.testResults.filter(
    (r) => r.status === "failed" && r.assertionResults.length === 0,
  );
  failed += report.numFailedTests + brokenFiles.length;
  process.stdout.write(`${file}: ${report.numPassedTests} passed, ${report.numFailedTests} failed\n`);
}
if (files.length === 0) failed += 1;
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
