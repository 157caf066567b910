/**
 * The Sandbox's whole state: identity (users, accounts, grants, tokens), posts and ledger, fault
 * settings; optionally kept in a JSON file.
 *
 * Persistence is for people running `herald sandbox` who want their feed back after a restart, not
 * for durability: the file is rewritten whole, at most once per SAVE_DELAY_MS however busy the
 * network is, through a temporary file and a rename so a crash never leaves half a file. Consent
 * requests and authorization codes live for minutes and are not saved.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import type { Logger } from "../observability/logger.js";
import { type FaultSettings, FaultSettingsSchema, NO_FAULTS } from "./faults.js";
import { Identity, type Lifetimes } from "./identity.js";
import { LEDGER_OUTCOMES, PostStore } from "./posts.js";

/**
 * A throttle, not a reset-on-change debounce: under constant load a debounce would never save.
 * The wait grows with the state: ten times as long as the last save took (between 200 ms and 5 s),
 * so that saving a large feed under load costs at most about a tenth of a core.
 */
const SAVE_DELAY_MS = { min: 200, max: 5000, factor: 10 };

const Millis = z.number();

const StateFileSchema = z.object({
  version: z.literal(1),
  users: z.array(z.object({ username: z.string(), createdAt: Millis })),
  accounts: z.array(
    z.object({
      id: z.string(),
      username: z.string(),
      name: z.string(),
      handle: z.string(),
      createdAt: Millis,
    }),
  ),
  grants: z.array(
    z.object({
      id: z.string(),
      username: z.string(),
      accountIds: z.array(z.string()),
      scope: z.string(),
      createdAt: Millis,
      revokedAt: Millis.nullable(),
    }),
  ),
  tokens: z.array(
    z.object({
      token: z.string(),
      type: z.enum(["access", "refresh"]),
      grantId: z.string(),
      issuedAt: Millis,
      expiresAt: Millis,
      rotatedAt: Millis.nullable(),
    }),
  ),
  posts: z.array(
    z.object({
      id: z.string(),
      accountId: z.string(),
      text: z.string(),
      mediaUrls: z.array(z.string()),
      link: z.string().nullable(),
      idempotencyKey: z.string().nullable(),
      createdAt: Millis,
      deletedAt: Millis.nullable(),
    }),
  ),
  ledger: z.array(
    z.object({
      at: Millis,
      accountId: z.string(),
      idempotencyKey: z.string().nullable(),
      text: z.string().nullable(),
      outcome: z.enum(LEDGER_OUTCOMES),
      postId: z.string().nullable(),
    }),
  ),
  faults: FaultSettingsSchema,
});

type StateFile = z.infer<typeof StateFileSchema>;

export type StoreOptions = {
  lifetimes: Lifetimes;
  now: () => number;
  persistFile: string | undefined;
  log: Logger;
};

export class SandboxStore {
  readonly identity: Identity;
  readonly posts: PostStore;
  private faultSettings: FaultSettings = NO_FAULTS;

  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private dirty = false;
  private lastSaveMs = 0;

  private constructor(private readonly options: StoreOptions) {
    const changed = () => this.changed();
    this.identity = new Identity(options.lifetimes, options.now, changed);
    this.posts = new PostStore(options.now, changed);
  }

  /** A store, with the state of `persistFile` when that file exists. */
  static async open(options: StoreOptions): Promise<SandboxStore> {
    const store = new SandboxStore(options);
    if (options.persistFile) {
      const state = await readStateFile(options.persistFile);
      if (state) store.restore(state);
    }
    return store;
  }

  get faults(): FaultSettings {
    return this.faultSettings;
  }

  setFaults(settings: FaultSettings): void {
    this.faultSettings = settings;
    this.changed();
  }

  /** Clears posts, ledger and faults; users, accounts and grants stay. */
  reset(): void {
    this.posts.reset();
    this.faultSettings = NO_FAULTS;
    this.changed();
  }

  /** Writes any pending change now (on close). */
  async flush(): Promise<void> {
    for (;;) {
      if (this.saveTimer) {
        clearTimeout(this.saveTimer);
        this.saveTimer = undefined;
      }
      if (this.saving) await this.saving;
      else if (this.dirty) await this.save();
      else return;
    }
  }

  private changed(): void {
    if (!this.options.persistFile) return;
    this.dirty = true;
    if (this.saveTimer || this.saving) return;
    this.saveTimer = setTimeout(
      () => {
        this.saveTimer = undefined;
        void this.save();
      },
      Math.min(SAVE_DELAY_MS.max, Math.max(SAVE_DELAY_MS.min, this.lastSaveMs * SAVE_DELAY_MS.factor)),
    );
    this.saveTimer.unref();
  }

  private save(): Promise<void> {
    const file = this.options.persistFile;
    if (!file) return Promise.resolve();
    this.dirty = false;
    const started = performance.now();
    const json = JSON.stringify(this.snapshot());
    this.saving = writeAtomically(file, json)
      .then(() => {
        this.lastSaveMs = performance.now() - started;
      })
      .catch((error: unknown) => {
        this.options.log.error({ err: error, file }, "sandbox: could not save the state file");
      })
      .finally(() => {
        this.saving = undefined;
        // Changes made while writing are saved by the next round.
        if (this.dirty) this.changed();
      });
    return this.saving;
  }

  private snapshot(): StateFile {
    return { version: 1, ...this.identity.snapshot(), ...this.posts.snapshot(), faults: this.faultSettings };
  }

  private restore(state: StateFile): void {
    this.identity.restore(state);
    this.posts.restore(state);
    this.faultSettings = state.faults;
  }
}

/**
 * The saved state, or undefined when there is no file yet. A file that is not a Sandbox state stops
 * the start rather than being overwritten with an empty network.
 */
async function readStateFile(file: string): Promise<StateFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (error instanceof Error && "code" in error && error.code === "ENOENT") return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`The Sandbox state file ${file} is not JSON; move it away to start afresh.`);
  }
  const parsed = StateFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `The Sandbox state file ${file} is not a Sandbox state (${parsed.error.issues[0]?.message}); ` +
        "move it away to start afresh.",
    );
  }
  return parsed.data;
}

async function writeAtomically(file: string, content: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  // Tokens are in it: readable by the owner only.
  await writeFile(temporary, content, { mode: 0o600 });
  await rename(temporary, file);
}
