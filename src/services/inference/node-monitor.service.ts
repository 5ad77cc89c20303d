import type { Backend } from '../../backends/backend.js';
import { toCanonicalModelName } from '../../core/model-name.js';
import type { ModelInfo } from '../../core/types.js';
import type { Scheduler } from '../../scheduler/scheduler.js';

export interface NodeMonitorOptions {
  scheduler: Scheduler;
  backends: readonly Backend[];
  probeIntervalMs: number;
  /** A probe slower than this counts as failed. */
  probeTimeoutMs?: number;
  onProbeError?: (node: string, error: unknown) => void;
}

/**
 * Feeds the scheduler what it cannot see itself: each node's health (probe), the models it
 * serves (from the registry's refresh) and the models resident in its memory (`/api/ps`, the
 * embedded engine's own state; OpenAI-type nodes are assumed to keep their models resident).
 */
export class NodeMonitor {
  private timer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;

  constructor(private readonly options: NodeMonitorOptions) {}

  /** Called by the registry after each refresh. */
  onNodeListed(node: string, models: readonly ModelInfo[] | undefined): void {
    if (!models) return;
    if (!this.options.backends.some((b) => b.name === node)) return;
    this.options.scheduler.updateNode(node, {
      models: models.map((m) => ({ name: toCanonicalModelName(m.name), sizeBytes: m.sizeBytes })),
    });
  }

  start(): void {
    void this.probeAll();
    this.timer = setInterval(() => void this.probeAll(), this.options.probeIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One round of probes (tests call it directly). */
  probeAll(): Promise<void> {
    this.probing ??= Promise.all(this.options.backends.map((backend) => this.probe(backend))).then(() => undefined).finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  private async probe(backend: Backend): Promise<void> {
    const timeoutMs = this.options.probeTimeoutMs ?? Math.max(1000, this.options.probeIntervalMs);
    let healthy = false;
    try {
      healthy = (await backend.health(AbortSignal.timeout(timeoutMs))).ok;
    } catch (error) {
      this.options.onProbeError?.(backend.name, error);
    }
    let resident;
    if (healthy && backend.type !== 'openai') {
      try {
        resident = (await backend.loadedModels(AbortSignal.timeout(timeoutMs)))
          .map((m) => ({ name: toCanonicalModelName(m.name), sizeBytes: m.sizeVramBytes || m.sizeBytes }));
      } catch (error) {
        this.options.onProbeError?.(backend.name, error);
      }
    }
    try {
      this.options.scheduler.updateNode(backend.name, resident ? { healthy, resident } : { healthy });
    } catch {
      // The node was removed meanwhile.
    }
  }
}
