import path from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where `npm run dev` runs Herald (scripts/dev.mjs); the dev server forwards the API to it. */
const herald = process.env.HERALD_DEV_API ?? "http://127.0.0.1:3000";

export default defineConfig({
  root: here,
  plugins: [react()],
  build: {
    outDir: path.join(here, "../dist/web"),
    emptyOutDir: true,
    // Only the sign-in path is in the initial bundle; the calendar and the charts are lazy chunks.
    chunkSizeWarningLimit: 700,
  },
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      "/api": { target: herald, changeOrigin: false },
      "/sandbox": { target: herald, changeOrigin: false },
    },
  },
});
