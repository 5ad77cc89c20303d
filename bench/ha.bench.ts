/**
 * HA benchmark (issue 19): 1, 2 and 3 `flexi serve` replicas (dist/) on one PostgreSQL schema and
 * one Redis behind a round-robin proxy, over one `flexi sim` node (TINY profile, model `tiny`)
 * that runs 4 requests at once; Flexi's limit for it is 4 (`slots: 4`), shared through Redis.
 * For each replica count, in one run:
 *
 * 1. *lone*: the newcomer alone, 6 streamed requests one after another (its time to first token);
 * 2. *flood*: one user keeps 24 streams in flight for `--flood-s` seconds, spread over every
 *    replica by the proxy; from 2 s on, the newcomer asks once every `--gap-ms`;
 * 3. with 2 or more replicas, one replica is killed (SIGKILL) half-way through the flood.
 *
 * Prints a markdown table: the node's peak requests in flight vs its limit, TTFT of newcomer and
 * flooder and their ratios, whether the newcomer's p95 meets the target max(2 × lone, lone + 1 s)
 * (issue 13), the flooder's throughput, requests lost (failed before their first token),
 * streams cut (the replica died while they streamed), and how long the dead replica's slot
 * leases took to come back.
 *
 * `--queue-notice-ms` is `cluster.queue_notice_delay_ms` (default here 30000: a queued stream has sent
 * nothing yet, so the proxy can retry it when its replica dies; 0 shows what is lost without it).
 *
 *   FLEXI_TEST_POSTGRES_URL=postgres://… FLEXI_TEST_REDIS_URL=redis://… npm run bench:ha [-- --flood-s 20] [--gap-ms 500] [--ttl-ms 2000] [--queue-notice-ms 0]
 */
import { parseArgs } from 'node:util';
import { ask, FlexiCluster, type AskResult } from '../test/helpers/flexi-cluster.js';

const { values: args } = parseArgs({
  options: {
    'flood-s': { type: 'string', default: '20' },
    'gap-ms': { type: 'string', default: '500' },
    'ttl-ms': { type: 'string', default: '2000' },
    streams: { type: 'string', default: '24' },
    replicas: { type: 'string', default: '1,2,3' },
    'queue-notice-ms': { type: 'string', default: '30000' },
  },
});
const floodMs = Number(args['flood-s']) * 1000;
const gapMs = Number(args['gap-ms']);
const ttlMs = Number(args['ttl-ms']);
const streams = Number(args.streams);
const queueNoticeDelayMs = Number(args['queue-notice-ms']);
const SLOTS = 4;
const redisUrl = process.env.FLEXI_TEST_REDIS_URL;
if (!process.env.FLEXI_TEST_POSTGRES_URL || !redisUrl) {
  process.stderr.write('bench:ha needs FLEXI_TEST_POSTGRES_URL and FLEXI_TEST_REDIS_URL (a PostgreSQL database and a Redis it may write to).\n');
  process.exit(2);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Row {
  replicas: number;
  peak: number;
  loneMs: number;
  newcomerP50: number;
  newcomerP95: number;
  flooderP50: number;
  flooderPerSecond: number;
  lost: number;
  cut: number;
  slotsBackMs: number | undefined;
  heldAtKill: number;
  requests: number;
}

async function measure(replicas: number): Promise<Row> {
  const cluster = new FlexiCluster({ replicas, slots: SLOTS, redisUrl: redisUrl!, slotLeaseTtlMs: ttlMs, dropSchemaOnStop: true, queueNoticeDelayMs });
  await cluster.start(['flooder', 'newcomer']);
  try {
    const { proxy, keys } = cluster;
    const lone: AskResult[] = [];
    for (let i = 0; i < 6; i++) lone.push(await ask(proxy.url, keys.newcomer!, { stream: true }));
    const started = performance.now();
    const until = started + floodMs;
    const flooder: AskResult[] = [];
    const flood = Promise.all(Array.from({ length: streams }, async () => {
      while (performance.now() < until) flooder.push(await ask(proxy.url, keys.flooder!, { stream: true }));
    }));
    const newcomer: AskResult[] = [];
    const newcomers = (async () => {
      await sleep(2000);
      while (performance.now() < until) {
        newcomer.push(await ask(proxy.url, keys.newcomer!, { stream: true }));
        await sleep(gapMs);
      }
    })();
    let slotsBackMs: number | undefined;
    let heldAtKill = 0;
    if (replicas >= 2) {
      await sleep(floodMs / 2);
      const victim = cluster.replicas[0]!;
      heldAtKill = await cluster.heldSlotsOf(victim);
      await cluster.kill(victim);
      const killedAt = performance.now();
      // The dead replica's leases lapse when their TTL passes (nobody refreshes them).
      for (let i = 0; i < 400; i++) {
        if ((await cluster.heldSlotsOf(victim)) === 0) {
          slotsBackMs = performance.now() - killedAt;
          break;
        }
        await sleep(25);
      }
    }
    await Promise.all([flood, newcomers]);
    const floodSeconds = (performance.now() - started) / 1000;
    const all = [...flooder, ...newcomer];
    const failed = all.filter((r) => !r.ok);
    return {
      replicas, peak: Math.max(...cluster.peakPerNode()), requests: all.length,
      loneMs: quantile(lone.filter((r) => r.ok).map((r) => r.ttftMs!), 0.5),
      newcomerP50: quantile(newcomer.filter((r) => r.ok).map((r) => r.ttftMs!), 0.5),
      newcomerP95: quantile(newcomer.filter((r) => r.ok).map((r) => r.ttftMs!), 0.95),
      flooderP50: quantile(flooder.filter((r) => r.ok).map((r) => r.ttftMs!), 0.5),
      flooderPerSecond: flooder.filter((r) => r.ok).length / floodSeconds,
      lost: failed.filter((r) => r.ttftMs === undefined).length,
      cut: failed.filter((r) => r.ttftMs !== undefined).length,
      slotsBackMs, heldAtKill,
    };
  } finally {
    await cluster.stop();
  }
}

const rows: Row[] = [];
for (const count of args.replicas.split(',').map(Number)) {
  process.stderr.write(`${count} replica(s)…\n`);
  rows.push(await measure(count));
}

const ms = (value: number) => (Number.isNaN(value) ? '–' : `${Math.round(value)}`);
const lines = [
  `HA benchmark: one sim node (TINY/tiny), limit ${SLOTS}, flood ${streams} streams for ${floodMs / 1000} s, newcomer every ${gapMs} ms, slot TTL ${ttlMs} ms, queue notices after ${queueNoticeDelayMs} ms; times client-side, ms`,
  '',
  '| replicas | peak in flight at node / limit | lone TTFT p50 | newcomer TTFT p50 / p95 | flooder TTFT p50 | newcomer p95 ÷ lone | newcomer p50 ÷ flooder p50 | target max(2×lone, lone+1 s) met by p95 | flooder req/s | requests | lost (before first token) | streams cut (replica killed) | slots the killed replica held → back after |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.replicas} | ${r.peak} / ${SLOTS} | ${ms(r.loneMs)} | ${ms(r.newcomerP50)} / ${ms(r.newcomerP95)} | ${ms(r.flooderP50)} | ${(r.newcomerP95 / r.loneMs).toFixed(1)} | ${(r.newcomerP50 / r.flooderP50).toFixed(2)} | ${r.newcomerP95 <= Math.max(2 * r.loneMs, r.loneMs + 1000) ? 'yes' : 'no'} | ${r.flooderPerSecond.toFixed(1)} | ${r.requests} | ${r.lost} | ${r.cut} | ${r.replicas < 2 ? '– (none killed)' : `${r.heldAtKill} → ${r.slotsBackMs === undefined ? 'not within 10 s' : `${ms(r.slotsBackMs)} ms`}`} |`),
];
process.stdout.write(`${lines.join('\n')}\n`);
process.exit(0);
