/**
 * The vault: every secret Herald keeps (platform tokens, PKCE verifiers, pending grants) is
 * encrypted with AES-256-GCM before it reaches the database.
 *
 * - A random 12-byte IV per value; the 16-byte tag authenticates the ciphertext.
 * - The key id is stored in the envelope: several keys can be live during a rotation.
 * - The owning row's identity (workspace, row id, field name) is the additional authenticated
 *   data: a ciphertext copied into another row, field or workspace does not decrypt.
 *
 * Envelope layout: [version 1][key id length][key id utf8][iv 12][tag 16][ciphertext].
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export type VaultKey = { id: string; key: Buffer };

/** Where a secret lives: it can only be decrypted there. */
export type SecretLocation = { workspaceId: string; rowId: string; field: string };

export class VaultError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "VaultError";
  }
}

export class Vault {
  private byId: Map<string, Buffer>;
  private current: readonly VaultKey[];

  /**
   * `keys[0]` encrypts; every key decrypts what it encrypted. `reload` (zero-setup mode: the key
   * file) is asked again when a secret names a key this vault does not have yet, so that a key
   * added by `herald keys rotate` is picked up by running processes.
   */
  constructor(
    keys: readonly VaultKey[],
    private readonly reload?: () => VaultKey[] | undefined,
  ) {
    this.current = checked(keys);
    this.byId = new Map(keys.map(({ id, key }) => [id, key]));
  }

  get keys(): readonly VaultKey[] {
    return this.current;
  }

  get currentKeyId(): string {
    const first = this.current[0];
    if (!first) throw new VaultError("The vault has no key.");
    return first.id;
  }

  encrypt(plaintext: string, where: SecretLocation): Buffer {
    const first = this.current[0];
    if (!first) throw new VaultError("The vault has no key.");
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", first.key, iv);
    cipher.setAAD(aad(where));
    const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const keyId = Buffer.from(first.id, "utf8");
    return Buffer.concat([Buffer.from([VERSION, keyId.length]), keyId, iv, cipher.getAuthTag(), ciphertext]);
  }

  decrypt(envelope: Buffer, where: SecretLocation): string {
    const { keyId, iv, tag, ciphertext } = parse(envelope);
    if (!this.byId.has(keyId) && this.reload) {
      const fresh = this.reload();
      if (fresh) {
        this.current = checked(fresh);
        this.byId = new Map(fresh.map(({ id, key }) => [id, key]));
      }
    }
    const key = this.byId.get(keyId);
    if (!key) throw new VaultError(`This secret was encrypted with key "${keyId}", which is not configured.`);
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, iv);
      decipher.setAAD(aad(where));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
    } catch (error) {
      // Wrong key, or the ciphertext belongs to another row or field, or it was altered.
      throw new VaultError("A secret could not be decrypted where it is stored.", { cause: error });
    }
  }

  /** The key id an envelope was encrypted with (for rotation). */
  static keyIdOf(envelope: Buffer): string {
    return parse(envelope).keyId;
  }
}

function checked(keys: readonly VaultKey[]): readonly VaultKey[] {
  if (keys.length === 0) throw new VaultError("The vault needs at least one key.");
  for (const { id, key } of keys) {
    if (key.length !== 32) throw new VaultError(`Key ${id} is ${key.length} bytes; AES-256 needs 32.`);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id))
      throw new VaultError(`Key id "${id}" must be 1-64 letters, digits, _ or -.`);
  }
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new VaultError("Two keys have the same id.");
  return keys;
}

function aad({ workspaceId, rowId, field }: SecretLocation): Buffer {
  return Buffer.from(`herald:v1:${workspaceId}:${rowId}:${field}`, "utf8");
}

function parse(envelope: Buffer) {
  if (envelope.length < 2 || envelope[0] !== VERSION) throw new VaultError("Not a vault envelope.");
  const keyIdLength = envelope[1] ?? 0;
  const ivStart = 2 + keyIdLength;
  const tagStart = ivStart + IV_BYTES;
  const dataStart = tagStart + TAG_BYTES;
  if (envelope.length < dataStart) throw new VaultError("Truncated vault envelope.");
  return {
    keyId: envelope.subarray(2, ivStart).toString("utf8"),
    iv: envelope.subarray(ivStart, tagStart),
    tag: envelope.subarray(tagStart, dataStart),
    ciphertext: envelope.subarray(dataStart),
  };
}

/** `id:base64key,id:base64key` → keys, first one encrypting. */
export function parseKeyList(value: string): VaultKey[] {
  return value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const separator = item.indexOf(":");
      if (separator < 1) throw new VaultError(`"${item.slice(0, 12)}..." is not id:base64key.`);
      const key = Buffer.from(item.slice(separator + 1), "base64");
      return { id: item.slice(0, separator), key };
    });
}
