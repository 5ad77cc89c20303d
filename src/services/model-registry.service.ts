import type { Backend } from '../backends/backend.js';
import { FlexiError } from '../core/errors.js';
import { toCanonicalModelName } from '../core/model-name.js';
import type { ModelInfo } from '../core/types.js';

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
 * does not know triggers one rate-limited refresh before the request is refused with 404.
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
    const listings = await Promise.all(this.options.backends.map(async (backend) => {
      try {
        const models = await backend.listModels(AbortSignal.timeout(timeoutMs));
        this.nodeErrors.delete(backend.name);
        this.options.onNodeListed?.(backend.name, models);
        return { backend, models };
      } catch (error) {
        this.nodeErrors.set(backend.name, error instanceof Error ? error.message : String(error));
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
}
