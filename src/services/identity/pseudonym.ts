import { createHmac } from 'node:crypto';

/**
 * The pseudonym stored in `usage_records.subject` for a user: HMAC-SHA256 of the user id under
 * `privacy.pseudonym_secret`, hex. Without the secret a record cannot be tied to a person; with
 * it, an admin can (GDPR access requests, usage by user).
 */
export function pseudonymFor(userId: string, secret: string): string {
  return `u:${createHmac('sha256', secret).update(userId).digest('hex').slice(0, 32)}`;
}

/** A pseudonymFor bound to one deployment's secret. */
export function createPseudonymizer(secret: string): (userId: string) => string {
  const cache = new Map<string, string>();
  return (userId) => {
    let value = cache.get(userId);
    if (value === undefined) {
      value = pseudonymFor(userId, secret);
      if (cache.size > 100_000) cache.clear();
      cache.set(userId, value);
    }
    return value;
  };
}
