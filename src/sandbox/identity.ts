/**
 * Who exists on the Sandbox and what they granted: users, their accounts (pages), consent requests,
 * authorization codes, grants and the tokens issued for them.
 *
 * A grant is one approved consent: a user, the accounts they ticked, the scope. Tokens point at
 * their grant, so revoking the grant (RFC 7009 revocation, refresh-token reuse, code reuse) ends
 * every token issued for it in O(1).
 */
import { createHash, randomBytes } from "node:crypto";
import { OAuthError } from "./errors.js";

export type User = { username: string; createdAt: number };
export type Account = { id: string; username: string; name: string; handle: string; createdAt: number };
export type Grant = {
  id: string;
  username: string;
  accountIds: string[];
  scope: string;
  createdAt: number;
  revokedAt: number | null;
};
export type IssuedToken = {
  token: string;
  type: "access" | "refresh";
  grantId: string;
  issuedAt: number;
  expiresAt: number;
  /** Refresh tokens only: when it was exchanged for a new pair; presenting it again is reuse. */
  rotatedAt: number | null;
};

/** What the user is asked to approve; the parameters stay here, the page carries only the id. */
export type ConsentRequest = {
  id: string;
  redirectUri: string;
  state: string | null;
  scope: string;
  codeChallenge: string;
  username: string;
  accountNames: string[];
  expiresAt: number;
};

type AuthorizationCode = {
  username: string;
  accountIds: string[];
  scope: string;
  redirectUri: string;
  codeChallenge: string;
  expiresAt: number;
  usedAt: number | null;
  /** The grant the first exchange created: revoked if the code is presented again. */
  grantId: string | null;
};

export type Approval = {
  username: string;
  accountNames: string[];
  scope: string;
  redirectUri: string;
  codeChallenge: string;
};

export type TokenResponse = {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  refresh_token_expires_in: number;
  scope: string;
};

export type AccessCheck = { ok: true; grant: Grant } | { ok: false; reason: "invalid" | "expired" };

export type Lifetimes = { accessTokenSeconds: number; refreshTokenSeconds: number };

export type IdentitySnapshot = {
  users: User[];
  accounts: Account[];
  grants: Grant[];
  tokens: IssuedToken[];
};

/** Short, as RFC 6749 §4.1.2 advises; Herald exchanges the code right after the redirect. */
const CODE_LIFETIME_MS = 60_000;
const CONSENT_LIFETIME_MS = 10 * 60_000;
/** Used and expired codes are kept this long so a late replay still revokes its grant. */
const CODE_MEMORY_MS = 10 * 60_000;

/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

export class Identity {
  private readonly users = new Map<string, User>();
  private readonly accounts = new Map<string, Account>();
  private readonly grants = new Map<string, Grant>();
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly codes = new Map<string, AuthorizationCode>();
  private readonly consents = new Map<string, ConsentRequest>();

  constructor(
    private readonly lifetimes: Lifetimes,
    private readonly now: () => number,
    /** Called after every change worth persisting. */
    private readonly changed: () => void,
  ) {}

  /** Stable: the same user and account name give the same id on every consent and every restart. */
  static accountId(username: string, name: string): string {
    return `acct_${createHash("sha256").update(`${username}\u0000${name}`).digest("hex").slice(0, 16)}`;
  }

  account(id: string): Account | undefined {
    return this.accounts.get(id);
  }

  /** Every user with their accounts, for the index page. */
  directory(): Array<{ user: User; accounts: Account[] }> {
    const byUser = new Map<string, Account[]>();
    for (const account of this.accounts.values()) {
      const list = byUser.get(account.username) ?? [];
      list.push(account);
      byUser.set(account.username, list);
    }
    return [...this.users.values()].map((user) => ({ user, accounts: byUser.get(user.username) ?? [] }));
  }

  accountsOf(grant: Grant): Account[] {
    return grant.accountIds.flatMap((id) => this.accounts.get(id) ?? []);
  }

  openConsent(request: Omit<ConsentRequest, "id" | "expiresAt">): ConsentRequest {
    this.sweep();
    const consent = { ...request, id: randomToken(24), expiresAt: this.now() + CONSENT_LIFETIME_MS };
    this.consents.set(consent.id, consent);
    return consent;
  }

  /** The pending consent request, or undefined when unknown, used or expired. */
  consent(id: string): ConsentRequest | undefined {
    const consent = this.consents.get(id);
    return consent && consent.expiresAt > this.now() ? consent : undefined;
  }

  closeConsent(id: string): void {
    this.consents.delete(id);
  }

  /** Records the user's approval and returns the authorization code for the redirect. */
  approve(approval: Approval): string {
    this.sweep();
    const now = this.now();
    if (!this.users.has(approval.username)) {
      this.users.set(approval.username, { username: approval.username, createdAt: now });
    }
    const accountIds = approval.accountNames.map((name) => this.ensureAccount(approval.username, name, now));
    const code = randomToken(32);
    this.codes.set(code, {
      username: approval.username,
      accountIds,
      scope: approval.scope,
      redirectUri: approval.redirectUri,
      codeChallenge: approval.codeChallenge,
      expiresAt: now + CODE_LIFETIME_MS,
      usedAt: null,
      grantId: null,
    });
    this.changed();
    return code;
  }

  exchangeCode(input: { code: string; redirectUri: string; codeVerifier: string }): TokenResponse {
    if (!CODE_VERIFIER.test(input.codeVerifier)) {
      throw new OAuthError("invalid_request", "code_verifier must be 43 to 128 unreserved characters.");
    }
    const code = this.codes.get(input.code);
    if (!code) throw new OAuthError("invalid_grant", "The authorization code is not valid.");
    if (code.usedAt !== null) {
      // RFC 6749 §4.1.2: a code used twice revokes what the first use obtained.
      if (code.grantId) this.revokeGrant(code.grantId);
      throw new OAuthError("invalid_grant", "The authorization code was already used.");
    }
    const now = this.now();
    // One presentation consumes the code, even a failed one: a wrong verifier cannot be retried.
    code.usedAt = now;
    if (now >= code.expiresAt) throw new OAuthError("invalid_grant", "The authorization code expired.");
    if (input.redirectUri !== code.redirectUri) {
      throw new OAuthError(
        "invalid_grant",
        "redirect_uri differs from the one of the authorization request.",
      );
    }
    if (s256(input.codeVerifier) !== code.codeChallenge) {
      throw new OAuthError("invalid_grant", "code_verifier does not match the code_challenge.");
    }
    const grant: Grant = {
      id: `grant_${randomBytes(8).toString("hex")}`,
      username: code.username,
      accountIds: code.accountIds,
      scope: code.scope,
      createdAt: now,
      revokedAt: null,
    };
    this.grants.set(grant.id, grant);
    code.grantId = grant.id;
    return this.issue(grant);
  }

  /** Rotation: the refresh token is spent; presenting a spent one is reuse and revokes the grant. */
  refresh(refreshToken: string): TokenResponse {
    const record = this.tokens.get(refreshToken);
    if (record?.type !== "refresh") {
      throw new OAuthError("invalid_grant", "The refresh token is not valid.");
    }
    const grant = this.grants.get(record.grantId);
    if (!grant || grant.revokedAt !== null) {
      throw new OAuthError("invalid_grant", "The refresh token was revoked.");
    }
    if (record.rotatedAt !== null) {
      this.revokeGrant(grant.id);
      throw new OAuthError(
        "invalid_grant",
        "The refresh token was already used; every token of this grant is now revoked.",
      );
    }
    const now = this.now();
    if (now >= record.expiresAt) throw new OAuthError("invalid_grant", "The refresh token expired.");
    record.rotatedAt = now;
    return this.issue(grant);
  }

  /** RFC 7009: revoking any token of a grant revokes the grant; unknown tokens are ignored. */
  revoke(token: string): void {
    const record = this.tokens.get(token);
    if (record) this.revokeGrant(record.grantId);
  }

  checkAccess(accessToken: string): AccessCheck {
    const record = this.tokens.get(accessToken);
    const grant = record?.type === "access" ? this.grants.get(record.grantId) : undefined;
    if (!record || !grant || grant.revokedAt !== null) return { ok: false, reason: "invalid" };
    if (this.now() >= record.expiresAt) return { ok: false, reason: "expired" };
    return { ok: true, grant };
  }

  /** Ends the access tokens now valid for any of these accounts (a fault: "the token expired early"). */
  expireAccessTokens(accountIds: string[]): number {
    const targets = new Set(accountIds);
    const now = this.now();
    let expired = 0;
    for (const record of this.tokens.values()) {
      if (record.type !== "access" || record.expiresAt <= now) continue;
      const grant = this.grants.get(record.grantId);
      if (grant?.accountIds.some((id) => targets.has(id))) {
        record.expiresAt = now;
        expired += 1;
      }
    }
    if (expired > 0) this.changed();
    return expired;
  }

  tokenList(): Array<{ record: IssuedToken; grant: Grant | undefined }> {
    return [...this.tokens.values()].map((record) => ({ record, grant: this.grants.get(record.grantId) }));
  }

  snapshot(): IdentitySnapshot {
    return {
      users: [...this.users.values()],
      accounts: [...this.accounts.values()],
      grants: [...this.grants.values()],
      tokens: [...this.tokens.values()],
    };
  }

  restore(snapshot: IdentitySnapshot): void {
    for (const user of snapshot.users) this.users.set(user.username, user);
    for (const account of snapshot.accounts) this.accounts.set(account.id, account);
    for (const grant of snapshot.grants) this.grants.set(grant.id, grant);
    for (const token of snapshot.tokens) this.tokens.set(token.token, token);
  }

  private issue(grant: Grant): TokenResponse {
    const now = this.now();
    const { accessTokenSeconds, refreshTokenSeconds } = this.lifetimes;
    const access: IssuedToken = {
      token: `sbx_at_${randomToken(32)}`,
      type: "access",
      grantId: grant.id,
      issuedAt: now,
      expiresAt: now + accessTokenSeconds * 1000,
      rotatedAt: null,
    };
    const refresh: IssuedToken = {
      ...access,
      token: `sbx_rt_${randomToken(32)}`,
      type: "refresh",
      expiresAt: now + refreshTokenSeconds * 1000,
    };
    this.tokens.set(access.token, access);
    this.tokens.set(refresh.token, refresh);
    this.changed();
    return {
      access_token: access.token,
      token_type: "Bearer",
      expires_in: accessTokenSeconds,
      refresh_token: refresh.token,
      refresh_token_expires_in: refreshTokenSeconds,
      scope: grant.scope,
    };
  }

  private revokeGrant(grantId: string): void {
    const grant = this.grants.get(grantId);
    if (!grant || grant.revokedAt !== null) return;
    grant.revokedAt = this.now();
    this.changed();
  }

  private ensureAccount(username: string, name: string, now: number): string {
    const id = Identity.accountId(username, name);
    if (!this.accounts.has(id)) {
      this.accounts.set(id, { id, username, name, handle: handleOf(username, name, id), createdAt: now });
    }
    return id;
  }

  /** Drops expired consent requests and old codes; runs when new ones are made, so memory stays flat. */
  private sweep(): void {
    const now = this.now();
    for (const [id, consent] of this.consents) if (consent.expiresAt <= now) this.consents.delete(id);
    for (const [code, record] of this.codes) {
      if (record.expiresAt - CODE_LIFETIME_MS + CODE_MEMORY_MS <= now) this.codes.delete(code);
    }
  }
}

export function s256(verifier: string): string {
  return createHash("sha256").update(verifier).digest("base64url");
}

function randomToken(bytes: number): string {
  return randomBytes(bytes).toString("base64url");
}

function handleOf(username: string, name: string, id: string): string {
  const slug = (value: string) =>
    value
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "");
  return `@${slug(username) || "user"}.${slug(name) || id.slice(5, 13)}`;
}
