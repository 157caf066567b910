/**
 * Every audit action Herald writes, in one place: snake_case, past tense, with the severity an
 * event of that kind has unless the writer says otherwise. Later features add theirs here.
 */
export const AUDIT_ACTIONS = {
  // identity (no workspace: the nil chain)
  user_signed_up: { severity: "low", description: "an account was created" },
  user_signed_in: { severity: "low", description: "a person signed in" },
  sign_in_failed: { severity: "medium", description: "a sign-in was refused (wrong password, throttled)" },
  user_signed_out: { severity: "low", description: "a person signed out" },
  // tenancy
  workspace_created: { severity: "medium", description: "a workspace was created" },
  workspace_updated: { severity: "medium", description: "a workspace was renamed or its slug changed" },
  member_invited: { severity: "medium", description: "a person was invited" },
  member_joined: { severity: "medium", description: "an invitation was accepted" },
  member_role_changed: { severity: "high", description: "a member's role or client limit changed" },
  member_removed: { severity: "high", description: "a member or invitation was removed" },
  client_created: { severity: "low", description: "a client was created" },
  client_updated: { severity: "low", description: "a client was changed" },
  client_deleted: { severity: "medium", description: "a client was deleted" },
  api_key_created: { severity: "high", description: "an API key was created" },
  api_key_revoked: { severity: "medium", description: "an API key was revoked" },
  // connections and tokens
  oauth_initiated: { severity: "low", description: "a person started connecting accounts" },
  oauth_completed: { severity: "low", description: "a platform granted access; accounts await a choice" },
  oauth_failed: {
    severity: "medium",
    description: "a connection failed: denied, replayed or expired state, bad code",
  },
  account_connected: { severity: "medium", description: "a social account was added" },
  account_reconnected: {
    severity: "medium",
    description: "a social account's access was renewed by its person",
  },
  account_linked: { severity: "low", description: "an account was linked to a client" },
  account_unlinked: { severity: "low", description: "an account was unlinked from a client" },
  account_disconnected: { severity: "medium", description: "a social account was disconnected" },
  token_refreshed: { severity: "low", description: "an account's access token was renewed" },
  token_refresh_failed: {
    severity: "high",
    description: "renewing a token failed; the account needs reconnecting",
  },
  token_expiring: {
    severity: "medium",
    description: "an account's access ends within 14 days and cannot be renewed",
  },
  token_expired: { severity: "high", description: "an account's access ended" },
  // publishing
  media_uploaded: { severity: "low", description: "a media file was uploaded or imported" },
  media_deleted: { severity: "low", description: "a media file was deleted" },
  post_created: { severity: "low", description: "a post was created (draft, for approval or scheduled)" },
  post_updated: { severity: "low", description: "a post's content or time was changed" },
  post_scheduled: { severity: "low", description: "a post's targets were scheduled" },
  post_approved: { severity: "medium", description: "a post was approved for publishing" },
  post_rejected: { severity: "medium", description: "a post was rejected, with a reason" },
  post_cancelled: { severity: "medium", description: "a post's targets were cancelled" },
  post_retried: { severity: "low", description: "failed targets were queued again" },
  post_published: { severity: "low", description: "a target was published on its platform" },
  post_failed: { severity: "medium", description: "a target could not be published" },
  post_unconfirmed: {
    severity: "high",
    description: "a target may or may not have been published; a person must check",
  },
  webhook_created: { severity: "medium", description: "an outbound webhook was added" },
  webhook_updated: {
    severity: "medium",
    description: "an outbound webhook was enabled, disabled or changed",
  },
  webhook_deleted: { severity: "medium", description: "an outbound webhook was removed" },
  notification_channel_created: { severity: "medium", description: "a notification channel was added" },
  notification_channel_deleted: { severity: "medium", description: "a notification channel was removed" },
  // security
  access_denied: { severity: "medium", description: "a member tried something their role does not allow" },
  cross_tenant_attempt: { severity: "high", description: "a request named an id of another workspace" },
  security_alert: { severity: "high", description: "a suspicious-activity rule fired" },
  // alerting (src/alerts); an alert's severity maps to the event's
  alert_fired: { severity: "medium", description: "an alert rule's condition became true: an alert opened" },
  alert_acknowledged: { severity: "low", description: "a person acknowledged an alert" },
  alert_resolved: { severity: "low", description: "an alert's condition cleared" },
  alert_rule_created: { severity: "medium", description: "an alert rule was added" },
  alert_rule_updated: { severity: "medium", description: "an alert rule was changed, enabled or disabled" },
  alert_rule_deleted: { severity: "medium", description: "an alert rule was deleted" },
  // the audit trail itself
  audit_exported: { severity: "medium", description: "audit events were exported" },
  audit_erasure: { severity: "high", description: "a person's data was pseudonymised (GDPR)" },
} as const satisfies Record<string, { severity: Severity; description: string }>;

export type AuditAction = keyof typeof AUDIT_ACTIONS;
export const AUDIT_ACTION_NAMES = Object.keys(AUDIT_ACTIONS) as [AuditAction, ...AuditAction[]];

export const SEVERITIES = ["low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const OUTCOMES = ["success", "failure", "denied"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The chain of events that belong to no workspace (identity events). */
export const NO_WORKSPACE = "00000000-0000-0000-0000-000000000000";
