/** The vault: AES-256-GCM with the secret's location as authenticated data, and key rotation. */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/observability/logger.js";
import { KEY_FILE, loadVault, readKeyFile } from "../src/vault/keyring.js";
import { parseKeyList, Vault, VaultError } from "../src/vault/vault.js";

const where = { workspaceId: "w1", rowId: "a1", field: "access_token" };
const key = (id: string) => ({ id, key: randomBytes(32) });

describe("vault", () => {
  it("round-trips a secret, with a fresh IV each time and no plaintext in the envelope", () => {
    const vault = new Vault([key("k1")]);
    const one = vault.encrypt("EAAB-secret-token", where);
    const two = vault.encrypt("EAAB-secret-token", where);
    expect(one.equals(two)).toBe(false);
    expect(one.toString("latin1")).not.toContain("secret-token");
    expect(vault.decrypt(one, where)).toBe("EAAB-secret-token");
    expect(Vault.keyIdOf(one)).toBe("k1");
  });

  it("a ciphertext moved to another row, field or workspace does not decrypt", () => {
    const vault = new Vault([key("k1")]);
    const envelope = vault.encrypt("token", where);
    for (const elsewhere of [
      { ...where, rowId: "a2" },
      { ...where, field: "refresh_token" },
      { ...where, workspaceId: "w2" },
    ]) {
      expect(() => vault.decrypt(envelope, elsewhere)).toThrow(VaultError);
    }
  });

  it("a tampered ciphertext or tag does not decrypt", () => {
    const vault = new Vault([key("k1")]);
    const envelope = vault.encrypt("token", where);
    const flipped = Buffer.from(envelope);
    flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
    expect(() => vault.decrypt(flipped, where)).toThrow(VaultError);
    expect(() => vault.decrypt(envelope.subarray(0, 10), where)).toThrow(/Truncated|Not a vault/);
  });

  it("decrypts with any configured key and names a missing one", () => {
    const old = key("old");
    const current = key("new");
    const sealedWithOld = new Vault([old]).encrypt("token", where);
    expect(new Vault([current, old]).decrypt(sealedWithOld, where)).toBe("token");
    expect(() => new Vault([current]).decrypt(sealedWithOld, where)).toThrow(
      /key "old", which is not configured/,
    );
  });

  it("refuses keys that are not 32 bytes, duplicate ids and bad key lists", () => {
    expect(() => new Vault([{ id: "k", key: randomBytes(16) }])).toThrow(/16 bytes/);
    expect(() => new Vault([key("k"), key("k")])).toThrow(/same id/);
    expect(() => parseKeyList("nocolon")).toThrow(/id:base64key/);
    expect(
      parseKeyList(` a:${randomBytes(32).toString("base64")} ,b:${randomBytes(32).toString("base64")}`).map(
        (k) => k.id,
      ),
    ).toEqual(["a", "b"]);
  });

  it("generates a key file once, mode 0600, and reuses it", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "herald-vault-"));
    try {
      const log = createLogger("silent");
      const first = await loadVault({ keys: undefined, dataDir: dir, log });
      const second = await loadVault({ keys: undefined, dataDir: dir, log });
      expect(second.currentKeyId).toBe(first.currentKeyId);
      expect((await fs.stat(path.join(dir, KEY_FILE))).mode & 0o777).toBe(0o600);
      expect((await readKeyFile(dir))?.map((k) => k.id)).toEqual([first.currentKeyId]);
      const configured = await loadVault({ keys: [key("env")], dataDir: dir, log });
      expect(configured.currentKeyId).toBe("env");
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
