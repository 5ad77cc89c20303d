import { loadConfig } from '../../src/config/load.js';
import { BUILTIN_PROFILES } from '../../src/lab/sim/profiles.js';
import { startGateway, startSimHost, type Child } from './processes.js';

/** What answers the load: Flexi with its scheduler, Flexi as a plain balancer, or one bare server. */
export type SystemKind = 'flexi' | 'round-robin' | 'fifo';

export const SYSTEMS: readonly SystemKind[] = ['flexi', 'round-robin', 'fifo'];

export const SYSTEM_LABELS: Readonly<Record<SystemKind, string>> = {
  flexi: 'Flexi (scheduler)',
  'round-robin': 'least-busy, no queue',
  fifo: 'single FIFO server',
};

/** One simulated machine (one child process) with `count` sim nodes of a built-in profile. */
export interface MachineSpec {
  name: string;
  profile: string;
  count: number;
  /** Flexi's `nodes[].slots` for these nodes; default the profile's parallelism. */
  flexiSlots?: number;
}

/** The paper's two servers: A as eight one-GPU nodes, B as one node (see docs/scheduler-benchmark.md). */
export const PAPER_CLUSTER: readonly MachineSpec[] = [
  { name: 'a', profile: 'paper-server-a', count: 8 },
  // B runs 32 streams per model (fitted to the paper) at up to 7.6× per-stream slowdown; Flexi
  // starts at most 8 there and queues the rest itself (docs/scheduler-benchmark.md).
  { name: 'b', profile: 'paper-server-b', count: 1, flexiSlots: 8 },
];

export interface RunningCluster {
  /** Where the load goes: Flexi's URL, or the one server's for `fifo`. */
  url: string;
  machines: { spec: MachineSpec; child: Child<{ urls: string[] }> }[];
  /** Sim node base URLs, for /sim/info. */
  simUrls: string[];
  gateway?: Child<{ url: string; models: string[] }>;
  stop(): Promise<void>;
}

/**
 * Flexi's durations are real time; the sim runs `speed`× faster, so every default duration is
 * divided by it. Role limits per minute/day (identity) are not: they stay real time, which is
 * why scenarios pick roles whose rates the speed-up does not hit.
 */
export function flexiConfig(options: {
  speed: number; databaseUrl: string; schedulerEnabled: boolean;
  /** `type` default `sim`; without `slots` Flexi learns each node's limit. */
  nodes: { name: string; url: string; slots?: number; type?: 'sim' | 'ollama' | 'openai' }[];
  /** Overrides `max_share` of the batch class (the `--batch-share` flag). */
  batchShare?: number;
  /** Overrides `scheduler.newcomer_reserve` (the `--newcomer-reserve` flag; 0 turns it off). */
  newcomerReserve?: number;
}): Record<string, unknown> {
  const s = options.speed;
  const ms = (simulatedMs: number, min = 0) => Math.max(min, Math.round(simulatedMs / s));
  const defaults = loadConfig({});
  return {
    server: { host: '127.0.0.1', port: 0, shutdown_grace_ms: 0 },
    database: { url: options.databaseUrl },
    auth: { mode: 'keys' },
    log: { level: 'warn' },
    nodes: options.nodes.map((n) => ({ name: n.name, type: n.type ?? 'sim', url: n.url, ...(n.slots === undefined ? {} : { slots: n.slots }) })),
    models: { refresh_interval_ms: ms(defaults.models.refresh_interval_ms) },
    upstream: { first_byte_timeout_ms: ms(defaults.upstream.first_byte_timeout_ms), idle_timeout_ms: ms(defaults.upstream.idle_timeout_ms) },
    scheduler: {
      enabled: options.schedulerEnabled,
      probe_interval_ms: ms(defaults.scheduler.probe_interval_ms, 200),
      // Every class setting as the defaults have it (share, placement); only the deadline is scaled.
      classes: defaults.scheduler.classes.map((c) => ({
        ...c, max_wait_ms: ms(c.max_wait_ms), ...(c.name === 'batch' && options.batchShare !== undefined ? { max_share: options.batchShare } : {}),
      })),
      breaker_cooldown_ms: ms(defaults.scheduler.breaker_cooldown_ms),
      drain_rate_window_ms: ms(defaults.scheduler.drain_rate_window_ms, 1000),
      newcomer_window_ms: ms(defaults.scheduler.newcomer_window_ms),
      ...(options.newcomerReserve === undefined ? {} : { newcomer_reserve: options.newcomerReserve }),
    },
    usage: { flush_interval_ms: 1000 },
  };
}

/** The parallelism an operator would configure: the slots of the node's profile (they are equal for all its models). */
function profileSlots(profile: string): number {
  return Math.max(...BUILTIN_PROFILES[profile]!.models.map((m) => m.slots));
}

/**
 * Starts the machines (child processes) and, unless `fifo`, Flexi over all their nodes. For
 * `fifo` only the first node of the last machine answers (server B in the paper's cluster).
 */
export async function startCluster(options: {
  system: SystemKind; machines: readonly MachineSpec[]; speed: number; seed: number; databaseUrl: string; batchShare?: number;
  newcomerReserve?: number;
}): Promise<RunningCluster> {
  const specs = options.system === 'fifo' ? [options.machines[options.machines.length - 1]!] : options.machines;
  const machines = await Promise.all(specs.map(async (spec, i) => ({
    spec: options.system === 'fifo' ? { ...spec, count: 1 } : spec,
    child: await startSimHost(spec.profile, options.system === 'fifo' ? 1 : spec.count, options.speed, options.seed + 100 * i),
  })));
  const nodes = machines.flatMap(({ spec, child }) => child.info.urls.map((url, i) => ({
    name: spec.count > 1 ? `${spec.name}${i + 1}` : spec.name, url, slots: spec.flexiSlots ?? profileSlots(spec.profile),
  })));
  const stopMachines = () => Promise.all(machines.map((m) => m.child.stop())).then(() => undefined);
  if (options.system === 'fifo') {
    return { url: nodes[0]!.url, machines, simUrls: nodes.map((n) => n.url), stop: stopMachines };
  }
  let gateway: Child<{ url: string; models: string[] }>;
  try {
    gateway = await startGateway(flexiConfig({
      speed: options.speed, databaseUrl: options.databaseUrl, schedulerEnabled: options.system === 'flexi', nodes, batchShare: options.batchShare,
      newcomerReserve: options.newcomerReserve,
    }));
  } catch (error) {
    await stopMachines();
    throw error;
  }
  return {
    url: gateway.info.url, machines, simUrls: nodes.map((n) => n.url), gateway,
    async stop() {
      await gateway.stop();
      await stopMachines();
    },
  };
}

/** Mean pacing lag over the nodes still alive (simulated ms): large values mean the speed is too high. */
export async function pacingLagMs(simUrls: readonly string[]): Promise<number | undefined> {
  let lag = 0;
  let streams = 0;
  for (const url of simUrls) {
    try {
      const info = await (await fetch(`${url}/sim/info`, { signal: AbortSignal.timeout(2000) })).json() as {
        counters: { paced_streams: number; mean_pacing_lag_ms: number };
      };
      lag += info.counters.mean_pacing_lag_ms * info.counters.paced_streams;
      streams += info.counters.paced_streams;
    } catch {
      // a killed node
    }
  }
  return streams > 0 ? lag / streams : undefined;
}
