import { FlexiError } from '../core/errors.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { ChatKeyRepository } from '../store/chat-key.repository.js';
import { toTimestamp } from '../store/database.js';
import { keyFromToken, newDataKey, newRecoveryKey, openSealed, seal, unwrapWithSecret, wrapWithSecret } from './chat-crypto.js';

/** What the web UI shows about a user's chat encryption (GET /ui/v1/chat-key). */
export interface ChatKeyStatus {
  /** `privacy.encrypt_chats` is on. */
  enabled: boolean;
  /** This session holds the key: encrypted chats open. */
  unlocked: boolean;
  /** The user saved a recovery key. */
  recoveryKey: boolean;
}

/**
 * The per-user data keys of encrypted chats (docs/privacy.md, "Encrypted chats"). A data key
 * is random; it is stored only wrapped: by a key derived from the user's password (scrypt), by
 * one derived from their recovery key if they made one, and for each signed-in session by one
 * derived from the session's cookie value (HKDF), which the database keeps only as a hash. So
 * the server can open a user's chats only while that user's browser presents its cookie, and a
 * copy of the database opens nothing.
 *
 * Single sign-on users have no password Flexi sees: their key is created at their first
 * sign-in, held by that session, and after it ends opens again only with their recovery key.
 */
export class ChatKeyService {
  private readonly clock: Clock;

  constructor(private readonly keys: ChatKeyRepository, private readonly options: { enabled: boolean; clock?: Clock }) {
    this.clock = options.clock ?? systemClock;
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  private now(): string {
    return toTimestamp(this.clock.now());
  }

  /** After a password sign-in: opens the user's data key (creating it the first time) and lends it to the session. */
  async onPasswordLogin(userId: string, password: string, session: { id: string; token: string }): Promise<void> {
    if (!this.options.enabled) return;
    const dataKey = await this.openOrCreate(userId, password);
    if (dataKey) await this.lend(userId, dataKey, session);
  }

  /** After a single sign-on: a first sign-in creates the key (held by the session only until a recovery key is made). */
  async onSsoLogin(userId: string, session: { id: string; token: string }): Promise<void> {
    if (!this.options.enabled) return;
    const now = this.now();
    const dataKey = newDataKey();
    const created = await this.keys.create({ userId, passwordWrapped: null, recoveryWrapped: null, createdAt: now, updatedAt: now });
    // A key only an ended session held, and no recovery key: it is gone; a new one lets the user chat again.
    const existing = created ? undefined : await this.keys.find(userId);
    if (created || (existing && !existing.passwordWrapped && !existing.recoveryWrapped)) await this.lend(userId, dataKey, session);
  }

  private async openOrCreate(userId: string, password: string): Promise<Buffer | undefined> {
    const existing = await this.keys.find(userId);
    if (existing) {
      const opened = existing.passwordWrapped ? await unwrapWithSecret(existing.passwordWrapped, password, userId) : undefined;
      // Locked, but the recovery key may open it: the user decides (settings, POST /ui/v1/chat-key/unlock).
      if (opened || existing.recoveryWrapped) return opened;
      // Nothing can open the old key any more (an admin reset the password and there is no recovery key):
      // a new key, so the user can chat again; the old chats stay sealed and show as locked.
      const fresh = newDataKey();
      await this.keys.update(userId, { passwordWrapped: await wrapWithSecret(fresh, password, userId), updatedAt: this.now() });
      return fresh;
    }
    const dataKey = newDataKey();
    const now = this.now();
    const created = await this.keys.create({ userId, passwordWrapped: await wrapWithSecret(dataKey, password, userId), recoveryWrapped: null, createdAt: now, updatedAt: now });
    // Another sign-in created the key at the same moment: open that one.
    return created ? dataKey : this.openOrCreate(userId, password);
  }

  private async lend(userId: string, dataKey: Buffer, session: { id: string; token: string }): Promise<void> {
    await this.keys.setSessionKey(session.id, seal(keyFromToken(session.token, userId), dataKey, `session:${session.id}`));
  }

  /** The data key the session holds, or undefined (encryption off, or a locked session). */
  async keyOf(userId: string, session: { id: string; token: string }): Promise<Buffer | undefined> {
    if (!this.options.enabled) return undefined;
    const wrapped = await this.keys.sessionKey(session.id);
    if (!wrapped) return undefined;
    try {
      return openSealed(keyFromToken(session.token, userId), wrapped, `session:${session.id}`);
    } catch {
      return undefined;
    }
  }

  async status(userId: string, key: Buffer | undefined): Promise<ChatKeyStatus> {
    const record = this.options.enabled ? await this.keys.find(userId) : undefined;
    return { enabled: this.options.enabled, unlocked: key !== undefined, recoveryKey: Boolean(record?.recoveryWrapped) };
  }

  /** The user changed their password: the key is wrapped anew (the session holds it, so it is at hand). */
  async onPasswordChanged(userId: string, key: Buffer | undefined, newPassword: string): Promise<void> {
    if (!this.options.enabled || !key) return;
    await this.keys.update(userId, { passwordWrapped: await wrapWithSecret(key, newPassword, userId), updatedAt: this.now() });
  }

  /** A new recovery key (shown once; it replaces any earlier one). Needs an unlocked session. */
  async createRecoveryKey(userId: string, key: Buffer | undefined): Promise<string> {
    if (!this.options.enabled) throw new FlexiError('not_found', 'Chats are not encrypted on this server (privacy.encrypt_chats).');
    if (!key) throw new FlexiError('chats_locked');
    const recoveryKey = newRecoveryKey();
    await this.keys.update(userId, { recoveryWrapped: await wrapWithSecret(key, recoveryKey, userId), updatedAt: this.now() });
    return recoveryKey;
  }

  /**
   * Opens the key with the recovery key (after a password reset by an admin, or a single
   * sign-on session) and lends it to this session; with `password`, it is wrapped by it again.
   */
  async unlockWithRecoveryKey(userId: string, recoveryKey: string, session: { id: string; token: string }, password?: string): Promise<void> {
    const record = this.options.enabled ? await this.keys.find(userId) : undefined;
    const dataKey = record?.recoveryWrapped ? await unwrapWithSecret(record.recoveryWrapped, recoveryKey.trim().toUpperCase(), userId) : undefined;
    if (!dataKey) throw new FlexiError('invalid_request', 'This recovery key does not open your chats.', { param: 'recovery_key' });
    if (password !== undefined) await this.keys.update(userId, { passwordWrapped: await wrapWithSecret(dataKey, password, userId), updatedAt: this.now() });
    await this.lend(userId, dataKey, session);
  }
}
