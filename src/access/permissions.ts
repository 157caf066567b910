/**
 * Who may do what in a workspace. A person's role decides; an API key's scopes decide. RLS is the
 * second wall: these checks decide what a member may do inside their own workspace, RLS makes sure
 * nobody reaches another one.
 */

export const ROLES = ["owner", "admin", "manager", "editor", "viewer", "client"] as const;
export type Role = (typeof ROLES)[number];

export const SCOPES = [
  "posts:read",
  "posts:write",
  "accounts:read",
  "accounts:write",
  "audit:read",
  "monitoring:read",
  "admin",
] as const;
export type Scope = (typeof SCOPES)[number];

type Rule = {
  roles: readonly Role[];
  /** API keys need one of these scopes; `admin` implies every scope. Empty: people only. */
  scopes: readonly Scope[];
};

const EVERYONE = ROLES;
const STAFF = ["owner", "admin", "manager", "editor", "viewer"] as const;
const ADMINS = ["owner", "admin"] as const;

export const PERMISSIONS = {
  "workspace:read": { roles: EVERYONE, scopes: SCOPES },
  "workspace:update": { roles: ADMINS, scopes: ["admin"] },
  "members:read": { roles: STAFF, scopes: ["admin"] },
  "members:write": { roles: ADMINS, scopes: ["admin"] },
  "clients:read": {
    roles: EVERYONE,
    scopes: ["posts:read", "posts:write", "accounts:read", "accounts:write"],
  },
  "clients:write": { roles: ["owner", "admin", "manager"], scopes: ["admin"] },
  // API keys are managed by people only: a leaked key must not be able to mint more keys.
  "api_keys:manage": { roles: ADMINS, scopes: [] },
  "audit:read": { roles: ADMINS, scopes: ["audit:read"] },
  "accounts:read": {
    roles: EVERYONE,
    scopes: ["accounts:read", "accounts:write", "posts:read", "posts:write"],
  },
  "accounts:write": { roles: ["owner", "admin", "manager"], scopes: ["accounts:write"] },
  // A client user sees their client's posts and approves them; staff below viewer write them.
  "posts:read": { roles: EVERYONE, scopes: ["posts:read", "posts:write"] },
  "posts:write": { roles: ["owner", "admin", "manager", "editor"], scopes: ["posts:write"] },
  "posts:approve": { roles: ["owner", "admin", "manager", "client"], scopes: ["posts:write"] },
  "media:read": { roles: EVERYONE, scopes: ["posts:read", "posts:write"] },
  "media:write": { roles: ["owner", "admin", "manager", "editor"], scopes: ["posts:write"] },
  "webhooks:manage": { roles: ADMINS, scopes: ["admin"] },
  // Workspace-wide publish figures (GET /monitoring/health): staff only, a client user sees one client.
  "monitoring:read": { roles: STAFF, scopes: ["monitoring:read"] },
  // Alert rules and acknowledging alerts: managers and up; for programs, the admin scope only.
  "monitoring:write": { roles: ["owner", "admin", "manager"], scopes: ["admin"] },
} as const satisfies Record<string, Rule>;

export type Permission = keyof typeof PERMISSIONS;

export function roleAllows(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission].roles as readonly Role[]).includes(role);
}

export function scopesAllow(scopes: readonly Scope[], permission: Permission): boolean {
  const accepted: readonly Scope[] = PERMISSIONS[permission].scopes;
  if (accepted.length === 0) return false;
  return scopes.includes("admin") || accepted.some((scope) => scopes.includes(scope));
}
