import type { Command } from 'commander';
import { stringify } from 'yaml';
import { loadConfigFromDisk, redactConfig } from '../config/load.js';
import { configWarnings } from '../config/warnings.js';

export function registerConfigCommand(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration (file + FLEXI_* variables + defaults), secrets redacted')
    .option('-c, --config <file>', 'config file (default: $FLEXI_CONFIG or ./flexi.yaml)')
    .option('--json', 'print JSON instead of YAML')
    .action((options: { config?: string; json?: boolean }) => {
      const config = loadConfigFromDisk({ path: options.config });
      const redacted = redactConfig(config);
      process.stdout.write(options.json ? `${JSON.stringify(redacted, null, 2)}\n` : stringify(redacted));
      for (const warning of configWarnings(config)) process.stderr.write(`flexi: warning: ${warning}\n`);
    });
}
