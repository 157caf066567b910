/**
 * Concurrency limits per platform and per account, inside one worker process: they keep one
 * process from flooding a platform or an account's quota. Several worker processes each apply
 * them (the effective limit is the process count times these); the platforms' own 429s and usage
 * headers, honoured by the retry policy, bound the rest.
 */

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiting.shift()?.();
    };
  }

  get idle(): boolean {
    return this.active === 0 && this.waiting.length === 0;
  }
}

export class PublishLimits {
  private readonly platforms = new Map<string, Semaphore>();
  private readonly accounts = new Map<string, Semaphore>();

  constructor(private readonly limits: { accountConcurrency: number; platformConcurrency: number }) {}

  /** Waits for a place for this account and its platform; the function returned gives it back. */
  async acquire(platform: string, accountId: string): Promise<() => void> {
    const account = this.semaphore(this.accounts, accountId, this.limits.accountConcurrency);
    const releaseAccount = await account.acquire();
    const releasePlatform = await this.semaphore(
      this.platforms,
      platform,
      this.limits.platformConcurrency,
    ).acquire();
    return () => {
      releasePlatform();
      releaseAccount();
      // Accounts come and go: forget an idle one rather than keep a semaphore per account forever.
      if (account.idle) this.accounts.delete(accountId);
    };
  }

  private semaphore(map: Map<string, Semaphore>, key: string, limit: number): Semaphore {
    let semaphore = map.get(key);
    if (!semaphore) {
      semaphore = new Semaphore(limit);
      map.set(key, semaphore);
    }
    return semaphore;
  }
}
