import type { Kysely } from 'kysely';
import type { Database } from './database.js';

/** A model a node listed, and when it last did. */
export interface NodeModelRecord {
  node: string;
  /** Canonical `name:tag`. */
  model: string;
  lastSeenAt: string;
}

/**
 * The models each node served when it last answered (`node_models`). Written when a node's
 * listing changes, read once at start: the registry's memory of what a node that is down now
 * would serve.
 */
export class NodeModelRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async listAll(): Promise<NodeModelRecord[]> {
    const rows = await this.db.selectFrom('node_models').selectAll().orderBy('node_name').orderBy('model_name').execute();
    return rows.map((row) => ({ node: row.node_name, model: row.model_name, lastSeenAt: row.last_seen_at }));
  }

  /** Makes `models` the node's whole list (one transaction: a reader never sees half of it). */
  async replace(node: string, models: readonly string[], seenAt: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('node_models').where('node_name', '=', node).execute();
      if (models.length === 0) return;
      await trx.insertInto('node_models')
        .values([...new Set(models)].map((model) => ({ node_name: node, model_name: model, last_seen_at: seenAt })))
        .execute();
    });
  }
}

/** The same in this process only: a gateway without a database remembers until it exits. */
export class MemoryNodeModelRepository {
  private readonly rows = new Map<string, NodeModelRecord[]>();

  listAll(): Promise<NodeModelRecord[]> {
    return Promise.resolve([...this.rows.values()].flat());
  }

  replace(node: string, models: readonly string[], seenAt: string): Promise<void> {
    this.rows.set(node, [...new Set(models)].map((model) => ({ node, model, lastSeenAt: seenAt })));
    return Promise.resolve();
  }
}
