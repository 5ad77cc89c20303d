import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresAdapter, PostgresDialect, SqliteDialect, type Generated } from 'kysely';
import pg from 'pg';

/**
 * Table types. Timestamps are ISO 8601 UTC text with milliseconds (`Date#toISOString()`,
 * e.g. `2026-01-01T00:00:00.000Z`) on both dialects: the fixed width makes text order equal
 * time order, and `substr(created_at, 1, 10)` is the UTC day everywhere.
 */
export interface ApiKeysTable {
  id: string;
  name: string;
  /** First characters of the key (`flx-` + 8), shown to users to tell keys apart. */
  prefix: string;
  /** SHA-256 of the whole key, lowercase hex. The key itself is never stored. */
  key_hash: string;
  user_id: string | null;
  role: string | null;
  /** JSON array of scope strings. */
  scopes: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface UsageRecordsTable {
  id: Generated<number>;
  created_at: string;
  request_id: string;
  api_key_id: string | null;
  /** Pseudonym of the user (keyed hash), never a clear identity. */
  subject: string | null;
  endpoint: string;
  protocol: 'openai' | 'ollama';
  model: string;
  node: string | null;
  status: number;
  error_code: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  ttft_ms: number | null;
  duration_ms: number;
  queue_ms: number | null;
  /** The group (course) the request was made for, when it was made for one. */
  group_id: string | null;
  /** GPU energy attributed to the request (Wh); null without telemetry on its node. */
  energy_wh: number | null;
}

export interface UsersTable {
  id: string;
  /** Lower-case. */
  email: string;
  display_name: string | null;
  /** argon2id PHC string; null for single-sign-on-only accounts. */
  password_hash: string | null;
  /** JSON array of role names. */
  roles: string;
  created_at: string;
  updated_at: string;
  last_login_at: string | null;
  disabled_at: string | null;
}

export interface IdentitiesTable {
  id: string;
  user_id: string;
  /** `oidc`; later `lti:<issuer>`. */
  provider: string;
  /** The provider's stable subject (`sub`). */
  subject: string;
  email: string | null;
  created_at: string;
  last_login_at: string | null;
}

export interface GroupsTable {
  id: string;
  name: string;
  /** `course`, `institute` or `other`. */
  kind: string;
  description: string | null;
  created_at: string;
}

export interface GroupMembersTable {
  group_id: string;
  user_id: string;
  /** `member` or `owner`. */
  role: string;
  created_at: string;
}

export interface SessionsTable {
  id: string;
  /** SHA-256 of the cookie value, lowercase hex. */
  token_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  /** The user's chat data key, wrapped by a key derived from the cookie value (encrypted chats). */
  chat_key: string | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  created_at: string;
  /** `user:<id>`, `key:<id>` or `cli:<os user>`. */
  actor: string;
  /** e.g. `user.create`, `key.revoke`. */
  action: string;
  target_type: string | null;
  target_id: string | null;
  /** JSON object; never secrets. */
  details: string | null;
}

export interface ChatsTable {
  id: string;
  user_id: string;
  title: string;
  model: string | null;
  system_prompt: string | null;
  temperature: number | null;
  created_at: string;
  updated_at: string;
}

export interface ChatMessagesTable {
  id: string;
  chat_id: string;
  user_id: string;
  /** 0, 1, 2, … within the chat. */
  position: number;
  /** `user` or `assistant`. */
  role: string;
  content: string;
  model: string | null;
  /** `stop`, `length`, `stopped`, `error`; null for user turns and an answer still being written. */
  finish: string | null;
  created_at: string;
  /** JSON array of data: URLs (or, encrypted, one sealed value holding it); null without images. */
  images: string | null;
}

export interface ChatKeysTable {
  user_id: string;
  /** The data key sealed with a key derived from the password (scrypt); null for single sign-on users. */
  password_wrapped: string | null;
  /** The data key sealed with a key derived from the recovery key, if the user saved one. */
  recovery_wrapped: string | null;
  created_at: string;
  updated_at: string;
}

export interface AgreementAcceptancesTable {
  user_id: string;
  version: string;
  accepted_at: string;
}

export interface NodeModelsTable {
  node_name: string;
  model_name: string;
  last_seen_at: string;
}

/** A node's measured GPU energy over [started_at, ended_at), and the part no request ran in. */
export interface NodeEnergyTable {
  node: string;
  started_at: string;
  ended_at: string;
  energy_joules: number;
  idle_joules: number;
  gpus: number;
}

/** A prompt template (`template:<name>`); `definition` is the JSON of its current version. */
export interface TemplatesTable {
  id: string;
  name: string;
  /** Null: global; else the owning group (course). */
  group_id: string | null;
  version: number;
  definition: string;
  created_at: string;
  updated_at: string;
}

/** Every saved version of a template, the current one included. */
export interface TemplateVersionsTable {
  template_id: string;
  version: number;
  definition: string;
  created_at: string;
}

export interface LtiPlatformsTable {
  id: string;
  name: string;
  issuer: string;
  client_id: string;
  auth_url: string;
  jwks_url: string;
  token_url: string;
  created_at: string;
}

export interface LtiDeploymentsTable {
  platform_id: string;
  deployment_id: string;
  created_at: string;
}

export interface LtiToolKeysTable {
  /** The JWK `kid`. */
  id: string;
  /** Public JWK, JSON. */
  public_jwk: string;
  /** Private JWK, JSON, encrypted (`v1.<iv>.<ciphertext>.<tag>`, AES-256-GCM). */
  private_jwk_encrypted: string;
  created_at: string;
  retired_at: string | null;
  expires_at: string | null;
}

export interface LtiLoginStatesTable {
  state_hash: string;
  browser_hash: string;
  nonce: string;
  platform_id: string;
  /** JSON object of the login request's parameters. */
  login_params: string;
  created_at: string;
  expires_at: string;
}

export interface LtiNoncesTable {
  platform_id: string;
  nonce: string;
  expires_at: string;
}

export interface LtiContextsTable {
  platform_id: string;
  context_id: string;
  group_id: string;
  title: string | null;
  memberships_url: string | null;
  created_at: string;
  synced_at: string | null;
}

export interface CollectionsTable {
  id: string;
  /** Unique; the bot is the model `course:<name>`. */
  name: string;
  group_id: string;
  description: string | null;
  /** The bot's instructions (system prompt before the excerpts). */
  instructions: string | null;
  /** The real model that answers; null: `courses.default_chat_model`. */
  chat_model: string | null;
  /** `strict` or `lenient`. */
  strictness: string;
  /** What a strict bot answers when nothing relevant was found; null: `courses.refusal_text`. */
  refusal_text: string | null;
  /** Excerpts given to the model. */
  top_k: number;
  created_at: string;
  updated_at: string;
}

export interface CollectionDocumentsTable {
  id: string;
  collection_id: string;
  /** The sanitised file name; unique in its collection. */
  name: string;
  /** SHA-256 of the content, lowercase hex. */
  content_hash: string;
  content_type: string;
  bytes: number;
  /** The original file. */
  content: Uint8Array;
  /** `queued`, `processing`, `ready` or `failed`. */
  status: string;
  /** Why it failed. */
  error: string | null;
  format: string | null;
  pages: number | null;
  chunks: number | null;
  progress_done: number;
  progress_total: number;
  /** Who uploaded it (null once that user is erased: the material belongs to the course). */
  uploaded_by: string | null;
  /** The ingestion run that holds it. */
  claim_token: string | null;
  /** The claim's last sign of life. */
  claimed_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface RagChunksTable {
  seq: Generated<number>;
  id: string;
  collection_id: string;
  document_id: string;
  ord: number;
  text: string;
  section: string | null;
  page_start: number | null;
  page_end: number | null;
  /** `de` or `en`: the stemmer the terms were made with. */
  language: string;
  /** Analysed terms (stems, compound parts, codes) separated by spaces, in text order. */
  terms: string;
  term_count: number;
  /** Float32 little-endian vector, or null when no embedding model is configured. */
  embedding: Uint8Array | null;
  embedding_model: string | null;
  created_at: string;
  /** PostgreSQL only: the terms as a tsvector (positions carry the term frequency). */
  tsv: Generated<string>;
}

export interface RagTermsTable {
  collection_id: string;
  term: string;
  chunk_count: number;
}

export interface Database {
  api_keys: ApiKeysTable;
  usage_records: UsageRecordsTable;
  users: UsersTable;
  identities: IdentitiesTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
  chats: ChatsTable;
  chat_messages: ChatMessagesTable;
  agreement_acceptances: AgreementAcceptancesTable;
  node_models: NodeModelsTable;
  node_energy: NodeEnergyTable;
  chat_keys: ChatKeysTable;
  templates: TemplatesTable;
  template_versions: TemplateVersionsTable;
  lti_platforms: LtiPlatformsTable;
  lti_deployments: LtiDeploymentsTable;
  lti_tool_keys: LtiToolKeysTable;
  lti_login_states: LtiLoginStatesTable;
  lti_nonces: LtiNoncesTable;
  lti_contexts: LtiContextsTable;
  collections: CollectionsTable;
  collection_documents: CollectionDocumentsTable;
  rag_chunks: RagChunksTable;
  rag_terms: RagTermsTable;
}

export type DatabaseDialect = 'sqlite' | 'postgres';

export function dialectOfUrl(url: string): DatabaseDialect {
  return /^postgres(ql)?:\/\//i.test(url) ? 'postgres' : 'sqlite';
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- used by migrations, which see Kysely<any>
export function dialectOf(db: Kysely<any>): DatabaseDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

const SQLITE_BUSY_TIMEOUT_MS = 5000;

function openSqlite(path: string): BetterSqlite3.Database {
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) mkdirSync(dirname(resolve(path)), { recursive: true });
  const sqlite = new BetterSqlite3(inMemory ? ':memory:' : path);
  if (!inMemory) sqlite.pragma('journal_mode = WAL');
  // NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the
  // last transactions, which is the right trade for usage records written every second.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  sqlite.pragma('foreign_keys = ON');
  // Deleted rows are overwritten with zeros, so an erased user's data is not left in freed
  // pages of the file (docs/security.md, "Erasure at rest"); costs extra writes on deletes only.
  sqlite.pragma('secure_delete = ON');
  return sqlite;
}

const PG_INT8_OID = 20;

function openPostgres(url: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    // int8 (COUNT(*), bigint ids) arrives as text by default; our values stay far below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === PG_INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its connection must not crash the process; the next query that
  // needs a connection reports the failure to its caller.
  pool.on('error', () => {});
  return pool;
}

/**
 * A Kysely instance for `url`: `postgres://` / `postgresql://` URLs use a pg Pool (libpq
 * parameters such as `?options=-c search_path=flexi` work), anything else is a SQLite file
 * path (its folder is created) or `:memory:`.
 */
export function createKysely(url: string): Kysely<Database> {
  if (dialectOfUrl(url) === 'postgres') {
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool: openPostgres(url) }) });
  }
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: openSqlite(url) }) });
}

/** The current time as stored in the database. */
export function toTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}
