import { readFileSync } from "node:fs";
import { z } from "zod";

/** Herald's version, from package.json (one level above both src/ and dist/). */
export const VERSION = z
  .object({ version: z.string() })
  .parse(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"))).version;
