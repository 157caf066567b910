/**
 * Where the vault's keys come from: HERALD_ENCRYPTION_KEYS, or in zero-setup mode a key file
 * generated once into the data directory (mode 0600, with a warning: a key next to the data it
 * protects only protects against leaks of the database alone).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../observability/logger.js";
import { parseKeyList, Vault, type VaultKey } from "./vault.js";

export const KEY_FILE = "encryption-keys";

export function newKey(): VaultKey {
  return {
    id: `k${new Date().toISOString().slice(0, 10).replaceAll("-", "")}${randomBytes(3).toString("hex")}`,
    key: randomBytes(32),
  };
}

export function formatKeys(keys: readonly VaultKey[]): string {
  return keys.map(({ id, key }) => `${id}:${key.toString("base64")}`).join(",");
}

export async function readKeyFile(dataDir: string): Promise<VaultKey[] | undefined> {
  try {
    return parseKeyList(await fs.readFile(path.join(dataDir, KEY_FILE), "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

export async function writeKeyFile(dataDir: string, keys: readonly VaultKey[]): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, KEY_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, `${formatKeys(keys)}\n`, { mode: 0o600 });
  await fs.rename(temporary, file);
}

export async function loadVault(options: {
  keys: VaultKey[] | undefined;
  dataDir: string;
  log: Logger;
}): Promise<Vault> {
  if (options.keys) return new Vault(options.keys);
  const file = path.join(options.dataDir, KEY_FILE);
  const reload = () => {
    try {
      return parseKeyList(readFileSync(file, "utf8"));
    } catch {
      return undefined;
    }
  };
  const existing = await readKeyFile(options.dataDir);
  if (existing) return new Vault(existing, reload);
  const keys = [newKey()];
  try {
    await fs.mkdir(options.dataDir, { recursive: true });
    await fs.writeFile(path.join(options.dataDir, KEY_FILE), `${formatKeys(keys)}\n`, {
      mode: 0o600,
      flag: "wx",
    });
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return loadVault(options);
    throw error;
  }
  options.log.warn(
    { file: path.join(options.dataDir, KEY_FILE) },
    "generated an encryption key into the data directory; set HERALD_ENCRYPTION_KEYS in production",
  );
  return new Vault(keys, reload);
}
