import type { Kysely, Migration } from 'kysely';

// Migrations take Kysely<any>: they must keep working when the table types move on.
/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * LTI 1.3 tool (docs/lti.md): the platforms (LMS registrations) and their deployments, the tool's
 * own signing keys, the one-time login states and nonces of launches, and the course link
 * (platform context → Flexi group). The platform user → Flexi user link is a row of `identities`
 * (provider `lti:<issuer>`), so export and erasure cover it like any sign-on identity.
 */
export const ltiMigration: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('lti_platforms')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      // Moodle: its wwwroot. One issuer may hold several registrations, told apart by client id.
      .addColumn('issuer', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('auth_url', 'text', (c) => c.notNull())
      .addColumn('jwks_url', 'text', (c) => c.notNull())
      .addColumn('token_url', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('lti_platforms_issuer_client_id_key', ['issuer', 'client_id'])
      .execute();

    await db.schema
      .createTable('lti_deployments')
      .addColumn('platform_id', 'text', (c) => c.notNull().references('lti_platforms.id').onDelete('cascade'))
      .addColumn('deployment_id', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('lti_deployments_pkey', ['platform_id', 'deployment_id'])
      .execute();

    await db.schema
      .createTable('lti_tool_keys')
      // The JWK `kid`.
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      // AES-256-GCM under a key derived from `lti.key_secret` (docs/security.md); never the clear key.
      .addColumn('private_jwk_encrypted', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      // Set when a newer key took over: the key is still served in the JWKS until `expires_at`.
      .addColumn('retired_at', 'text')
      .addColumn('expires_at', 'text')
      .execute();

    await db.schema
      .createTable('lti_login_states')
      // SHA-256 of the `state` sent to the platform.
      .addColumn('state_hash', 'text', (c) => c.primaryKey())
      // SHA-256 of the browser cookie set at /lti/login: the launch must come from that browser.
      .addColumn('browser_hash', 'text', (c) => c.notNull())
      .addColumn('nonce', 'text', (c) => c.notNull())
      .addColumn('platform_id', 'text', (c) => c.notNull().references('lti_platforms.id').onDelete('cascade'))
      // JSON of the login request (for the "open in a new window" fallback).
      .addColumn('login_params', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('lti_login_states_expires_at_idx').on('lti_login_states').column('expires_at').execute();

    await db.schema
      .createTable('lti_nonces')
      .addColumn('platform_id', 'text', (c) => c.notNull().references('lti_platforms.id').onDelete('cascade'))
      .addColumn('nonce', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('lti_nonces_pkey', ['platform_id', 'nonce'])
      .execute();
    await db.schema.createIndex('lti_nonces_expires_at_idx').on('lti_nonces').column('expires_at').execute();

    await db.schema
      .createTable('lti_contexts')
      .addColumn('platform_id', 'text', (c) => c.notNull().references('lti_platforms.id').onDelete('cascade'))
      .addColumn('context_id', 'text', (c) => c.notNull())
      .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
      .addColumn('title', 'text')
      // NRPS `context_memberships_url` from the last launch; null when the platform offers no roster.
      .addColumn('memberships_url', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('synced_at', 'text')
      .addPrimaryKeyConstraint('lti_contexts_pkey', ['platform_id', 'context_id'])
      .execute();
    await db.schema.createIndex('lti_contexts_group_id_idx').on('lti_contexts').column('group_id').execute();
  },

  async down(db: Kysely<any>): Promise<void> {
    for (const table of ['lti_contexts', 'lti_nonces', 'lti_login_states', 'lti_tool_keys', 'lti_deployments', 'lti_platforms']) {
      await db.schema.dropTable(table).execute();
    }
  },
};
