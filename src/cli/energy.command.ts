import { InvalidArgumentError, type Command } from 'commander';
import type { EnergyReportJson } from '../api/energy.js';
import { buildEnergyReport } from '../services/build-services.js';
import { ENERGY_DIMENSIONS, energyReportToCsv, energyReportToJson, type EnergyDimension } from '../services/energy/energy-report.service.js';
import { CliError } from './cli-error.js';
import { CONFIG_OPTION, print, printJson, withIdentity } from './identity-context.js';
import { formatTable } from './table.js';

const DAY_MS = 86_400_000;

function parseTime(value: string): string {
  const relative = /^(\d+)([dh])$/.exec(value);
  if (relative) return new Date(Date.now() - Number(relative[1]) * (relative[2] === 'd' ? DAY_MS : 3_600_000)).toISOString();
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError('Give a date (2026-01-31), an ISO time (2026-01-31T12:00:00Z), days back (30d) or hours back (12h).');
  }
  return new Date(value).toISOString();
}

function parseDimension(value: string): EnergyDimension {
  if (!ENERGY_DIMENSIONS.includes(value as EnergyDimension)) throw new InvalidArgumentError(`Use one of ${ENERGY_DIMENSIONS.join(', ')}.`);
  return value as EnergyDimension;
}

function parseCompare(value: string): 'paper' {
  if (value !== 'paper') throw new InvalidArgumentError('The one comparison there is: paper.');
  return value;
}

const kwh = (wh: number) => (wh / 1000).toFixed(wh < 1000 ? 4 : 2);
const grams = (g: number) => (g >= 10_000 ? `${(g / 1000).toFixed(1)} kg` : `${g.toFixed(1)} g`);
const money = (amount: number, currency: string) => `${amount.toFixed(amount < 10 ? 4 : 2)} ${currency}`;

interface EnergyOptions { by: EnergyDimension; since?: string; until?: string; config?: string; json?: boolean; csv?: boolean; compare?: 'paper' }

export function registerEnergyCommand(program: Command): void {
  const energy = program.command('energy').description('GPU energy, cost and CO2 (docs/energy.md)');
  energy.command('report')
    .description('kWh, cost, CO2 and tokens per kWh by node, model, role, group or day')
    .option('--by <dimension>', `group by ${ENERGY_DIMENSIONS.join('|')}`, parseDimension, 'node' as EnergyDimension)
    .option('--since <time>', 'from this date/time (UTC), days back (30d) or hours back (12h); default 30d', parseTime)
    .option('--until <time>', 'up to (not including) this date/time', parseTime)
    .option('--compare <what>', 'put the figures beside the paper\'s (per GPU-day, per year extrapolated): paper', parseCompare)
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV (the rows)')
    .action(async (options: EnergyOptions) => {
      if (options.json && options.csv) throw new CliError('Choose one of --json and --csv.');
      const since = options.since ?? new Date(Date.now() - 30 * DAY_MS).toISOString();
      const report = await withIdentity(options.config, ({ config, store, identity }) =>
        buildEnergyReport(config, store, identity).report({ by: options.by, since, until: options.until, compare: options.compare === 'paper' }));
      if (options.json) return printJson(energyReportToJson(report));
      if (options.csv) return print(energyReportToCsv(report));
      printHuman(energyReportToJson(report));
    });
}

function printHuman(report: EnergyReportJson): void {
  const { total, currency } = report;
  if (total.energy_wh === 0 && report.rows.length === 0) {
    print(`No energy measured since ${report.since.slice(0, 16).replace('T', ' ')} UTC. Nodes need telemetry: {url: http://<host>:9400} and a running flexi agent (docs/energy.md).\n`);
    return;
  }
  const idle = report.by === 'node' || report.by === 'day';
  const head = [report.by.toUpperCase(), 'kWh', ...(idle ? ['IDLE kWh'] : []), 'COST', 'CO2', 'REQUESTS', 'TOKENS', 'TOKENS/kWh'];
  const rows = report.rows.map((r) => [
    r.key, kwh(r.energy_wh), ...(idle ? [kwh(r.idle_wh ?? 0)] : []), money(r.cost, currency), grams(r.co2_g), String(r.requests), String(r.tokens),
    r.tokens_per_kwh === null ? '-' : String(r.tokens_per_kwh),
  ]);
  rows.push([
    'TOTAL', kwh(total.energy_wh), ...(idle ? [kwh(total.idle_wh)] : []), money(total.cost, currency), grams(total.co2_g), String(total.requests), String(total.tokens),
    total.tokens_per_kwh === null ? '-' : String(total.tokens_per_kwh),
  ]);
  print(formatTable(head, rows));
  print(`\n${report.scope}. ${report.price_per_kwh} ${currency}/kWh, ${report.co2_g_per_kwh} g CO2/kWh; idle ${report.idle === 'apart' ? 'reported apart' : 'spread over the day\'s requests'}.\n`);
  if (report.compare) {
    const { deployment: d, paper: p } = report.compare;
    const show = (value: number | null, unit: string) => (value === null ? '-' : `${value} ${unit}`);
    print(`\n${formatTable(['', 'THIS DEPLOYMENT', 'PAPER'], [
      ['kWh per GPU-day', show(d.kwh_per_gpu_day, 'kWh'), `${p.kwh_per_gpu_day} kWh (26.7 kWh, 8 GPUs, 5 days)`],
      ['kWh per year', show(d.kwh_per_year, 'kWh'), `${p.kwh_per_year_measured_rate} kWh at the measured rate; at most ${p.kwh_per_year_max} kWh`],
      ['cost per year', show(d.cost_per_year, currency), `at most ${p.cost_per_year_max} EUR (0.30 EUR/kWh)`],
      ['CO2 per year', show(d.co2_kg_per_year, 'kg'), `at most ${p.co2_kg_per_year_max} kg (380 g/kWh)`],
    ])}`);
  }
}
