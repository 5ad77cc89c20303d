import type { Config } from '../../config/schema.js';
import type { Clock } from '../../lib/clock.js';
import { PersonalDataRepository } from '../../store/personal-data.repository.js';
import type { Store } from '../../store/store.js';
import type { Identity } from '../identity.js';
import { PrivacyService } from './privacy.service.js';

/** The privacy service over a store and the identity services built on it; undefined without a database. */
export function createPrivacyService(options: {
  config: Config;
  store?: Store;
  identity: Identity;
  clock?: Clock;
  flushUsage?: () => Promise<void>;
}): PrivacyService | undefined {
  const { config, store, identity } = options;
  if (!store || !identity.users || !identity.audit) return undefined;
  return new PrivacyService({
    repository: new PersonalDataRepository(store.db),
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
