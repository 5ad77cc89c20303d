/**
 * The identity records the store hands out and services, routes and commands read. They live in core so
 * that every layer names them from one place without reaching into the store.
 */

/** A user as services see it; the password hash only where a service asks for it. */
export interface UserRecord {
  id: string;
  email: string;
  displayName: string | null;
  roles: string[];
  /** ISO 8601 UTC timestamps (see src/store/README.md). */
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
  disabledAt: string | null;
}

/** An API key as the rest of Flexi sees it: never the key, never its hash. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  prefix: string;
  userId: string | null;
  role: string | null;
  scopes: string[] | null;
  /** ISO 8601 UTC timestamps (see src/store/README.md). */
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}
