/**
 * Secrets Herald can generate for itself in zero-setup mode. They are written once into the data
 * directory (mode 0600) and reused on every start. Deployments with several servers must set them
 * in the environment instead, so that every server shares them.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { Logger } from "./observability/logger.js";

const SecretsFile = z.object({ authSecret: z.string().min(32) });

export async function loadOrCreateAuthSecret(dataDir: string, log: Logger): Promise<string> {
  const file = path.join(dataDir, "secrets.json");
  try {
    return SecretsFile.parse(JSON.parse(await fs.readFile(file, "utf8"))).authSecret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`${file} is not readable or not valid; fix or delete it.`, { cause: error });
    }
  }
  await fs.mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  try {
    await fs.writeFile(file, `${JSON.stringify({ authSecret: secret }, null, 2)}\n`, {
      mode: 0o600,
      flag: "wx",
    });
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return loadOrCreateAuthSecret(dataDir, log);
    throw error;
  }
  log.warn(
    { file },
    "generated HERALD_AUTH_SECRET into the data directory; set it in the environment when running several servers",
  );
  return secret;
}
