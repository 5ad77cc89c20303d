/**
 * Who a request acts for. The decisions live in AccessControl (services/); http/ only calls
 * `authenticate` in its onRequest hook and `admit` around inference (see request-context.ts).
 */
export type { Principal, VerifiedKey, KeyVerifier } from '../services/access-control.service.js';
export { extractApiKey } from '../services/access-control.service.js';
