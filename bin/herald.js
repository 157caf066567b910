#!/usr/bin/env node
// The `herald` command runs the compiled code in dist/ (`npm run build`; `npm start` builds first).
import { existsSync } from "node:fs";

const entry = new URL("../dist/main.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    "Herald is not built yet: run `npm run build` (or `npm start`, which builds first).\n",
  );
  process.exit(1);
}
await import(entry.href);
