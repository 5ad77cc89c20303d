import { toCanonicalModelName } from '../../core/model-name.js';
import type { NodeModelRecord } from '../../store/node-model.repository.js';

/** Where the memory is kept: the store's `node_models`, or this process. */
export interface NodeModelStore {
  listAll(): Promise<readonly NodeModelRecord[]>;
  replace(node: string, models: readonly string[], seenAt: string): Promise<void>;
}

export interface NodeModelMemoryOptions {
  store: NodeModelStore;
  /** Names of the configured nodes; remembered rows of other (removed) nodes are ignored. */
  nodes: readonly string[];
  /** Models the config says a node serves (`nodes[].models`), known before the node ever answered. */
  declared?: ReadonlyMap<string, readonly string[]>;
  onError?: (error: unknown) => void;
  /**
   * Several replicas: whether this one writes the store now (it leads the `discovery` job).
   * Every replica still lists the nodes and remembers in-process; one writes, so replicas never
   * race on a node's rows. Absent: always.
   */
  isWriter?: () => boolean;
}

function sameModels(a: ReadonlySet<string> | undefined, b: ReadonlySet<string>): boolean {
  return a !== undefined && a.size === b.size && [...b].every((m) => a.has(m));
}

/**
 * Which models each configured node served when it last answered, kept across restarts. The
 * registry drops a node's models while the node does not answer; this memory lets it tell a
 * client "the node serving this model is unreachable" (503, retry) instead of "no such model"
 * (404, give up).
 */
export class NodeModelMemory {
  private readonly byNode = new Map<string, Set<string>>();
  /** What the store holds per node, as far as this process knows (read at load, then written here). */
  private readonly stored = new Map<string, Set<string>>();
  private loading: Promise<void> | undefined;

  constructor(private readonly options: NodeModelMemoryOptions) {
    for (const [node, models] of options.declared ?? []) this.byNode.set(node, new Set(models.map(toCanonicalModelName)));
  }

  /** Reads the stored memory once; a store that fails leaves only what the config declares. */
  load(): Promise<void> {
    this.loading ??= this.options.store.listAll().then((rows) => {
      for (const row of rows) {
        if (!this.options.nodes.includes(row.node)) continue;
        this.models(row.node).add(toCanonicalModelName(row.model));
        this.storedModels(row.node).add(toCanonicalModelName(row.model));
      }
    }, (error: unknown) => this.options.onError?.(error));
    return this.loading;
  }

  /**
   * A node's fresh listing replaces what it is remembered for; written by the writer only, and
   * only when it differs from what the store holds.
   */
  async remember(node: string, models: readonly string[], seenAt: Date): Promise<void> {
    await this.load();
    const next = new Set(models.map(toCanonicalModelName));
    this.byNode.set(node, next);
    if (this.options.isWriter?.() === false) {
      // Another replica writes meanwhile: what the store holds is not known here any more, so the
      // first listing after this one starts leading is written whatever it is.
      this.stored.delete(node);
      return;
    }
    if (sameModels(this.stored.get(node), next)) return;
    try {
      await this.options.store.replace(node, [...next].sort(), seenAt.toISOString());
      this.stored.set(node, next);
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  /** Configured nodes that served (or are declared to serve) the canonical model name. */
  nodesServing(model: string): string[] {
    return [...this.byNode].filter(([, models]) => models.has(model)).map(([node]) => node);
  }

  /** Everything remembered for a node (start-up report). */
  modelsOf(node: string): string[] {
    return [...(this.byNode.get(node) ?? [])].sort();
  }

  private models(node: string): Set<string> {
    let set = this.byNode.get(node);
    if (!set) this.byNode.set(node, (set = new Set()));
    return set;
  }

  private storedModels(node: string): Set<string> {
    let set = this.stored.get(node);
    if (!set) this.stored.set(node, (set = new Set()));
    return set;
  }
}
