import type { Config } from '../../config/schema.js';
import type { PersonalTable } from '../../store/personal-data.repository.js';

/** A retention period of `privacy.retention`. */
export type RetentionClass = keyof Config['privacy']['retention'];

/** What erasing a user does to the rows of a class. */
export type EraseAction =
  /** Delete the user's rows. */
  | 'delete'
  /** Keep the rows for statistics, but give them a random subject nothing maps back (usage records). */
  | 'rekey'
  /** Keep the entries, replacing every mention of the user by an opaque reference (audit log). */
  | 'scrub'
  /**
   * Keep the rows, which belong to someone else, and clear the column that names the user: a
   * course's documents stay with the course when the lecturer who uploaded them is erased.
   */
  | 'unlink';

/**
 * One class of personal data: a table, how its rows belong to a user, what erasure and
 * retention do to it, and what the record of processing activities says about it. Adding a
 * table with personal data means adding one entry here; export, erasure, retention, the record
 * and the catalog-based tests pick it up.
 */
export interface PersonalDataClass extends PersonalTable {
  /** Key in exports and purge results. */
  name: string;
  /** Data category, for the record and docs. */
  category: string;
  /** What is stored, in words. */
  data: string;
  purpose: string;
  /** Whose data and who can read it inside Flexi. */
  access: string;
  erase: EraseAction;
  /** The period that applies (none: kept while the account exists). */
  retention?: RetentionClass;
  /**
   * Columns whose values identify the user (ids, e-mail, names, sign-on subjects); erasure
   * replaces them wherever the audit log mentions them.
   */
  identifiers?: readonly string[];
  /** The table arrives with a feature that may not be installed yet; skipped while it is missing. */
  optional?: boolean;
}

/**
 * The registry, in erase order: rows that point at others go first, `users` last. Retention
 * walks it in the same order, so a child table is aged with (before) its parent.
 */
export const PERSONAL_DATA_CLASSES: readonly PersonalDataClass[] = [
  {
    name: 'chat_messages', table: 'chat_messages', link: { kind: 'parent', column: 'chat_id', parent: 'chats', parentColumn: 'user_id' },
    // Linked through the chat, not the denormalised user_id: retention ages a message with its chat's last change.
    erase: 'delete', retention: 'chats',
    category: 'Chat content', data: 'prompts and answers of the user\'s web chats, model, time',
    purpose: 'show the user their chat history', access: 'the user only (no API returns another user\'s chats)',
  },
  {
    name: 'chats', table: 'chats', link: { kind: 'column', column: 'user_id' }, agedBy: ['updated_at', 'created_at'],
    erase: 'delete', retention: 'chats', identifiers: ['id'],
    category: 'Chat content', data: 'chat titles, model, system prompt, settings, times',
    purpose: 'show the user their chat history', access: 'the user only',
  },
  {
    name: 'agreement_acceptances', table: 'agreement_acceptances', link: { kind: 'column', column: 'user_id' },
    erase: 'delete',
    category: 'Consent', data: 'version of the user agreement accepted and when',
    purpose: 'prove that the user accepted the current terms of use', access: 'admins',
  },
  {
    // The material belongs to the course (its collection), not to the lecturer who uploaded it:
    // erasing the uploader clears `uploaded_by` and keeps the course's documents; retention and
    // deleting the document, the collection or the course remove the file and its passages.
    name: 'documents', table: 'collection_documents', link: { kind: 'column', column: 'uploaded_by' }, agedBy: ['updated_at', 'created_at'],
    hidden: ['content', 'claim_token'], erase: 'unlink', retention: 'documents',
    category: 'Uploaded documents', data: 'files uploaded to a course bot (course material for retrieval), their name, size, status and uploader; their passages in the retrieval index',
    purpose: 'answer questions about course material', access: 'the course\'s owners and members (through the course bot and its sources) and admins',
  },
  {
    name: 'sessions', table: 'sessions', link: { kind: 'column', column: 'user_id' }, hidden: ['token_hash', 'csrf_token', 'chat_key'],
    agedBy: ['expires_at'], erase: 'delete', retention: 'sessions', identifiers: ['id'],
    category: 'Sign-in data', data: 'browser sessions: hash of the cookie, start, expiry, end',
    purpose: 'keep the user signed in; security', access: 'no one through an API',
  },
  {
    name: 'identities', table: 'identities', link: { kind: 'column', column: 'user_id' },
    erase: 'delete', identifiers: ['id', 'subject', 'email'],
    category: 'Account data', data: 'single-sign-on provider, subject and e-mail, last sign-in',
    purpose: 'sign the user in with the organisation\'s identity provider', access: 'admins',
  },
  {
    name: 'group_members', table: 'group_members', link: { kind: 'column', column: 'user_id' }, erase: 'delete',
    category: 'Account data', data: 'membership in courses and institutes, role in the group',
    purpose: 'course access and usage reports per group', access: 'admins',
  },
  {
    name: 'usage_records', table: 'usage_records', link: { kind: 'subject' }, agedBy: ['created_at'],
    erase: 'rekey', retention: 'usage_records',
    category: 'Usage data (pseudonymous)', data: 'per request: pseudonym (keyed hash of the user id), API key id, model, node, status, token counts, timings; never prompt or answer text',
    purpose: 'quotas and budgets, fair scheduling, capacity planning, cost accounting', access: 'admins (usage reports map pseudonyms to users with the secret)',
  },
  {
    name: 'api_keys', table: 'api_keys', link: { kind: 'column', column: 'user_id' }, hidden: ['key_hash'], json: ['scopes'],
    erase: 'delete', identifiers: ['id'],
    category: 'Account data', data: 'the user\'s API keys: name, first characters, scopes, times (the key itself is stored only as a hash)',
    purpose: 'authenticate programs acting for the user', access: 'the user and admins',
  },
  {
    name: 'audit_log', table: 'audit_log', link: { kind: 'audit' }, json: ['details'], agedBy: ['created_at'],
    erase: 'scrub', retention: 'audit_log',
    category: 'Audit log', data: 'administrative actions: who (user id or CLI user), what, on which object, when',
    purpose: 'accountability of administrators; security', access: 'admins',
  },
  {
    name: 'chat_keys', table: 'chat_keys', link: { kind: 'column', column: 'user_id' }, hidden: ['password_wrapped', 'recovery_wrapped'],
    erase: 'delete',
    category: 'Chat content', data: 'the key that opens the user\'s encrypted chats, sealed with keys derived from their password and recovery key (neither stored)',
    purpose: 'encrypt chats at rest so that only the user can read them', access: 'no one: only the user\'s password or recovery key opens it',
  },
  {
    name: 'users', table: 'users', link: { kind: 'column', column: 'id' }, hidden: ['password_hash'], json: ['roles'],
    erase: 'delete', retention: 'inactive_accounts', identifiers: ['id', 'email', 'display_name'],
    category: 'Account data', data: 'e-mail, display name, roles, password hash (local accounts), times of creation and last sign-in',
    purpose: 'sign-in, access control by role, quotas', access: 'admins',
  },
];
