import { SignJWT } from 'jose';
import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { randomId } from '../../lib/ids.js';
import type { LtiPlatformRecord } from '../../store/lti.repository.js';
import { CLAIM, DEEP_LINKING_RESPONSE, LTI_VERSION } from './lti-claims.js';
import type { TicketSigner } from './lti-ticket.js';
import type { ToolKeyService } from './tool-keys.js';

const TICKET_PURPOSE = 'deep-link';
const TICKET_TTL_MS = 30 * 60_000;
const RESPONSE_TTL_S = 600;

/** What the platform asked for, carried from the picker to the response. */
export interface DeepLinkTicket {
  platformId: string;
  deploymentId: string;
  returnUrl: string;
  data?: string;
  userId: string;
}

/**
 * Deep Linking 2.0: the instructor picks a model (a course bot, a `template:`, any model their
 * roles allow) and the platform gets a signed LtiDeepLinkingResponse with one resource link
 * whose custom parameter `model` the later launches open.
 */
export class LtiDeepLinkingService {
  private readonly clock: Clock;

  constructor(private readonly keys: ToolKeyService, private readonly tickets: TicketSigner, options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  ticket(value: DeepLinkTicket): string {
    return this.tickets.sign(TICKET_PURPOSE, value, this.clock.now() + TICKET_TTL_MS);
  }

  readTicket(ticket: unknown): DeepLinkTicket {
    if (typeof ticket !== 'string' || ticket.length === 0) throw new FlexiError('invalid_request', 'The selection form lacks its ticket; open the tool selection from the course again.', { param: 'ticket' });
    const value = this.tickets.open<DeepLinkTicket>(TICKET_PURPOSE, ticket, this.clock.now());
    if (!value) throw new FlexiError('unauthorized', 'This selection expired or was altered; open the tool selection from the course again.', { param: 'ticket' });
    return value;
  }

  /** The signed response JWT for the chosen model, to be posted (form field `JWT`) to `returnUrl`. */
  async response(platform: LtiPlatformRecord, ticket: DeepLinkTicket, item: { model: string; title: string; launchUrl: string }): Promise<string> {
    const { kid, key } = await this.keys.signingKey();
    const nowS = Math.floor(this.clock.now() / 1000);
    const payload: Record<string, unknown> = {
      nonce: randomId(32),
      [CLAIM.messageType]: DEEP_LINKING_RESPONSE,
      [CLAIM.version]: LTI_VERSION,
      [CLAIM.deploymentId]: ticket.deploymentId,
      [CLAIM.contentItems]: [{
        type: 'ltiResourceLink', title: item.title, url: item.launchUrl, custom: { model: item.model },
      }],
    };
    if (ticket.data !== undefined) payload[CLAIM.deepLinkingData] = ticket.data;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(platform.clientId)
      .setAudience(platform.issuer)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + RESPONSE_TTL_S)
      .sign(key);
  }
}
