import type { IncomingHttpHeaders } from 'node:http';
import { FlexiError } from '../core/errors.js';

/** Who a request acts for, as far as the gateway knows. */
export interface Principal {
  apiKeyId?: string;
  /** Fair-share and accounting subject. */
  subject: string;
  role?: string;
}

export interface VerifiedKey {
  id: string;
  role?: string | null;
}

export interface KeyVerifier {
  verify(key: string): Promise<VerifiedKey | undefined>;
}

/** Reads `Authorization: Bearer …` or the `api-key` header (Azure-style clients, Moodle plugins). */
export function extractApiKey(headers: IncomingHttpHeaders): string | undefined {
  const authorization = headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const apiKey = headers['api-key'];
  if (typeof apiKey === 'string' && apiKey.trim() !== '') return apiKey.trim();
  return undefined;
}

export class Authenticator {
  constructor(private readonly mode: 'keys' | 'none', private readonly keys: KeyVerifier | undefined) {}

  async authenticate(headers: IncomingHttpHeaders): Promise<Principal> {
    if (this.mode === 'none') return { subject: 'anonymous' };
    const key = extractApiKey(headers);
    if (!key) throw new FlexiError('unauthorized');
    const verified = key.length <= 256 ? await this.keys?.verify(key) : undefined;
    if (!verified) throw new FlexiError('invalid_api_key');
    return { apiKeyId: verified.id, subject: `key:${verified.id}`, role: verified.role ?? undefined };
  }
}

/**
 * Whether a principal may use the admin API. Until roles exist, operator keys (created with
 * `flexi keys create` without a role) and keys with role `admin` are admins; with `auth.mode:
 * none` everyone is (development only).
 */
export function isAdmin(principal: Principal | undefined, authMode: 'keys' | 'none'): boolean {
  if (authMode === 'none') return true;
  if (!principal?.apiKeyId) return false;
  return principal.role === undefined || principal.role === 'admin';
}
