import type { AgreementResponse } from '../../api/ui.js';
import { FlexiError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { AgreementRepository } from '../../store/agreement.repository.js';
import { toTimestamp } from '../../store/database.js';

export interface AgreementSettings {
  version: string;
  text: { en: string; de: string };
}

/** Users whose acceptance is remembered per process (positive answers only). */
const CACHE_MAX_USERS = 50_000;

/**
 * The versioned user agreement (config `agreement`). A browser session may not chat or use
 * the API until its user accepted the current version; API keys are not affected.
 */
export class AgreementService {
  private readonly clock: Clock;
  // Acceptance of the current version never goes away except by erasing the user, whose
  // sessions end with it; caching positive answers keeps a query off every browser request.
  private readonly accepted = new Set<string>();

  constructor(private readonly repository: AgreementRepository, private readonly settings: AgreementSettings, options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  get version(): string {
    return this.settings.version;
  }

  async current(userId: string): Promise<AgreementResponse> {
    const acceptance = await this.repository.find(userId, this.settings.version);
    return { version: this.settings.version, text: { ...this.settings.text }, accepted: acceptance !== undefined, accepted_at: acceptance?.acceptedAt ?? null };
  }

  /** Records acceptance of `version`, which must be the current one (the text may have changed while the page was open). */
  async accept(userId: string, version: string): Promise<AgreementResponse> {
    if (version !== this.settings.version) {
      throw new FlexiError('conflict', `The agreement changed (now version ${this.settings.version}); read the new text and accept it.`, { param: 'version' });
    }
    await this.repository.accept(userId, version, toTimestamp(this.clock.now()));
    this.remember(userId);
    return this.current(userId);
  }

  async hasAccepted(userId: string): Promise<boolean> {
    if (this.accepted.has(userId)) return true;
    const found = (await this.repository.find(userId, this.settings.version)) !== undefined;
    if (found) this.remember(userId);
    return found;
  }

  async assertAccepted(userId: string): Promise<void> {
    if (!(await this.hasAccepted(userId))) throw new FlexiError('agreement_required');
  }

  /** Forget a user's cached acceptance (after erasing their data). */
  forget(userId: string): void {
    this.accepted.delete(userId);
  }

  private remember(userId: string): void {
    if (this.accepted.size >= CACHE_MAX_USERS) this.accepted.clear();
    this.accepted.add(userId);
  }
}
