import type { LeaderLock } from '../../store/leader-lock.js';

export interface PreloadClaimOptions {
  /** The cluster's leader lock (Redis, PostgreSQL or local): a claim is one more lock in it. */
  lock: LeaderLock;
  /** This replica (`cluster.replica_id`). */
  owner: string;
  /** How long a claim may be held: the preload's own time limit, after which it was given up anyway. */
  ttlMs: number;
}

/** The lock name of one preload: a node and a model, so preloads of different pairs never wait on each other. */
export function preloadClaimName(node: string, model: string): string {
  return `preload:${node}/${model}`;
}

/**
 * The scheduler's preload hook for several replicas: a preload of a model onto a node is sent
 * only by the replica that claims the pair `(node, model)` in the leader lock, held while the
 * load runs and given back when it ends. A replica that finds the pair claimed sends nothing and
 * reports the preload as `'skipped'` (its scheduler keeps the model off that node until its node
 * probe sees it resident), so the node never gets two loads of one model at once.
 *
 * A claim per pair rather than one `preload` leader: every replica's scheduler sees only its own
 * requests, so the replica whose requests make a model busy is the one that knows a replica is
 * needed; a single leader would never preload a model busy only on its followers. The claim goes
 * through `LeaderLock`, so it works the same over Redis, PostgreSQL (an advisory lock in the
 * lock's session) and in one process. A lock that fails (Redis down) means no preload: it is an
 * optimisation, and sending it unclaimed could double a load.
 */
export function claimedPreloader(
  preload: (node: string, model: string) => Promise<void>, options: PreloadClaimOptions,
): (node: string, model: string) => Promise<void | 'skipped'> {
  return async (node, model) => {
    const name = preloadClaimName(node, model);
    const token = await options.lock.acquire(name, options.owner, options.ttlMs);
    if (token === undefined) return 'skipped';
    try {
      await preload(node, model);
    } finally {
      await options.lock.release(name, options.owner).catch(() => undefined);
    }
  };
}
