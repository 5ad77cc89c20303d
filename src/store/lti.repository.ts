import type { Kysely } from 'kysely';
import { randomId } from '../lib/ids.js';
import type { Database } from './database.js';

export interface LtiPlatformRecord {
  id: string;
  name: string;
  issuer: string;
  clientId: string;
  authUrl: string;
  jwksUrl: string;
  tokenUrl: string;
  createdAt: string;
  deploymentIds: string[];
}

export type NewLtiPlatform = Omit<LtiPlatformRecord, 'id' | 'deploymentIds'> & { deploymentIds: readonly string[] };

export interface LtiToolKeyRecord {
  kid: string;
  publicJwk: string;
  privateJwkEncrypted: string;
  createdAt: string;
  retiredAt: string | null;
  expiresAt: string | null;
}

export interface LtiLoginStateRecord {
  stateHash: string;
  browserHash: string;
  nonce: string;
  platformId: string;
  loginParams: Record<string, string>;
  createdAt: string;
  expiresAt: string;
}

export interface LtiContextRecord {
  platformId: string;
  contextId: string;
  groupId: string;
  title: string | null;
  membershipsUrl: string | null;
  createdAt: string;
  syncedAt: string | null;
}

/** LTI 1.3 tool state: platforms, deployments, tool keys, login states, nonces, course links. */
export class LtiRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async createPlatform(input: NewLtiPlatform): Promise<LtiPlatformRecord> {
    const id = randomId(12);
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('lti_platforms').values({
        id, name: input.name, issuer: input.issuer, client_id: input.clientId, auth_url: input.authUrl, jwks_url: input.jwksUrl,
        token_url: input.tokenUrl, created_at: input.createdAt,
      }).execute();
      for (const deploymentId of new Set(input.deploymentIds)) {
        await trx.insertInto('lti_deployments').values({ platform_id: id, deployment_id: deploymentId, created_at: input.createdAt }).execute();
      }
    });
    return { id, ...input, deploymentIds: [...new Set(input.deploymentIds)] };
  }

  async addDeployment(platformId: string, deploymentId: string, at: string): Promise<void> {
    await this.db.insertInto('lti_deployments').values({ platform_id: platformId, deployment_id: deploymentId, created_at: at })
      .onConflict((oc) => oc.columns(['platform_id', 'deployment_id']).doNothing()).execute();
  }

  async hasDeployment(platformId: string, deploymentId: string): Promise<boolean> {
    const row = await this.db.selectFrom('lti_deployments').select('deployment_id')
      .where('platform_id', '=', platformId).where('deployment_id', '=', deploymentId).executeTakeFirst();
    return row !== undefined;
  }

  async listPlatforms(): Promise<LtiPlatformRecord[]> {
    const rows = await this.db.selectFrom('lti_platforms').selectAll().orderBy('name').orderBy('created_at').execute();
    const deployments = await this.db.selectFrom('lti_deployments').select(['platform_id', 'deployment_id']).orderBy('created_at').orderBy('deployment_id').execute();
    return rows.map((row) => ({
      id: row.id, name: row.name, issuer: row.issuer, clientId: row.client_id, authUrl: row.auth_url, jwksUrl: row.jwks_url,
      tokenUrl: row.token_url, createdAt: row.created_at,
      deploymentIds: deployments.filter((d) => d.platform_id === row.id).map((d) => d.deployment_id),
    }));
  }

  async deletePlatform(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // Explicit rather than relying on cascades, which SQLite applies only with foreign_keys on.
      for (const table of ['lti_contexts', 'lti_nonces', 'lti_login_states', 'lti_deployments'] as const) {
        await trx.deleteFrom(table).where('platform_id', '=', id).execute();
      }
      const result = await trx.deleteFrom('lti_platforms').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async insertKey(key: LtiToolKeyRecord): Promise<void> {
    await this.db.insertInto('lti_tool_keys').values({
      id: key.kid, public_jwk: key.publicJwk, private_jwk_encrypted: key.privateJwkEncrypted, created_at: key.createdAt,
      retired_at: key.retiredAt, expires_at: key.expiresAt,
    }).execute();
  }

  /** Newest first. */
  async listKeys(): Promise<LtiToolKeyRecord[]> {
    const rows = await this.db.selectFrom('lti_tool_keys').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
    return rows.map((r) => ({
      kid: r.id, publicJwk: r.public_jwk, privateJwkEncrypted: r.private_jwk_encrypted, createdAt: r.created_at, retiredAt: r.retired_at, expiresAt: r.expires_at,
    }));
  }

  /** Retires every active key but `keepKid`; they stay published until `expiresAt`. */
  async retireKeysExcept(keepKid: string, at: string, expiresAt: string): Promise<number> {
    const result = await this.db.updateTable('lti_tool_keys').set({ retired_at: at, expires_at: expiresAt })
      .where('id', '!=', keepKid).where('retired_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async deleteExpiredKeys(now: string): Promise<number> {
    const result = await this.db.deleteFrom('lti_tool_keys').where('expires_at', 'is not', null).where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertLoginState(state: LtiLoginStateRecord): Promise<void> {
    await this.db.insertInto('lti_login_states').values({
      state_hash: state.stateHash, browser_hash: state.browserHash, nonce: state.nonce, platform_id: state.platformId,
      login_params: JSON.stringify(state.loginParams), created_at: state.createdAt, expires_at: state.expiresAt,
    }).execute();
  }

  /** Reads and deletes a login state: each state is good for one launch, even when two arrive at once. */
  async takeLoginState(stateHash: string): Promise<LtiLoginStateRecord | undefined> {
    const row = await this.db.selectFrom('lti_login_states').selectAll().where('state_hash', '=', stateHash).executeTakeFirst();
    if (!row) return undefined;
    const deleted = await this.db.deleteFrom('lti_login_states').where('state_hash', '=', stateHash).executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) return undefined;
    return {
      stateHash: row.state_hash, browserHash: row.browser_hash, nonce: row.nonce, platformId: row.platform_id,
      loginParams: JSON.parse(row.login_params) as Record<string, string>, createdAt: row.created_at, expiresAt: row.expires_at,
    };
  }

  /** Records a nonce; false when the platform had used it before (a replay). */
  async useNonce(platformId: string, nonce: string, expiresAt: string): Promise<boolean> {
    const result = await this.db.insertInto('lti_nonces').values({ platform_id: platformId, nonce, expires_at: expiresAt })
      .onConflict((oc) => oc.columns(['platform_id', 'nonce']).doNothing()).executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Drops login states and nonces past their expiry. */
  async deleteExpired(now: string): Promise<void> {
    await this.db.deleteFrom('lti_login_states').where('expires_at', '<=', now).execute();
    await this.db.deleteFrom('lti_nonces').where('expires_at', '<=', now).execute();
  }

  async findContext(platformId: string, contextId: string): Promise<LtiContextRecord | undefined> {
    const row = await this.db.selectFrom('lti_contexts').selectAll().where('platform_id', '=', platformId).where('context_id', '=', contextId).executeTakeFirst();
    return row && toContext(row);
  }

  async insertContext(context: LtiContextRecord): Promise<void> {
    await this.db.insertInto('lti_contexts').values({
      platform_id: context.platformId, context_id: context.contextId, group_id: context.groupId, title: context.title,
      memberships_url: context.membershipsUrl, created_at: context.createdAt, synced_at: context.syncedAt,
    }).execute();
  }

  async updateContext(platformId: string, contextId: string, changes: { title?: string | null; membershipsUrl?: string | null; syncedAt?: string }): Promise<void> {
    const set: Partial<Database['lti_contexts']> = {};
    if (changes.title !== undefined) set.title = changes.title;
    if (changes.membershipsUrl !== undefined) set.memberships_url = changes.membershipsUrl;
    if (changes.syncedAt !== undefined) set.synced_at = changes.syncedAt;
    if (Object.keys(set).length === 0) return;
    await this.db.updateTable('lti_contexts').set(set).where('platform_id', '=', platformId).where('context_id', '=', contextId).execute();
  }

  async listContexts(platformId?: string): Promise<LtiContextRecord[]> {
    let query = this.db.selectFrom('lti_contexts').selectAll();
    if (platformId !== undefined) query = query.where('platform_id', '=', platformId);
    return (await query.orderBy('created_at').orderBy('context_id').execute()).map(toContext);
  }

  /** Members of a group who came from `provider` (`lti:<issuer>`), with their platform user id. */
  async listLinkedMembers(groupId: string, provider: string): Promise<{ userId: string; subject: string }[]> {
    const rows = await this.db.selectFrom('group_members')
      .innerJoin('identities', 'identities.user_id', 'group_members.user_id')
      .select(['group_members.user_id', 'identities.subject'])
      .where('group_members.group_id', '=', groupId).where('identities.provider', '=', provider)
      .execute();
    return rows.map((r) => ({ userId: r.user_id, subject: r.subject }));
  }
}

function toContext(row: Database['lti_contexts']): LtiContextRecord {
  return {
    platformId: row.platform_id, contextId: row.context_id, groupId: row.group_id, title: row.title, membershipsUrl: row.memberships_url,
    createdAt: row.created_at, syncedAt: row.synced_at,
  };
}
