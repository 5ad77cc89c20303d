import { sql, type Kysely } from 'kysely';
import { AgreementRepository } from './agreement.repository.js';
import { ApiKeyRepository } from './api-key.repository.js';
import { AuditRepository } from './audit.repository.js';
import { ChatRepository } from './chat.repository.js';
import { ChatKeyRepository } from './chat-key.repository.js';
import { CollectionRepository } from './collection.repository.js';
import { createKysely, dialectOfUrl, type Database, type DatabaseDialect } from './database.js';
import { EnergyRepository } from './energy.repository.js';
import { GroupRepository } from './group.repository.js';
import { LtiRepository } from './lti.repository.js';
import { migrateToLatest } from './migrator.js';
import { NodeModelRepository } from './node-model.repository.js';
import { PersonalDataRepository } from './personal-data.repository.js';
import { RagIndexRepository } from './rag-index.repository.js';
import { SessionRepository } from './session.repository.js';
import { TemplateRepository } from './template.repository.js';
import { UsageRepository } from './usage.repository.js';
import { UserRepository } from './user.repository.js';

/** The database and its repositories; the one handle services receive. */
export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: DatabaseDialect;
  readonly apiKeys: ApiKeyRepository;
  readonly usage: UsageRepository;
  readonly users: UserRepository;
  readonly groups: GroupRepository;
  readonly sessions: SessionRepository;
  readonly audit: AuditRepository;
  readonly chats: ChatRepository;
  readonly agreements: AgreementRepository;
  /** What each node served when it last answered. */
  readonly nodeModels: NodeModelRepository;
  /** Export, erasure and retention over every class of personal data (services/privacy). */
  readonly personalData: PersonalDataRepository;
  /** Measured node energy and the energy of usage records. */
  readonly energy: EnergyRepository;
  /** Wrapped data keys of encrypted chats. */
  readonly chatKeys: ChatKeyRepository;
  /** Prompt templates (`template:<name>`) and their versions. */
  readonly templates: TemplateRepository;
  /** LTI 1.3 platforms, deployments, tool keys, login states, nonces, course links. */
  readonly lti: LtiRepository;
  /** Course collections (course bots) and their documents. */
  readonly collections: CollectionRepository;
  /** Course bots' retrieval index: chunks, full text, term counts, vectors (services/rag). */
  readonly ragIndex: RagIndexRepository;
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** One round trip to the database (`/readyz`); throws when it cannot answer. */
  ping(): Promise<void>;
  /** Closes the SQLite file or the PostgreSQL pool. */
  close(): Promise<void>;
}

/**
 * Opens the database named by `url` (`postgres://…`, `postgresql://…`, a SQLite file path or
 * `:memory:`). Does not migrate: callers run `store.migrate()` once at start.
 */
export async function openDatabase(url: string): Promise<Store> {
  const db = createKysely(url);
  const dialect = dialectOfUrl(url);
  if (dialect === 'postgres') {
    // Fail here with the connection error instead of on the first request.
    await db.connection().execute(async () => {});
  }
  let closed = false;
  return {
    db,
    dialect,
    apiKeys: new ApiKeyRepository(db),
    usage: new UsageRepository(db),
    users: new UserRepository(db),
    groups: new GroupRepository(db),
    sessions: new SessionRepository(db),
    audit: new AuditRepository(db),
    chats: new ChatRepository(db),
    agreements: new AgreementRepository(db),
    nodeModels: new NodeModelRepository(db),
    personalData: new PersonalDataRepository(db),
    energy: new EnergyRepository(db),
    chatKeys: new ChatKeyRepository(db),
    templates: new TemplateRepository(db),
    lti: new LtiRepository(db),
    collections: new CollectionRepository(db),
    ragIndex: new RagIndexRepository(db),
    migrate: () => migrateToLatest(db),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}
