import type { Config } from '../../config/schema.js';
import type { Clock } from '../../lib/clock.js';
import type { Store } from '../../store/store.js';
import type { Identity } from '../identity/identity.js';
import { PrivacyService } from './privacy.service.js';

/** The privacy service over a store and the identity services built on it. */
export function createPrivacyService(options: {
  config: Config;
  store: Store;
  identity: Identity;
  clock?: Clock;
  flushUsage?: () => Promise<void>;
}): PrivacyService {
  const { config, store, identity } = options;
  return new PrivacyService({
    repository: store.personalData,
    users: identity.users,
    keys: identity.keys,
    audit: identity.audit,
    pseudonym: identity.pseudonym,
    retention: config.privacy.retention,
    eraseVacuum: config.privacy.erase_vacuum,
    keptRoles: Object.entries(config.roles).filter(([, role]) => role.admin).map(([name]) => name),
    hasPassword: async (email) => Boolean((await store.users.findCredentials(email))?.passwordHash),
    flushUsage: options.flushUsage,
    clock: options.clock,
  });
}
