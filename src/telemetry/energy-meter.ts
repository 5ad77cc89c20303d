import type { UsageEntry, UsageSink } from '../core/usage.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { GpuReading, GpuSample } from './gpu-sample.js';

/** A node's measured energy between two samples, once split between requests and idle. */
export interface NodeEnergyInterval {
  node: string;
  startMs: number;
  endMs: number;
  joules: number;
  /** The part no request was running for (or that went to requests already reported). */
  idleJoules: number;
  gpus: number;
}

/** Where settled intervals go (the gateway writes them to `node_energy`). */
export interface EnergyIntervalSink {
  record(interval: NodeEnergyInterval): void;
}

export interface EnergyMeterOptions {
  /** Where usage entries go once their energy is known (the usage recorder). */
  usage: UsageSink;
  intervals?: EnergyIntervalSink;
  /** Nodes with telemetry; requests on other nodes pass straight through. */
  nodes: readonly string[];
  /**
   * Longest a finished request's usage entry waits for the samples that cover it, and longest an interval
   * waits for requests still running in it; past it the interval is split by busy time (`energy.max_hold_ms`).
   */
  maxHoldMs: number;
  /** Cost of a prompt token relative to a generated one; `auto`: measured per model from time to first token and decode time. */
  prefillTokenWeight: number | 'auto';
  /**
   * Several replicas: whether this one reports the nodes' totals — the `node_energy` intervals and the idle
   * energy — which must be counted once (the leader of the `telemetry` job). Absent: always.
   */
  reportsNodeTotals?: () => boolean;
  clock?: Clock;
}

/** What the meter knows of a request on a node. */
interface Metered {
  id: string;
  node: string;
  startMs: number;
  joules: number;
  /** Set when it finished. */
  done?: { entry: UsageEntry; endMs: number; firstTokenMs: number; prefillWork: number; decodeWork: number; model: string };
}

interface NodeState {
  name: string;
  last?: GpuSample;
  /** Intervals measured but not yet split (a request that ran in them is still running). */
  pending: { startMs: number; endMs: number; joules: number; gpus: number }[];
  running: Map<string, Metered>;
  /** Finished requests whose end is not yet covered by a split interval. */
  finished: Metered[];
  settledUntilMs: number;
  /** Requests the other replicas ran here, as observed (time order); each stands for the time nearer to it than to its neighbours. */
  others: { atMs: number; count: number }[];
}

const INITIAL_PREFILL_WEIGHT = 0.1;
/** Observations of the other replicas kept per node beyond what pending intervals need (a node whose samples stopped). */
const MAX_OBSERVATIONS = 1000;
const WEIGHT_SMOOTHING = 0.1;

/**
 * Splits each node's measured GPU energy between the requests that ran on it, in proportion to the tokens each
 * processed in each interval: prompt tokens spread evenly over the time to first token, generated ones over the
 * rest, a prompt token weighted by its measured cost relative to a generated one. Energy while nothing ran is
 * idle. Every joule measured goes to exactly one request or to idle, so the parts always sum to the total.
 *
 * On the request path it costs a map insert at start and a list push at the end: the usage entry is held
 * (not awaited) until the samples covering it arrive, then handed to the usage recorder with `energyWh`.
 *
 * Several replicas share a node: each meters the same samples, but only its own requests. It learns how many
 * requests the others run there (`observeOtherReplicas`, from the shared slot budget once per telemetry round)
 * and gives its requests only their part of the busy energy: its own request time in the interval over its own
 * plus the others' (estimated from the observations). Time is busy when a request ran here or, by the
 * observations, elsewhere; only busy time is split, and only the replica reporting the node totals counts the
 * idle rest. So over all replicas, requests + idle add up to the measured energy: exactly when the observations
 * catch every change of the others' requests, otherwise within what one snapshot per telemetry round can tell.
 */
export class EnergyMeter implements UsageSink {
  private readonly clock: Clock;
  private readonly nodes = new Map<string, NodeState>();
  private readonly nodeOf = new Map<string, string>();
  private readonly prefillWeights = new Map<string, number>();
  private readonly joulesByModel = new Map<string, number>();
  private readonly joulesByNode = new Map<string, number>();
  private idleJoules = 0;
  private closed = false;

  constructor(private readonly options: EnergyMeterOptions) {
    this.clock = options.clock ?? systemClock;
    for (const node of options.nodes) this.nodes.set(node, { name: node, pending: [], running: new Map(), finished: [], settledUntilMs: 0, others: [] });
  }

  /** A request got a lease on `node` (again, after a retry elsewhere). */
  started(requestId: string, node: string): void {
    const previous = this.nodeOf.get(requestId);
    if (previous !== undefined) this.nodes.get(previous)?.running.delete(requestId);
    const state = this.nodes.get(node);
    if (!state || this.closed) return;
    this.nodeOf.set(requestId, node);
    state.running.set(requestId, { id: requestId, node, startMs: this.clock.now(), joules: 0 });
  }

  /** The request finished: its usage entry waits here until the samples that cover it arrived. */
  record(entry: UsageEntry): void {
    const node = this.nodeOf.get(entry.requestId);
    const state = node === undefined ? undefined : this.nodes.get(node);
    const metered = state?.running.get(entry.requestId);
    if (!state || !metered || this.closed) return this.options.usage.record(entry);
    this.nodeOf.delete(entry.requestId);
    state.running.delete(entry.requestId);
    const endMs = Math.max(metered.startMs, this.clock.now());
    // ttft is measured from arrival, the duration too: the decode phase is what follows the first token.
    const decodeMs = entry.ttftMs === undefined ? endMs - metered.startMs : Math.max(0, entry.durationMs - entry.ttftMs);
    const firstTokenMs = Math.min(endMs, Math.max(metered.startMs, endMs - decodeMs));
    const weight = this.prefillWeight(entry.model, firstTokenMs - metered.startMs, endMs - firstTokenMs, entry);
    metered.done = {
      entry, endMs, firstTokenMs, model: entry.model,
      prefillWork: entry.promptTokens * weight, decodeWork: entry.completionTokens,
    };
    state.finished.push(metered);
    this.settle(state);
  }

  /** A new sample of a node's GPUs (in time order; older or equal ones are ignored). */
  ingest(node: string, sample: GpuSample): void {
    const state = this.nodes.get(node);
    if (!state) return;
    const last = state.last;
    if (last && sample.atMs <= last.atMs) return;
    state.last = sample;
    if (!last) {
      state.settledUntilMs = Math.max(state.settledUntilMs, sample.atMs);
      return;
    }
    const joules = energyBetween(last, sample);
    state.pending.push({ startMs: last.atMs, endMs: sample.atMs, joules, gpus: sample.gpus.length });
    this.joulesByNode.set(node, (this.joulesByNode.get(node) ?? 0) + joules);
    this.settle(state);
  }

  /**
   * How many requests the other replicas run on each node now (slots they hold in the shared budget; nodes
   * not named run none). An observation stands for the time nearer to it than to the one before and the one
   * after: a snapshot taken at a random moment of a telemetry round is as likely to be early as late. Never called
   * with one replica: the meter then treats every request on its nodes as its own.
   */
  observeOtherReplicas(inFlight: ReadonlyMap<string, number>): void {
    const now = this.clock.now();
    for (const state of this.nodes.values()) {
      const others = state.others;
      const count = inFlight.get(state.name) ?? 0;
      if (others.length > 0 && others.at(-1)!.atMs >= now) others.pop();
      others.push({ atMs: now, count });
      // Drop what no interval still to split needs: an observation whose time ends before the settled end.
      let drop = 0;
      const endOf = (i: number) => (others[i]!.atMs + others[i + 1]!.atMs) / 2;
      while (drop + 1 < others.length && (endOf(drop) <= state.settledUntilMs || others.length - drop > MAX_OBSERVATIONS)) drop++;
      if (drop > 0) others.splice(0, drop);
    }
  }

  /** Forces what waited too long (call now and then; the scraper does on every round). */
  tick(): void {
    for (const state of this.nodes.values()) this.settle(state);
  }

  /** Hands every held entry to the usage recorder with the energy known so far (shutdown). */
  close(): void {
    this.closed = true;
    for (const state of this.nodes.values()) {
      this.settle(state, true);
      for (const metered of state.finished) this.release(metered);
      state.finished = [];
    }
  }

  /**
   * Hands every held usage entry on now with the energy known so far (before an erasure re-keys a user's
   * records: a record written after it would escape it). Intervals still to come go to the other requests or idle.
   */
  releaseHeld(): void {
    for (const state of this.nodes.values()) {
      for (const metered of state.finished) this.release(metered);
      state.finished = [];
    }
  }

  /** Joules attributed per model since start (`flexi_energy_joules_total{model}`), idle under `(idle)`. */
  energyByModel(): ReadonlyMap<string, number> {
    return new Map([...this.joulesByModel, ['(idle)', this.idleJoules]]);
  }

  /** Joules measured per node since start. */
  energyByNode(): ReadonlyMap<string, number> {
    return this.joulesByNode;
  }

  /** Requests whose usage entry is still held (tests, `/readyz`-style checks). */
  heldCount(): number {
    let held = 0;
    for (const state of this.nodes.values()) held += state.finished.length;
    return held;
  }

  private settle(state: NodeState, force = false): void {
    const now = this.clock.now();
    while (state.pending.length > 0) {
      const interval = state.pending[0]!;
      const blocked = [...state.running.values()].some((r) => r.startMs < interval.endMs);
      const overdue = now - interval.endMs > this.options.maxHoldMs;
      if (blocked && !overdue && !force) break;
      state.pending.shift();
      this.split(state, interval, blocked);
      state.settledUntilMs = interval.endMs;
    }
    const keep: Metered[] = [];
    for (const metered of state.finished) {
      const covered = metered.done!.endMs <= state.settledUntilMs;
      if (covered || force || now - metered.done!.endMs > this.options.maxHoldMs) this.release(metered);
      else keep.push(metered);
    }
    state.finished = keep;
  }

  /** One interval's energy to the requests in it, by weighted tokens (by busy time when some still run). */
  private split(state: NodeState, interval: NodeState['pending'][number], byTime: boolean): void {
    const { startMs: a, endMs: b } = interval;
    const shares: [Metered, number][] = [];
    for (const metered of [...state.finished, ...state.running.values()]) {
      const end = metered.done?.endMs ?? b;
      const overlapMs = Math.min(b, end) - Math.max(a, metered.startMs);
      const instant = metered.done && metered.done.endMs === metered.startMs && metered.startMs >= a && metered.startMs < b;
      if (overlapMs <= 0 && !instant) continue;
      const share = byTime || !metered.done ? Math.max(overlapMs, 0) : workIn(metered, a, b);
      shares.push([metered, share]);
    }
    let total = shares.reduce((sum, [, share]) => sum + share, 0);
    if (total <= 0 && shares.length > 0) {
      // Requests ran but processed no token here (a failure, a stall): split by time they were there.
      for (const entry of shares) entry[1] = Math.max(Math.min(b, entry[0].done?.endMs ?? b) - Math.max(a, entry[0].startMs), 1);
      total = shares.reduce((sum, [, share]) => sum + share, 0);
    }
    const spans = shares.map(([m]): [number, number] => [Math.max(a, m.startMs), Math.min(b, m.done?.endMs ?? b)]);
    const others = othersIn(state.others, a, b);
    // The time no request ran in, here or elsewhere, is idle even inside an interval with requests (a DCGM scrape spans seconds).
    const busyJoules = interval.joules * busyFraction([...spans, ...others.filter((o) => o.count > 0).map((o): [number, number] => [o.from, o.to])], a, b);
    // This replica's part of the busy energy: its request time over all request time (one request each, with no others).
    // Requests of no length count as covering the interval, as in `busyFraction`.
    const ownTime = spans.reduce((sum, [from, to]) => sum + Math.max(0, to - from), 0);
    const ownLoad = shares.length === 0 ? 0 : ownTime > 0 ? ownTime : b - a;
    const othersLoad = others.reduce((sum, o) => sum + o.count * (o.to - o.from), 0);
    const ownJoules = ownLoad > 0 ? busyJoules * (ownLoad / (ownLoad + othersLoad)) : 0;
    let idle = interval.joules - busyJoules;
    if (total > 0) {
      let given = 0;
      for (const [metered, share] of shares) {
        const joules = ownJoules * (share / total);
        metered.joules += joules;
        given += joules;
      }
      // Alone on the node every busy joule went to a request: the difference is rounding, which goes to idle.
      if (othersLoad === 0) idle = interval.joules - given;
    }
    // What is left after splitting all of it between requests is rounding, not idle time.
    if (idle < interval.joules * 1e-9) idle = 0;
    if (this.options.reportsNodeTotals?.() === false) return;
    this.idleJoules += idle;
    this.options.intervals?.record({ node: state.name, startMs: a, endMs: b, joules: interval.joules, idleJoules: idle, gpus: interval.gpus });
  }

  private release(metered: Metered): void {
    const done = metered.done!;
    this.joulesByModel.set(done.model, (this.joulesByModel.get(done.model) ?? 0) + metered.joules);
    this.options.usage.record({ ...done.entry, energyWh: metered.joules / 3600 });
  }

  /** Prompt-token weight for `model`: configured, or a moving average of prefill cost per token over decode cost per token. */
  private prefillWeight(model: string, prefillMs: number, decodeMs: number, entry: UsageEntry): number {
    if (this.options.prefillTokenWeight !== 'auto') return this.options.prefillTokenWeight;
    const current = this.prefillWeights.get(model) ?? INITIAL_PREFILL_WEIGHT;
    if (entry.promptTokens > 0 && entry.completionTokens > 1 && prefillMs > 0 && decodeMs > 0) {
      const measured = (prefillMs / entry.promptTokens) / (decodeMs / entry.completionTokens);
      const clamped = Math.min(10, Math.max(0.001, measured));
      this.prefillWeights.set(model, current + WEIGHT_SMOOTHING * (clamped - current));
    }
    return current;
  }
}

/**
 * The other replicas' observed request counts as pieces of [a, b): each observation covers from halfway to the one
 * before (the first: all time before) to halfway to the one after (the last: all time after).
 */
function othersIn(observations: NodeState['others'], a: number, b: number): { from: number; to: number; count: number }[] {
  const pieces: { from: number; to: number; count: number }[] = [];
  for (let i = 0; i < observations.length; i++) {
    const at = observations[i]!.atMs;
    const previous = observations[i - 1]?.atMs;
    const next = observations[i + 1]?.atMs;
    const from = previous === undefined ? a : Math.max(a, (previous + at) / 2);
    const to = next === undefined ? b : Math.min(b, (at + next) / 2);
    if (to > from) pieces.push({ from, to, count: observations[i]!.count });
  }
  return pieces;
}

/** Share of [a, b) covered by the union of `spans`; an instant request (no length) counts as covering all of it. */
function busyFraction(spans: [number, number][], a: number, b: number): number {
  if (b <= a) return 1;
  const sorted = spans.filter(([from, to]) => to > from).sort((x, y) => x[0] - y[0]);
  if (sorted.length === 0) return spans.length > 0 ? 1 : 0;
  let covered = 0;
  let [from, to] = sorted[0]!;
  for (const [start, end] of sorted.slice(1)) {
    if (start > to) {
      covered += to - from;
      [from, to] = [start, end];
    } else to = Math.max(to, end);
  }
  covered += to - from;
  return Math.min(1, covered / (b - a));
}

/** Weighted tokens a finished request processed in [a, b): each phase's work spread evenly over its time. */
function workIn(metered: Metered, a: number, b: number): number {
  const done = metered.done!;
  return phaseWork(metered.startMs, done.firstTokenMs, done.prefillWork, a, b) + phaseWork(done.firstTokenMs, done.endMs, done.decodeWork, a, b);
}

function phaseWork(from: number, to: number, work: number, a: number, b: number): number {
  if (work <= 0) return 0;
  // A phase of no measurable length lands in the interval that holds its instant.
  if (to <= from) return from >= a && from < b ? work : 0;
  const overlap = Math.min(b, to) - Math.max(a, from);
  return overlap > 0 ? work * (overlap / (to - from)) : 0;
}

/** Energy between two samples of a host: each GPU's counter difference, else its average power × time. */
export function energyBetween(previous: GpuSample, next: GpuSample): number {
  const seconds = (next.atMs - previous.atMs) / 1000;
  const before = new Map(previous.gpus.map((g) => [gpuKey(g), g]));
  let joules = 0;
  for (const gpu of next.gpus) {
    const old = before.get(gpuKey(gpu));
    if (!old) continue;
    const delta = gpu.energyJoules !== undefined && old.energyJoules !== undefined ? gpu.energyJoules - old.energyJoules : undefined;
    // A counter that went back (driver reloaded, agent restarted) falls back to power.
    if (delta !== undefined && delta >= 0) joules += delta;
    else if (gpu.powerWatts !== undefined || old.powerWatts !== undefined) joules += (((old.powerWatts ?? gpu.powerWatts!) + (gpu.powerWatts ?? old.powerWatts!)) / 2) * seconds;
  }
  return joules;
}

function gpuKey(gpu: GpuReading): string {
  return gpu.uuid || `#${gpu.index}`;
}
