/** Who is calling: a person (session) or a program (API key of one workspace). */
import { AuthenticationError, ForbiddenError } from "../errors.js";
import type { Scope } from "./permissions.js";

export type UserPrincipal = { kind: "user"; userId: string; email: string; name: string };
export type ApiKeyPrincipal = {
  kind: "api_key";
  keyId: string;
  workspaceId: string;
  name: string;
  scopes: Scope[];
};
export type Principal = UserPrincipal | ApiKeyPrincipal;

export function requirePrincipal(principal: Principal | undefined): Principal {
  if (!principal) throw new AuthenticationError();
  return principal;
}

/** For actions only people may take (creating workspaces, managing API keys). */
export function requireUserPrincipal(principal: Principal | undefined): UserPrincipal {
  const known = requirePrincipal(principal);
  if (known.kind !== "user") {
    throw new ForbiddenError(
      "Only a signed-in person can do this, not an API key.",
      "HERALD_SESSION_REQUIRED",
    );
  }
  return known;
}
