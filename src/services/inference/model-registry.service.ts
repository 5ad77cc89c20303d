import type { Backend } from '../../backends/backend.js';
import { nodeUrlHint } from '../../config/warnings.js';
import { FlexiError } from '../../core/errors.js';
import { toCanonicalModelName } from '../../core/model-name.js';
import type { ModelInfo } from '../../core/types.js';
import type { NodeModelMemory } from './node-model-memory.js';

export interface ModelEntry {
  /** Canonical `name:tag`. */
  name: string;
  info: ModelInfo;
  /** Nodes that serve it, in config order. */
  nodes: Backend[];
  /** Alias names that point to this model. */
  aliases: string[];
}

export interface ModelRegistryOptions {
  backends: readonly Backend[];
  /** alias → target model name (both any form; canonicalised here). */
  aliases?: Readonly<Record<string, string>>;
  /** Per-node restriction to listed models (config `nodes[].models`). */
  nodeModels?: ReadonlyMap<string, readonly string[]>;
  /** What each node served when it last answered: a model of a node that is down now is reported as unreachable, not unknown. */
  memory: NodeModelMemory;
  /** Node name → base URL, named in `node_unreachable` messages. */
  nodeUrls?: ReadonlyMap<string, string>;
  /** Retry-After of `node_unreachable`: how soon the next listing may find the node back. */
  retryAfterSeconds?: number;
  /** How long one node's listing may take before it counts as failed. */
  listTimeoutMs?: number;
  /** Minimum gap between on-demand refreshes triggered by unknown model names. */
  minOnDemandRefreshMs?: number;
  onNodeError?: (node: string, error: unknown) => void;
  /** Each node's listing after a refresh (undefined when the node failed to answer). */
  onNodeListed?: (node: string, models: readonly ModelInfo[] | undefined) => void;
}

/**
 * Which models exist and which nodes serve them. Filled from the nodes themselves
 * (`/api/tags`, `/v1/models`, the embedded model folder) and refreshed periodically; a name it
 * does not know triggers one rate-limited refresh before the request is refused: with 503
 * `node_unreachable` when a node that served the model before does not answer now, else 404.
 */
export class ModelRegistry {
  private entries = new Map<string, ModelEntry>();
  private readonly aliases = new Map<string, string>();
  private lastRefreshAt = 0;
  private refreshing: Promise<void> | undefined;
  private readonly nodeErrors = new Map<string, string>();

  constructor(private readonly options: ModelRegistryOptions) {
    for (const [alias, target] of Object.entries(options.aliases ?? {})) {
      this.aliases.set(toCanonicalModelName(alias), toCanonicalModelName(target));
    }
  }

  get backends(): readonly Backend[] {
    return this.options.backends;
  }

  /**
   * The time scale every node shares when all of them are `flexi sim`s running at one speed
   * (each says so in `x-sim-speed`); undefined when any node is real or speeds differ, so that a
   * load test never scales a real node's times.
   */
  simSpeed(): number | undefined {
    let speed: number | undefined;
    for (const backend of this.options.backends) {
      const own = backend.simSpeed();
      if (own === undefined || (speed !== undefined && own !== speed)) return undefined;
      speed = own;
    }
    return speed;
  }

  /** Lists every node's models; a node that fails keeps its previous models out until it answers. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const timeoutMs = this.options.listTimeoutMs ?? 5000;
    await this.options.memory.load();
    const listings = await Promise.all(this.options.backends.map(async (backend) => {
      try {
        const models = await backend.listModels(AbortSignal.timeout(timeoutMs));
        this.nodeErrors.delete(backend.name);
        this.options.onNodeListed?.(backend.name, models);
        return { backend, models };
      } catch (error) {
        this.nodeErrors.set(backend.name, this.describeListingError(backend, error));
        this.options.onNodeError?.(backend.name, error);
        this.options.onNodeListed?.(backend.name, undefined);
        return { backend, models: [] as ModelInfo[] };
      }
    }));
    const next = new Map<string, ModelEntry>();
    for (const { backend, models } of listings) {
      const allowed = this.options.nodeModels?.get(backend.name)?.map(toCanonicalModelName);
      for (const info of models) {
        const name = toCanonicalModelName(info.name);
        if (allowed && !allowed.includes(name)) continue;
        const entry = next.get(name);
        if (entry) entry.nodes.push(backend);
        else next.set(name, { name, info: { ...info, name }, nodes: [backend], aliases: [] });
      }
    }
    for (const [alias, target] of this.aliases) next.get(target)?.aliases.push(alias);
    this.entries = next;
    this.lastRefreshAt = Date.now();
    await Promise.all(listings.filter((l) => !this.nodeErrors.has(l.backend.name)).map(({ backend }) =>
      this.options.memory.remember(backend.name, [...next.values()].filter((e) => e.nodes.includes(backend)).map((e) => e.name), new Date(this.lastRefreshAt))));
  }

  /** Canonical name after alias resolution (no existence check). */
  canonicalName(requested: string): string {
    const canonical = toCanonicalModelName(requested);
    return this.aliases.get(canonical) ?? canonical;
  }

  find(requested: string): ModelEntry | undefined {
    return this.entries.get(this.canonicalName(requested));
  }

  /** The entry for a model, refreshing once if unknown; throws model_not_found. */
  async get(requested: string, param = 'model'): Promise<ModelEntry> {
    const found = this.find(requested);
    if (found) return found;
    if (Date.now() - this.lastRefreshAt >= (this.options.minOnDemandRefreshMs ?? 2000)) {
      await this.refresh();
      const again = this.find(requested);
      if (again) return again;
    }
    const unreachable = this.unreachableNodesFor(this.canonicalName(requested));
    if (unreachable.length > 0) throw this.nodeUnreachable(requested, unreachable);
    throw new FlexiError('model_not_found', `The model '${requested}' does not exist or no node serves it. GET /v1/models lists the available models.`, { param });
  }

  list(): ModelEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Aliases as their own entries, for model listings. */
  aliasEntries(): { alias: string; entry: ModelEntry }[] {
    const out: { alias: string; entry: ModelEntry }[] = [];
    for (const [alias, target] of this.aliases) {
      const entry = this.entries.get(target);
      if (entry && !this.entries.has(alias)) out.push({ alias, entry });
    }
    return out;
  }

  nodeError(node: string): string | undefined {
    return this.nodeErrors.get(node);
  }

  /** The models a node serves now (canonical names, sorted). */
  modelsOf(node: string): string[] {
    return this.list().filter((e) => e.nodes.some((b) => b.name === node)).map((e) => e.name);
  }

  /** The models a node served when it last answered, or the config declares for it. */
  rememberedModelsOf(node: string): string[] {
    return this.options.memory.modelsOf(node);
  }

  /** The cause as operators need it: a 404 from an `openai` node is usually its URL missing `/v1`. */
  private describeListingError(backend: Backend, error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    const url = this.options.nodeUrls?.get(backend.name);
    const hint = /\b404\b/.test(message) && url ? nodeUrlHint({ type: backend.type, url }) : undefined;
    return hint ? `${message} (${hint})` : message;
  }

  /**
   * Nodes that do not answer now although the model is theirs: remembered from an earlier
   * listing or declared in the config (`nodes[].models`). A model the config names only as an
   * alias target is charged to every node that does not answer: it was meant to exist.
   */
  private unreachableNodesFor(model: string): string[] {
    const down = (node: string) => this.nodeErrors.has(node);
    const remembered = this.options.memory.nodesServing(model).filter(down);
    if (remembered.length > 0) return remembered;
    if (![...this.aliases.values()].includes(model)) return [];
    return this.options.backends.map((b) => b.name).filter(down);
  }

  private nodeUnreachable(requested: string, nodes: readonly string[]): FlexiError {
    const described = nodes.map((node) => {
      const url = this.options.nodeUrls?.get(node);
      return `"${node}"${url ? ` (${url})` : ''}: ${this.nodeErrors.get(node) ?? 'no answer'}`;
    });
    const subject = nodes.length === 1 ? 'node' : 'nodes';
    return new FlexiError('node_unreachable',
      `The model '${requested}' is served by ${subject} ${described.join('; ')} — unreachable now. Retry later; operators: check the node (\`flexi nodes status\`).`,
      { param: 'model', retryAfterSeconds: this.options.retryAfterSeconds ?? 30 });
  }
}
