/**
 * Posts, their idempotency keys, and the ledger of every create call.
 *
 * Built for the benchmarks, which publish tens of thousands of posts per run: creating is O(1)
 * (a map keyed by account and idempotency key, an append to the account's feed and to the ledger);
 * listing walks a feed from its newest end and stops at the limit.
 */
import { randomBytes } from "node:crypto";

export type Post = {
  id: string;
  accountId: string;
  text: string;
  mediaUrls: string[];
  link: string | null;
  idempotencyKey: string | null;
  createdAt: number;
  /** Deleted posts stay known so a replayed idempotency key still answers the original post. */
  deletedAt: number | null;
};

export type PostDraft = { text: string; mediaUrls: string[]; link: string | null };

export const LEDGER_OUTCOMES = [
  "created",
  "deduped",
  "rate_limited",
  "error",
  "timeout_after_create",
  "rejected",
] as const;

export type LedgerOutcome = (typeof LEDGER_OUTCOMES)[number];

export type LedgerEntry = {
  at: number;
  accountId: string;
  idempotencyKey: string | null;
  text: string | null;
  outcome: LedgerOutcome;
  postId: string | null;
};

export type CreateResult =
  | { kind: "created"; post: Post }
  | { kind: "deduped"; post: Post }
  /** The key was used on this account for a different post. */
  | { kind: "key_reused"; post: Post };

export type PostsSnapshot = { posts: Post[]; ledger: LedgerEntry[] };

export class PostStore {
  private readonly posts = new Map<string, Post>();
  /** Each account's posts, oldest first (creation order, which is also time order). */
  private readonly feeds = new Map<string, Post[]>();
  private readonly byIdempotencyKey = new Map<string, Post>();
  private readonly ledger: LedgerEntry[] = [];

  constructor(
    private readonly now: () => number,
    private readonly changed: () => void,
  ) {}

  create(accountId: string, draft: PostDraft, idempotencyKey: string | null): CreateResult {
    if (idempotencyKey !== null) {
      const earlier = this.byIdempotencyKey.get(keyOf(accountId, idempotencyKey));
      if (earlier) return { kind: sameContent(earlier, draft) ? "deduped" : "key_reused", post: earlier };
    }
    const post: Post = {
      id: `post_${randomBytes(8).toString("hex")}`,
      accountId,
      ...draft,
      idempotencyKey,
      createdAt: this.now(),
      deletedAt: null,
    };
    this.add(post);
    this.changed();
    return { kind: "created", post };
  }

  /** A live (not deleted) post. */
  get(postId: string): Post | undefined {
    const post = this.posts.get(postId);
    return post && post.deletedAt === null ? post : undefined;
  }

  /** Newest first; `since` is inclusive so a reconciliation never misses a post of the same ms. */
  list(accountId: string, limit: number, since?: number): Post[] {
    const feed = this.feeds.get(accountId) ?? [];
    const found: Post[] = [];
    for (let i = feed.length - 1; i >= 0 && found.length < limit; i--) {
      const post = feed[i];
      if (!post) continue;
      if (since !== undefined && post.createdAt < since) break;
      if (post.deletedAt === null) found.push(post);
    }
    return found;
  }

  countLive(accountId: string): number {
    let count = 0;
    for (const post of this.feeds.get(accountId) ?? []) if (post.deletedAt === null) count += 1;
    return count;
  }

  delete(accountId: string, postId: string): boolean {
    const post = this.get(postId);
    if (!post || post.accountId !== accountId) return false;
    post.deletedAt = this.now();
    this.changed();
    return true;
  }

  record(entry: Omit<LedgerEntry, "at">): void {
    this.ledger.push({ at: this.now(), ...entry });
    this.changed();
  }

  /** Newest entries first, at most `limit`; the counts cover every entry that matches the filter. */
  readLedger(
    accountId: string | undefined,
    limit: number,
  ): { entries: LedgerEntry[]; counts: Record<LedgerOutcome, number> } {
    const counts: Record<LedgerOutcome, number> = {
      created: 0,
      deduped: 0,
      rate_limited: 0,
      error: 0,
      timeout_after_create: 0,
      rejected: 0,
    };
    const entries: LedgerEntry[] = [];
    for (let i = this.ledger.length - 1; i >= 0; i--) {
      const entry = this.ledger[i];
      if (!entry || (accountId !== undefined && entry.accountId !== accountId)) continue;
      counts[entry.outcome] += 1;
      if (entries.length < limit) entries.push(entry);
    }
    return { entries, counts };
  }

  /** Forgets posts, keys and the ledger (admin reset). */
  reset(): void {
    this.posts.clear();
    this.feeds.clear();
    this.byIdempotencyKey.clear();
    this.ledger.length = 0;
    this.changed();
  }

  snapshot(): PostsSnapshot {
    return { posts: [...this.posts.values()], ledger: this.ledger };
  }

  restore(snapshot: PostsSnapshot): void {
    const ordered = [...snapshot.posts].sort((a, b) => a.createdAt - b.createdAt);
    for (const post of ordered) this.add(post);
    // A loop, not push(...entries): a spread of 100k arguments overflows the call stack.
    for (const entry of snapshot.ledger) this.ledger.push(entry);
  }

  private add(post: Post): void {
    this.posts.set(post.id, post);
    const feed = this.feeds.get(post.accountId);
    if (feed) feed.push(post);
    else this.feeds.set(post.accountId, [post]);
    if (post.idempotencyKey !== null) {
      this.byIdempotencyKey.set(keyOf(post.accountId, post.idempotencyKey), post);
    }
  }
}

function keyOf(accountId: string, idempotencyKey: string): string {
  return `${accountId}\u0000${idempotencyKey}`;
}

function sameContent(post: Post, draft: PostDraft): boolean {
  return (
    post.text === draft.text &&
    post.link === draft.link &&
    post.mediaUrls.length === draft.mediaUrls.length &&
    post.mediaUrls.every((url, i) => url === draft.mediaUrls[i])
  );
}
