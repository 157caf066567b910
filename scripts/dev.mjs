// `npm run dev`: Herald (restarted on change) and Vite's dev server (hot reload) together.
// Herald is told its public URL is Vite's, so OAuth redirects, the Sandbox and the callback
// page's postMessage target all go through the dev server, which forwards /api and /sandbox.
import { spawn } from "node:child_process";

const port = process.env.PORT ?? "3000";
const webPort = "5173";
const env = {
  ...process.env,
  PORT: port,
  HERALD_PUBLIC_URL: process.env.HERALD_PUBLIC_URL ?? `http://localhost:${webPort}`,
};
const children = [
  spawn("node", ["--import", "tsx", "--watch", "src/main.ts", "start"], { stdio: "inherit", env }),
  spawn("npx", ["vite", "--config", "web/vite.config.ts"], {
    stdio: "inherit",
    env: { ...env, HERALD_DEV_API: `http://127.0.0.1:${port}` },
  }),
];
process.stdout.write(`Herald API on :${port}; open http://localhost:${webPort}\n`);
const stop = () => {
  for (const child of children) child.kill("SIGTERM");
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
for (const child of children) {
  child.on("exit", (code) => {
    stop();
    process.exitCode = code ?? 0;
  });
}
