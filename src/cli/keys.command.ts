import { InvalidArgumentError, type Command } from 'commander';
import type { ApiKeyRecord } from '../core/identity-records.js';
import { CliError } from './cli-error.js';
import { CONFIG_OPTION, collectList, print, printJson, shortTime, withIdentity } from './identity-context.js';
import { formatTable } from './table.js';

const DAY_MS = 86_400_000;

interface CommonOptions {
  config?: string;
  json?: boolean;
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

function parseDays(value: string): number {
  const days = Number(value);
  if (value.trim() === '' || !Number.isFinite(days) || days <= 0) {
    throw new InvalidArgumentError('Give a positive number of days, e.g. 30 or 0.5.');
  }
  return days;
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys');

  keys.command('create')
    .description('create an API key and print it (the only time it is shown)')
    .option('--user <user>', 'owner (id or e-mail): the key acts with the user\'s roles')
    .option('--name <name>', 'name that tells people which project or person the key is for (required without --user)')
    .option('--role <role>', 'required without --user: the role whose policy applies to the key (`admin` for a key that may do everything)')
    .option('--scope <scope>', 'narrow the key: model:<glob>, endpoint:<glob>, course:<glob> (may send x-flexi-course) or admin (a key with scopes reaches the admin API only with admin), comma-separated or repeated', collectList)
    .option('--expires-in-days <days>', 'the key stops working after this many days', parseDays)
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON: {key, id, name, prefix, …}')
    .action(async (options: CommonOptions & { user?: string; name?: string; role?: string; scope?: string[]; expiresInDays?: number }) => {
      if (!options.user && !options.name) throw new CliError('Give --name <name> (an operator key) or --user <e-mail> (a user\'s key).');
      const { key, record } = await withIdentity(options.config, ({ config, identity, actor }) => {
        // No default role: a default of admin handed out keys for everything unnoticed, and any
        // other default would surprise the operator who wanted one for themselves.
        if (!options.user && !options.role) {
          throw new CliError(`An operator key needs --role <role>: ${Object.keys(config.roles).join(', ')} (\`--role admin\` may do everything, the admin API included).`);
        }
        return identity.admin.createKey(actor, {
          user: options.user,
          name: options.name ?? 'cli',
          role: options.role,
          scopes: options.scope,
          expiresAt: options.expiresInDays === undefined ? undefined : new Date(Date.now() + options.expiresInDays * DAY_MS),
        });
      });
      if (options.json) return printJson({ key, ...toJson(record) });
      const owner = record.userId ? `user ${options.user}, with the user's roles` : `role ${record.role}`;
      print(`Created API key "${record.name}" (id ${record.id}, ${owner}`
        + `${record.expiresAt ? `, expires ${shortTime(record.expiresAt)} UTC` : ''}):\n\n  ${key}\n\n`
        + 'Copy it now: it is shown only this once. Flexi keeps only a hash and cannot show it again.\n');
    });

  keys.command('list')
    .description('list API keys (prefix, name, dates; never the keys themselves)')
    .option('--user <user>', 'only this user\'s keys (id or e-mail)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print a JSON array')
    .action(async (options: CommonOptions & { user?: string }) => {
      const records = await withIdentity(options.config, ({ identity }) => identity.admin.listKeys(options.user));
      if (options.json) return printJson(records.map(toJson));
      if (records.length === 0) return print('No API keys yet. Create one with `flexi keys create --name <name>` or `--user <e-mail>`.\n');
      print(formatTable(
        ['ID', 'PREFIX', 'NAME', 'OWNER', 'CREATED', 'LAST USED', 'EXPIRES', 'REVOKED'],
        records.map((r) => [r.id, r.prefix, r.name, r.userId ? `user:${r.userId}` : `role:${r.role ?? '-'}`, shortTime(r.createdAt), shortTime(r.lastUsedAt),
          shortTime(r.expiresAt), shortTime(r.revokedAt)]),
      ) + 'Times are UTC.\n');
    });

  keys.command('revoke')
    .description('revoke an API key by id, name or prefix; running servers refuse it within 1 s')
    .argument('<key>', 'id, name or prefix (flx-xxxxxxxx) of the key, as `flexi keys list` shows them')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the revoked key as JSON')
    .action(async (ref: string, options: CommonOptions) => {
      const result = await withIdentity(options.config, ({ identity, actor }) => identity.admin.revokeKey(actor, ref)).catch((error: unknown) => {
        if (error instanceof CliError && /^No API key/.test(error.message)) {
          throw new CliError(`No API key matches "${ref}". \`flexi keys list\` shows ids, names and prefixes.`);
        }
        throw error;
      });
      const { record, alreadyRevoked } = result;
      if (options.json) return printJson({ ...toJson(record), already_revoked: alreadyRevoked });
      print(alreadyRevoked
        ? `API key "${record.name}" (${record.prefix}) was already revoked at ${shortTime(record.revokedAt)} UTC.\n`
        : `Revoked API key "${record.name}" (${record.prefix}).\n`);
    });
}
