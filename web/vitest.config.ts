import path from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineProject } from "vitest/config";

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineProject({
  root: here,
  plugins: [react()],
  test: {
    name: "web",
    include: ["test/**/*.test.tsx"],
    environment: "jsdom",
    setupFiles: ["test/setup.ts"],
  },
});
