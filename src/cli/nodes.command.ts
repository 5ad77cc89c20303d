import type { Command} from 'commander';
import { Option } from 'commander';
import type { AdminNodeReply as NodeRow } from '../api/admin.js';
import { loadConfigFromDisk } from '../config/load.js';
import { CliError } from './cli-error.js';
import { formatTable } from './table.js';

interface RemoteOptions {
  config?: string;
  url?: string;
  key?: string;
  json?: boolean;
}

/** Calls the running server's admin API (drain state lives in the serving process). */
async function callAdmin(options: RemoteOptions, method: 'GET' | 'POST', path: string): Promise<unknown> {
  const base = options.url ?? (() => {
    const config = loadConfigFromDisk({ path: options.config });
    const host = config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host;
    return `http://${host}:${config.server.port}`;
  })();
  let response: Response;
  try {
    response = await fetch(`${base.replace(/\/$/, '')}${path}`, {
      method,
      headers: options.key ? { authorization: `Bearer ${options.key}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new CliError(`Cannot reach Flexi at ${base}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}. Is \`flexi serve\` running? Pass --url if it listens elsewhere.`);
  }
  const body = await response.json().catch(() => ({})) as { error?: { message?: string } };
  if (!response.ok) {
    const hint = response.status === 401 || response.status === 403 ? ' Pass an admin key with --key or FLEXI_API_KEY.' : '';
    throw new CliError(`${response.status}: ${body.error?.message ?? response.statusText}.${hint}`);
  }
  return body;
}

function remote(command: Command): Command {
  return command
    .option('-c, --config <file>', 'config file, to find the server address (default: $FLEXI_CONFIG or ./flexi.yaml)')
    .option('--url <url>', 'Flexi base URL (default: from the config, http://127.0.0.1:8400)')
    .addOption(new Option('--key <key>', 'admin API key').env('FLEXI_API_KEY'))
    .option('--json', 'print JSON');
}

function printNodes(rows: NodeRow[]): void {
  process.stdout.write(formatTable(['node', 'type', 'state', 'in flight', 'resident', 'models', 'limit'], rows.map((n) => [
    n.name,
    n.type,
    n.listing_error ? 'unreachable' : n.healthy === false ? 'down' : n.draining ? 'draining' : n.breaker && n.breaker !== 'closed' ? `breaker ${n.breaker}` : 'up',
    String(n.in_flight),
    n.resident.map((m) => (n.preloading?.includes(m) ? `${m} (loading)` : m)).join(', ') || '–',
    String(n.models.length),
    formatLimits(n),
  ])));
}

/** Per model: `llama3:8b 7 (learning, max 64)`; only the models with a limit the server reports. */
function formatLimits(node: NodeRow): string {
  const limits = Object.entries(node.concurrency ?? {});
  if (limits.length === 0) return '–';
  const one = (c: NonNullable<NodeRow['concurrency']>[string]) => (c.phase === 'fixed' ? `${c.limit} (fixed)` : `${c.limit} (${c.phase}, max ${c.max})`);
  return limits.map(([model, c]) => (limits.length === 1 ? one(c) : `${model} ${one(c)}`)).join('; ');
}

interface QueueRow {
  model: string;
  queuedByClass: Record<string, number>;
  inFlightByClass?: Record<string, number>;
  inFlight: number;
  retrying: number;
  drainRatePerSecond?: number;
}

/** Classes in the server's order, `running / waiting` each, then the drain rate. */
function printQueues(rows: QueueRow[]): void {
  const classes = [...new Set(rows.flatMap((r) => Object.keys(r.queuedByClass)))];
  process.stdout.write(formatTable(['model', ...classes.map((c) => `${c} run/wait`), 'retrying', 'done/s'], rows.map((r) => [
    r.model,
    ...classes.map((c) => `${r.inFlightByClass?.[c] ?? '?'} / ${r.queuedByClass[c] ?? 0}`),
    String(r.retrying),
    r.drainRatePerSecond === undefined || r.drainRatePerSecond === null ? '–' : r.drainRatePerSecond.toFixed(2),
  ])));
}

export function registerNodesCommand(program: Command): void {
  const nodes = program.command('nodes').description('inference nodes of a running Flexi: live state, drain and undrain');

  remote(nodes.command('status').description('health, breaker, drain flag, in-flight requests and resident models per node'))
    .action(async (options: RemoteOptions) => {
      const body = await callAdmin(options, 'GET', '/admin/v1/nodes') as { data: NodeRow[] };
      if (options.json) process.stdout.write(`${JSON.stringify(body.data, null, 2)}\n`);
      else if (body.data.length === 0) process.stdout.write('No nodes configured.\n');
      else printNodes(body.data);
    });

  remote(nodes.command('queues').description('per model and priority class: requests running and waiting, and the measured completions per second'))
    .action(async (options: RemoteOptions) => {
      const body = await callAdmin(options, 'GET', '/admin/v1/scheduler') as { models: QueueRow[] };
      if (options.json) process.stdout.write(`${JSON.stringify(body.models, null, 2)}\n`);
      else if (body.models.length === 0) process.stdout.write('No requests yet: the scheduler has seen no model.\n');
      else printQueues(body.models);
    });

  for (const action of ['drain', 'undrain'] as const) {
    remote(nodes.command(`${action} <name>`).description(action === 'drain'
      ? 'stop placing new requests on a node; in-flight requests finish'
      : 'put a drained node back into service'))
      .action(async (name: string, options: RemoteOptions) => {
        const body = await callAdmin(options, 'POST', `/admin/v1/nodes/${encodeURIComponent(name)}/${action}`) as { name: string; draining: boolean; in_flight: number };
        if (options.json) process.stdout.write(`${JSON.stringify(body)}\n`);
        else process.stdout.write(action === 'drain'
          ? `Node ${body.name} is draining: no new requests; ${body.in_flight} in flight will finish.\n`
          : `Node ${body.name} is back in service.\n`);
      });
  }
}
