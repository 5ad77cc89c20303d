import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Small signed, expiring values the tool hands to a browser and reads back: the deep-linking
 * ticket (what the platform asked for, between the picker and the response) and the dynamic
 * registration link an administrator gives to Moodle. HMAC-SHA256 under a key derived from the
 * LTI secret; no table needed, and nothing in them is secret from the user who holds them.
 */
export class TicketSigner {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'flexi-lti', 'ticket', 32));
  }

  sign(purpose: string, value: object, expiresAtMs: number): string {
    const body = Buffer.from(JSON.stringify({ p: purpose, e: expiresAtMs, v: value })).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  /** The value, or undefined when tampered with, expired or made for another purpose. */
  open<T>(purpose: string, ticket: unknown, nowMs: number): T | undefined {
    if (typeof ticket !== 'string' || ticket.length > 16_384) return undefined;
    const [body, mac] = ticket.split('.');
    if (!body || !mac) return undefined;
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    try {
      const parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { p: string; e: number; v: T };
      return parsed.p === purpose && typeof parsed.e === 'number' && parsed.e > nowMs ? parsed.v : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
