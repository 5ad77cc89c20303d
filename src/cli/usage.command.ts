import { InvalidArgumentError, type Command } from 'commander';
import { USAGE_DIMENSIONS, usageToCsv, usageToJson, type UsageDimension } from '../services/identity/usage-report.service.js';
import { CliError } from './cli-error.js';
import { CONFIG_OPTION, print, printJson, withIdentity } from './identity-context.js';
import { formatTable } from './table.js';

const DAY_MS = 86_400_000;

function parseTime(value: string): string {
  const relative = /^(\d+)d$/.exec(value);
  if (relative) return new Date(Date.now() - Number(relative[1]) * DAY_MS).toISOString();
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError('Give a date (2026-01-31), an ISO time (2026-01-31T12:00:00Z) or days back (30d).');
  }
  return new Date(value).toISOString();
}

function parseDimension(value: string): UsageDimension {
  if (!USAGE_DIMENSIONS.includes(value as UsageDimension)) throw new InvalidArgumentError(`Use one of ${USAGE_DIMENSIONS.join(', ')}.`);
  return value as UsageDimension;
}

export function registerUsageCommand(program: Command): void {
  program.command('usage')
    .description('requests and tokens by user, role, group, model or day')
    .option('--by <dimension>', `group by ${USAGE_DIMENSIONS.join('|')}`, parseDimension, 'model' as UsageDimension)
    .option('--since <time>', 'from this date/time (UTC) or days back, e.g. 2026-01-01 or 30d', parseTime)
    .option('--until <time>', 'up to (not including) this date/time', parseTime)
    .option(...CONFIG_OPTION)
    .option('--json', 'print a JSON array')
    .option('--csv', 'print CSV')
    .action(async (options: { by: UsageDimension; since?: string; until?: string; config?: string; json?: boolean; csv?: boolean }) => {
      if (options.json && options.csv) throw new CliError('Choose one of --json and --csv.');
      const since = options.since ?? new Date(Date.now() - 30 * DAY_MS).toISOString();
      const rows = await withIdentity(options.config, ({ identity }) => identity.usageReport.report(options.by, since, options.until));
      if (options.json) return printJson(usageToJson(rows, options.by));
      if (options.csv) return print(usageToCsv(options.by, rows));
      if (rows.length === 0) return print(`No usage since ${since.slice(0, 16).replace('T', ' ')} UTC.\n`);
      print(formatTable([options.by.toUpperCase(), 'REQUESTS', 'ERRORS', 'PROMPT', 'COMPLETION', 'TOTAL'],
        rows.map((r) => [r.key, String(r.requests), String(r.errors), String(r.promptTokens), String(r.completionTokens), String(r.totalTokens)])));
    });
}
