import type { Backend } from '../../backends/backend.js';
import { FlexiError } from '../../core/errors.js';
import type { Lease } from '../../scheduler/lease.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { AcquireArgs, Dispatcher, NodeLease } from './dispatcher.js';
import type { SharedSlotBudget } from './shared-slot-budget.js';

/** How often a waiting request reports its queue position (UI, keep-alive comments). */
const POSITION_INTERVAL_MS = 1000;

/** A preloaded model stays as long as Ollama keeps a model after a request by default (5 min). */
const PRELOAD_KEEP_ALIVE_S = 300;

/**
 * The scheduler's node I/O for `preload_replicas`: load a model on a node without a request
 * (Ollama's empty generate; the embedded engine loads it). Gives up after `timeoutMs`.
 */
export function backendPreloader(backends: readonly Backend[], timeoutMs: number): (node: string, model: string) => Promise<void> {
  const byName = new Map(backends.map((b) => [b.name, b]));
  return async (node, model) => {
    const backend = byName.get(node);
    if (!backend) throw new FlexiError('backend_unavailable', `Node '${node}' is not available.`);
    await backend.setResidency(model, PRELOAD_KEEP_ALIVE_S, AbortSignal.timeout(timeoutMs));
  };
}

/**
 * The scheduler behind the gateway's Dispatcher seam: fair queueing per user inside priority
 * classes, deadlines, placement on resident/least-loaded nodes, circuit breakers and drain.
 */
export class SchedulerDispatcher implements Dispatcher {
  private readonly backends = new Map<string, Backend>();

  /**
   * `budget`: several replicas share the nodes' slots (the scheduler was built with `sharedSlots`).
   * `queueNoticeDelayMs` (`cluster.queue_notice_delay_ms`): the first queue position is reported
   * only after the request waited this long. A streamed reply commits its headers with the first
   * notice, after which an ingress can no longer retry the request on another replica.
   */
  constructor(
    private readonly scheduler: Scheduler, backends: readonly Backend[], private readonly budget?: SharedSlotBudget,
    private readonly queueNoticeDelayMs = 0,
  ) {
    for (const backend of backends) this.backends.set(backend.name, backend);
  }

  async acquire(args: AcquireArgs): Promise<NodeLease> {
    const subject = args.requester.subject;
    const ticket = this.scheduler.enqueue({
      model: args.model.name,
      userId: args.requester.subject,
      priorityClass: args.requester.priorityClass,
      weight: args.requester.weight,
      maxInFlight: args.requester.maxConcurrent,
      signal: args.signal,
    });
    let timer: NodeJS.Timeout | undefined;
    let delay: NodeJS.Timeout | undefined;
    if (args.onWaiting) {
      const report = () => {
        const position = ticket.position();
        if (position) args.onWaiting!({ position: position.ahead + 1, estimatedWaitMs: position.estimatedWaitMs });
      };
      const startReports = () => {
        timer = setInterval(report, POSITION_INTERVAL_MS);
        report();
      };
      // A first report right away when the request had to queue (the lease is not granted
      // synchronously; once granted, `position()` is undefined and nothing is reported).
      if (this.queueNoticeDelayMs > 0) delay = setTimeout(startReports, this.queueNoticeDelayMs);
      else queueMicrotask(startReports);
    }
    // After enqueue: a lease granted at once never waited for a shared slot.
    const doneWaiting = this.budget?.noteWaiting(args.model.name, subject);
    try {
      return this.wrap(await ticket.lease, subject);
    } finally {
      doneWaiting?.();
      if (delay) clearTimeout(delay);
      if (timer) clearInterval(timer);
    }
  }

  private wrap(lease: Lease, subject: string): NodeLease {
    const budget = this.budget;
    const doneRunning = budget?.noteRunning(lease.model, subject);
    // With a shared budget the slot goes back to it before the scheduler frees it (see SharedSlotBudget.giveBack);
    // a lease its client's abort already ended may have had its slot reused here: only a surplus goes back.
    const end = (finish: () => void) => {
      if (budget && !lease.released) budget.giveBack(lease.node, lease.model);
      finish();
      if (budget) budget.settle(lease.node, lease.model);
      doneRunning?.();
    };
    const backend = this.backends.get(lease.node);
    if (!backend) {
      end(() => lease.release({ ok: true }));
      throw new FlexiError('backend_unavailable', `Node '${lease.node}' is not available.`);
    }
    return {
      backend,
      queueMs: lease.queueMs,
      release: (outcome) => end(() => lease.release({ ok: outcome.ok, usage: outcome.usage })),
      firstToken: () => lease.firstToken(),
      retryElsewhere: async () => {
        let next: Promise<Lease | undefined> | undefined;
        end(() => {
          next = lease.fail(true);
        });
        const doneWaiting = budget?.noteWaiting(lease.model, subject);
        try {
          const retried = await next;
          return retried ? this.wrap(retried, subject) : undefined;
        } finally {
          doneWaiting?.();
        }
      },
    };
  }

  inFlight(): ReadonlyMap<string, number> {
    const counts = new Map<string, number>();
    for (const node of this.scheduler.snapshot().nodes) counts.set(node.name, node.inFlight);
    return counts;
  }
}
