import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfigFromDisk } from '../config/load.js';
import type { PrivacyService, PurgeResult } from '../services/privacy/privacy.service.js';
import { renderProcessingRecord } from '../services/privacy/processing-record.js';
import { CliError } from './cli-error.js';
import { CONFIG_OPTION, print, printJson, withIdentity, type IdentityContext } from './identity-context.js';
import { formatTable } from './table.js';

interface Options {
  config?: string;
  json?: boolean;
}

function withPrivacy<T>(configPath: string | undefined, work: (privacy: PrivacyService, context: IdentityContext) => Promise<T>): Promise<T> {
  return withIdentity(configPath, (context) => work(context.privacy, context));
}

/** Exports hold personal data: readable by the owner only. */
function writeOut(path: string, text: string, mode = 0o600): void {
  try {
    writeFileSync(path, text, { mode });
  } catch (error) {
    throw new CliError(`Cannot write ${path}: ${(error as Error).message}. Choose another --out path.`);
  }
}

function purgeTable(result: PurgeResult): string {
  const rows = result.classes.map((c) => [c.class, c.retention, c.days === null ? 'keep' : String(c.days), c.cutoff ? c.cutoff.slice(0, 16).replace('T', ' ') : '-', String(c.rows)]);
  return formatTable(['CLASS', 'PERIOD', 'DAYS', 'OLDER THAN (UTC)', result.dryRun ? 'WOULD GO' : 'DELETED'], rows);
}

export function registerPrivacyCommand(program: Command): void {
  const privacy = program.command('privacy').description('data protection: export and erase a user\'s data, purge by retention, the record of processing activities');

  privacy.command('export')
    .description('export everything stored about a user as JSON (audited)')
    .requiredOption('--user <user>', 'id or e-mail')
    .option('--out <file>', 'write to this file (mode 600) instead of stdout')
    .option(...CONFIG_OPTION)
    .action(async (options: Options & { user: string; out?: string }) => {
      const exported = await withPrivacy(options.config, (service, { actor }) => service.exportUser(actor, options.user));
      const text = `${JSON.stringify(exported, null, 2)}\n`;
      if (!options.out) return print(text);
      writeOut(options.out, text);
      const rows = Object.values(exported.data).reduce((sum, list) => sum + list.length, 0);
      process.stderr.write(`Wrote ${rows} records of ${exported.user.email} to ${options.out}.\n`);
    });

  privacy.command('erase')
    .description('erase a user and everything linked to them (audited under an opaque reference); without --yes only shows what would go')
    .requiredOption('--user <user>', 'id or e-mail')
    .option('--yes', 'really erase')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .action(async (options: Options & { user: string; yes?: boolean }) => {
      await withPrivacy(options.config, async (service, { actor }) => {
        if (!options.yes) {
          const preview = await service.previewErase(options.user);
          if (options.json) return printJson({ erased: false, user: preview.user.email, rows: preview.rows });
          print(`Erasing ${preview.user.email} (id ${preview.user.id}) would touch:\n`
            + formatTable(['CLASS', 'ROWS'], Object.entries(preview.rows).map(([name, n]) => [name, String(n)]))
            + 'Nothing was erased. Run again with --yes to erase.\n');
          return;
        }
        const result = await service.eraseUser(actor, options.user);
        if (options.json) return printJson({ erased: true, reference: result.reference, rows: result.rows });
        print(`Erased. Reference for your records: ${result.reference}\n`
          + formatTable(['CLASS', 'ROWS'], Object.entries(result.rows).map(([name, n]) => [name, String(n)])));
      });
    });

  privacy.command('purge')
    .description('delete what is past its retention period (privacy.retention)')
    .option('--dry-run', 'only count what would be deleted')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .action(async (options: Options & { dryRun?: boolean }) => {
      const result = await withPrivacy(options.config, (service) => service.purge({ dryRun: options.dryRun }));
      if (options.json) return printJson(result);
      print(purgeTable(result) + (result.unlinkedUsageSubjects > 0 ? `Unlinked ${result.unlinkedUsageSubjects} usage pseudonyms of users that no longer exist.\n` : '')
        + (result.dryRun ? 'Dry run: nothing was deleted.\n' : ''));
    });

  privacy.command('record')
    .description('write the record of processing activities (Markdown) from the configuration')
    .option('--out <file>', 'write to this file instead of stdout')
    .option(...CONFIG_OPTION)
    .option('--json', 'print {"markdown": …} as JSON')
    .action((options: Options & { out?: string }) => {
      const config = loadConfigFromDisk({ path: options.config });
      const markdown = renderProcessingRecord(config, { generatedAt: new Date().toISOString().slice(0, 10) });
      if (options.out) {
        writeOut(options.out, markdown, 0o644);
        process.stderr.write(`Wrote the record of processing activities to ${options.out}.\n`);
      } else if (options.json) {
        printJson({ markdown });
      } else {
        print(markdown);
      }
    });
}
