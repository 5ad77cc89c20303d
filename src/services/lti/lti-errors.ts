import { FlexiError } from '../../core/errors.js';

/**
 * The IMS Security Framework check a launch failed (docs/lti.md lists them): named in the error
 * page and the audit entry, so an operator sees at once which side is misconfigured.
 */
export type LtiCheck =
  | 'request' | 'platform' | 'state' | 'browser' | 'signature' | 'jwks_unreachable' | 'iss' | 'aud' | 'azp' | 'exp' | 'iat'
  | 'nonce' | 'deployment_id' | 'version' | 'message_type' | 'claims';

/** A refused LTI message: never a session; the route shows an error page and audits it. */
export class LtiLaunchError extends FlexiError {
  constructor(
    readonly check: LtiCheck,
    message: string,
    readonly platformId?: string,
    /** The browser sent no cookie at all: third-party cookies are blocked, offer a new window. */
    readonly cookiesBlocked = false,
    /** The login's parameters, to start it again in a new window. */
    readonly relaunch?: Readonly<Record<string, string>>,
  ) {
    super(check === 'request' ? 'invalid_request' : 'unauthorized', message);
  }
}
