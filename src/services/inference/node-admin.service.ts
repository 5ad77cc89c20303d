import type { Scheduler } from '../../scheduler/scheduler.js';
import type { SchedulerSnapshot } from '../../scheduler/scheduler-types.js';

/** What operators may do to the scheduler: look at it, drain and undrain nodes. */
export class NodeAdminService {
  constructor(private readonly scheduler: Scheduler) {}

  snapshot(): SchedulerSnapshot {
    return this.scheduler.snapshot();
  }

  /** No new requests go to the node; in-flight ones finish. */
  drain(node: string): void {
    this.scheduler.drain(node);
  }

  undrain(node: string): void {
    this.scheduler.undrain(node);
  }
}
