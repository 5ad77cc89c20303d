import { InvalidArgumentError, type Command } from 'commander';
import { loadConfigFromDisk } from '../config/load.js';
import { FlexiError } from '../core/errors.js';
import { ApiKeyService } from '../services/api-key.service.js';
import type { ApiKeyRecord } from '../store/api-key.repository.js';
import { openDatabase, type Store } from '../store/store.js';
import { CliError } from './program.js';

const DAY_MS = 86_400_000;

interface CommonOptions {
  config?: string;
  json?: boolean;
}

function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+):[^@]*@/i, '$1:***@');
}

/** Opens and migrates the configured database, runs `work`, and always closes it again. */
async function withKeyService<T>(configPath: string | undefined, work: (service: ApiKeyService) => Promise<T>): Promise<T> {
  const config = loadConfigFromDisk({ path: configPath });
  let store: Store;
  try {
    store = await openDatabase(config.database.url);
  } catch (error) {
    throw new CliError(`Cannot open the database ${redactUrl(config.database.url)}: ${(error as Error).message}. Check database.url (FLEXI_DATABASE_URL).`);
  }
  const service = new ApiKeyService(store.apiKeys);
  try {
    await store.migrate();
    return await work(service);
  } catch (error) {
    if (error instanceof FlexiError) throw new CliError(error.message);
    throw error;
  } finally {
    await service.close();
    await store.close();
  }
}

function toJson(record: ApiKeyRecord) {
  return {
    id: record.id,
    name: record.name,
    prefix: record.prefix,
    role: record.role,
    user_id: record.userId,
    scopes: record.scopes,
    created_at: record.createdAt,
    expires_at: record.expiresAt,
    last_used_at: record.lastUsedAt,
    revoked_at: record.revokedAt,
  };
}

/** `2026-01-01T10:20:30.000Z` → `2026-01-01 10:20` (UTC), `-` for none. */
function shortTime(iso: string | null): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : '-';
}

function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function parseDays(value: string): number {
  const days = Number(value);
  if (value.trim() === '' || !Number.isFinite(days) || days <= 0) {
    throw new InvalidArgumentError('Give a positive number of days, e.g. 30 or 0.5.');
  }
  return days;
}

function print(text: string): void {
  process.stdout.write(text);
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys');
  const configOption = ['-c, --config <file>', 'config file (default: $FLEXI_CONFIG or ./flexi.yaml)'] as const;

  keys.command('create')
    .description('create an API key and print it (the only time it is shown)')
    .requiredOption('--name <name>', 'name that tells people which project or person the key is for')
    .option('--role <role>', 'role whose policies apply to requests with this key')
    .option('--expires-in-days <days>', 'the key stops working after this many days', parseDays)
    .option(...configOption)
    .option('--json', 'print JSON: {key, id, name, prefix, …}')
    .action(async (options: CommonOptions & { name: string; role?: string; expiresInDays?: number }) => {
      const { key, record } = await withKeyService(options.config, (service) => service.create({
        name: options.name,
        role: options.role,
        expiresAt: options.expiresInDays === undefined ? undefined : new Date(Date.now() + options.expiresInDays * DAY_MS),
      }));
      if (options.json) {
        print(`${JSON.stringify({ key, ...toJson(record) }, null, 2)}\n`);
        return;
      }
      print(`Created API key "${record.name}" (id ${record.id}${record.role ? `, role ${record.role}` : ''}`
        + `${record.expiresAt ? `, expires ${shortTime(record.expiresAt)} UTC` : ''}):\n\n  ${key}\n\n`
        + 'Copy it now: it is shown only this once. Flexi keeps only a hash and cannot show it again.\n');
    });

  keys.command('list')
    .description('list API keys (prefix, name, dates; never the keys themselves)')
    .option(...configOption)
    .option('--json', 'print a JSON array')
    .action(async (options: CommonOptions) => {
      const records = await withKeyService(options.config, (service) => service.list());
      if (options.json) {
        print(`${JSON.stringify(records.map(toJson), null, 2)}\n`);
        return;
      }
      if (records.length === 0) {
        print('No API keys yet. Create one with `flexi keys create --name <name>`.\n');
        return;
      }
      print(formatTable(
        ['ID', 'PREFIX', 'NAME', 'ROLE', 'CREATED', 'LAST USED', 'EXPIRES', 'REVOKED'],
        records.map((r) => [r.id, r.prefix, r.name, r.role ?? '-', shortTime(r.createdAt), shortTime(r.lastUsedAt),
          shortTime(r.expiresAt), shortTime(r.revokedAt)]),
      ) + 'Times are UTC.\n');
    });

  keys.command('revoke')
    .description('revoke an API key by id, name or prefix; it stops working at once')
    .argument('<key>', 'id, name or prefix (flx-xxxxxxxx) of the key, as `flexi keys list` shows them')
    .option(...configOption)
    .option('--json', 'print the revoked key as JSON')
    .action(async (ref: string, options: CommonOptions) => {
      const result = await withKeyService(options.config, (service) => service.revoke(ref));
      if (!result) {
        throw new CliError(`No API key matches "${ref}". \`flexi keys list\` shows ids, names and prefixes.`);
      }
      const { record, alreadyRevoked } = result;
      if (options.json) {
        print(`${JSON.stringify({ ...toJson(record), already_revoked: alreadyRevoked }, null, 2)}\n`);
        return;
      }
      print(alreadyRevoked
        ? `API key "${record.name}" (${record.prefix}) was already revoked at ${shortTime(record.revokedAt)} UTC.\n`
        : `Revoked API key "${record.name}" (${record.prefix}).\n`);
    });
}
