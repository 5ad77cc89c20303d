import { renameSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { pricingOf } from '../services/build-services.js';
import { buildLocalChecks, type GatewayState } from '../services/energy/checkmk-checks.js';
import { formatLocalChecks, STATE_NAMES } from '../telemetry/checkmk.js';
import { co2GramsOf, costOf } from '../telemetry/energy-price.js';
import { TelemetryScraper } from '../telemetry/telemetry-scraper.js';
import { CONFIG_OPTION, print, printJson, withIdentity } from './identity-context.js';

interface CheckmkOptions { config?: string; gateway?: string; header?: boolean; spool?: string; json?: boolean; timeoutMs: string }

function gatewayUrl(config: Config): string {
  const host = ['0.0.0.0', '::', ''].includes(config.server.host) ? '127.0.0.1' : config.server.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.server.port}`;
}

/** `/readyz` and the `flexi_node_up{node,breaker,draining}` series of a running gateway. */
async function readGateway(url: string, config: Config, timeoutMs: number): Promise<GatewayState> {
  const breakers: GatewayState['breakers'] = new Map();
  let ready: Response;
  try {
    ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    return { reachable: false, ready: false, detail: `gateway at ${url} does not answer (${cause}); is flexi serve running? (--gateway <url>)`, breakers };
  }
  const headers: Record<string, string> = config.metrics.bearer_token ? { authorization: `Bearer ${config.metrics.bearer_token}` } : {};
  try {
    const metrics = await fetch(`${url}/metrics`, { headers, signal: AbortSignal.timeout(timeoutMs) });
    if (metrics.ok) {
      for (const match of (await metrics.text()).matchAll(/^flexi_node_up\{([^}]*)\} (\S+)$/gm)) {
        const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        if (labels.node) breakers.set(labels.node, { breaker: labels.breaker ?? 'unknown', draining: labels.draining === 'true', healthy: match[2] === '1' });
      }
    }
  } catch {
    // Breaker states are extra; readiness alone still says whether the gateway serves.
  }
  return { reachable: true, ready: ready.ok, detail: ready.ok ? `gateway at ${url} ready` : `gateway at ${url} not ready (${ready.status})`, breakers };
}

export function registerCheckmkCommand(program: Command): void {
  program.command('checkmk')
    .description('print Checkmk local checks: the gateway, each node, each GPU and each model queue, with thresholds from energy.checkmk (docs/energy.md)')
    .option(...CONFIG_OPTION)
    .option('--gateway <url>', 'the running gateway (default: from server.host and server.port)')
    .option('--header', 'start with the <<<local:sep(0)>>> section header (needed in spool files)')
    .option('--spool <file>', 'write to this file atomically instead of stdout (e.g. /var/lib/check_mk_agent/spool/300_flexi); implies --header')
    .option('--timeout-ms <ms>', 'longest wait for each node and the gateway', '3000')
    .option('--json', 'print the checks as JSON')
    .action(async (options: CheckmkOptions) => {
      const timeoutMs = Math.max(100, Number(options.timeoutMs) || 3000);
      const checks = await withIdentity(options.config, async ({ config, store }) => {
        const nodes = config.nodes ?? [];
        const sources = nodes.flatMap((n) => (n.telemetry ? [{ node: n.name, url: n.telemetry.url, dcgmUrl: n.telemetry.dcgm_url }] : []));
        const scraper = new TelemetryScraper({ sources, intervalMs: timeoutMs, timeoutMs });
        const now = Date.now();
        const dayStart = new Date(now - (now % 86_400_000)).toISOString();
        const [, models, gateway, hours] = await Promise.all([
          scraper.scrapeAll(),
          store.usage.outcomesByModel(new Date(now - config.energy.checkmk.window_ms).toISOString()),
          readGateway(options.gateway ?? gatewayUrl(config), config, timeoutMs),
          store.energy.nodeHours(dayStart),
        ]);
        const pricing = pricingOf(config);
        const energyWh = hours.reduce((sum, h) => sum + h.energyJoules / 3600, 0);
        const cost = hours.reduce((sum, h) => sum + costOf(pricing, h.energyJoules / 3600, Date.parse(`${h.hour}:00:00.000Z`)), 0);
        return buildLocalChecks({
          nodes: nodes.map((n) => n.name), gpus: scraper.snapshot(), models, gateway,
          today: { energyWh, cost, currency: pricing.currency, co2Grams: co2GramsOf(pricing, energyWh) }, thresholds: config.energy.checkmk,
        });
      });
      if (options.json) return printJson(checks.map((c) => ({ state: c.state, state_name: STATE_NAMES[c.state], service: c.service, detail: c.detail, metrics: c.metrics })));
      if (options.spool) {
        // The Checkmk agent must never read half a file: write beside it, then rename into place.
        const temporary = `${options.spool}.tmp-${process.pid}`;
        writeFileSync(temporary, formatLocalChecks(checks, { header: true }));
        renameSync(temporary, options.spool);
        return;
      }
      print(formatLocalChecks(checks, { header: options.header === true }));
    });
}
