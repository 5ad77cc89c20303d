import type { Command } from 'commander';
import type { UserRecord } from '../core/identity-records.js';
import { CliError } from './cli-error.js';
import { CONFIG_OPTION, collectList, print, printJson, readStdin, shortTime, withIdentity } from './identity-context.js';
import { formatTable } from './table.js';

interface Options {
  config?: string;
  json?: boolean;
}

export function userToJson(user: UserRecord) {
  return {
    id: user.id, email: user.email, display_name: user.displayName, roles: user.roles, created_at: user.createdAt,
    last_login_at: user.lastLoginAt, disabled: user.disabledAt !== null, disabled_at: user.disabledAt,
  };
}

function describe(user: UserRecord): string {
  return `${user.email} (id ${user.id}, roles ${user.roles.join(', ')}${user.disabledAt ? ', disabled' : ''})`;
}

export function registerUsersCommand(program: Command): void {
  const users = program.command('users').description('add, list, show, change and disable users');

  users.command('add')
    .description('add a local user')
    .requiredOption('--email <email>', 'e-mail address (the login name)')
    .requiredOption('--role <role>', 'role(s), comma-separated or repeated (see the roles: section of the config)', collectList)
    .option('--name <name>', 'display name')
    .option('--password-stdin', 'read a password from stdin (without it the user can only sign in with single sign-on)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the user as JSON')
    .action(async (options: Options & { email: string; role: string[]; name?: string; passwordStdin?: boolean }) => {
      const password = options.passwordStdin ? await readStdin() : undefined;
      if (options.passwordStdin && !password) throw new CliError('--password-stdin was given but stdin was empty; pipe the password in, e.g. `printf %s "$PW" | flexi users add …`.');
      const user = await withIdentity(options.config, ({ identity, actor }) =>
        identity.admin.addUser(actor, { email: options.email, roles: options.role, password, displayName: options.name }));
      if (options.json) printJson(userToJson(user));
      else print(`Added ${describe(user)}.\n`);
    });

  users.command('list')
    .description('list users')
    .option('--search <text>', 'only e-mails containing this text')
    .option(...CONFIG_OPTION)
    .option('--json', 'print a JSON array')
    .action(async (options: Options & { search?: string }) => {
      const list = await withIdentity(options.config, ({ identity }) => identity.users.list({ search: options.search, limit: 100_000 }));
      if (options.json) return printJson(list.map(userToJson));
      if (list.length === 0) return print('No users yet. Add one with `flexi users add --email <e-mail> --role <role>`.\n');
      print(formatTable(['ID', 'EMAIL', 'ROLES', 'CREATED', 'LAST LOGIN', 'DISABLED'],
        list.map((u) => [u.id, u.email, u.roles.join(','), shortTime(u.createdAt), shortTime(u.lastLoginAt), shortTime(u.disabledAt)])) + 'Times are UTC.\n');
    });

  users.command('show')
    .description('show a user with groups, keys and sign-on identities')
    .argument('<user>', 'id or e-mail')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .action(async (ref: string, options: Options) => {
      const shown = await withIdentity(options.config, ({ identity }) => identity.admin.showUser(ref));
      const json = {
        ...userToJson(shown.user),
        groups: shown.groups,
        keys: shown.keys.map((k) => ({ id: k.id, name: k.name, prefix: k.prefix, created_at: k.createdAt, last_used_at: k.lastUsedAt, revoked_at: k.revokedAt })),
        identities: shown.identities.map((i) => ({ provider: i.provider, subject: i.subject, last_login_at: i.lastLoginAt })),
      };
      if (options.json) return printJson(json);
      print(`${describe(shown.user)}\n`
        + `groups:     ${shown.groups.map((g) => `${g.name} (${g.role})`).join(', ') || '-'}\n`
        + `keys:       ${shown.keys.map((k) => `${k.prefix} ${k.name}${k.revokedAt ? ' (revoked)' : ''}`).join(', ') || '-'}\n`
        + `sign-on:    ${shown.identities.map((i) => i.provider).join(', ') || '-'}\n`);
    });

  users.command('set-role')
    .description('replace a user\'s roles')
    .argument('<user>', 'id or e-mail')
    .requiredOption('--role <role>', 'role(s), comma-separated or repeated', collectList)
    .option(...CONFIG_OPTION)
    .option('--json', 'print the user as JSON')
    .action(async (ref: string, options: Options & { role: string[] }) => {
      const user = await withIdentity(options.config, ({ identity, actor }) => identity.admin.setRoles(actor, ref, options.role));
      if (options.json) printJson(userToJson(user));
      else print(`${describe(user)}.\n`);
    });

  users.command('set-password')
    .description('set a local user\'s password (a reset): every session of the user ends')
    .argument('[user]', 'id or e-mail (or give --email)')
    .option('--email <email>', 'e-mail address of the user')
    .option('--password-stdin', 'read the new password from stdin (required: a password never goes on the command line)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the user as JSON')
    .action(async (ref: string | undefined, options: Options & { email?: string; passwordStdin?: boolean }) => {
      const user = ref ?? options.email;
      if (!user) throw new CliError('Name the user: `flexi users set-password --email <e-mail> --password-stdin`.');
      if (!options.passwordStdin) throw new CliError('Pipe the new password in with --password-stdin, e.g. `printf %s "$PW" | flexi users set-password --email <e-mail> --password-stdin`.');
      const password = await readStdin();
      if (!password) throw new CliError('--password-stdin was given but stdin was empty.');
      const changed = await withIdentity(options.config, ({ identity, actor }) => identity.admin.setPassword(actor, user, password));
      if (options.json) printJson(userToJson(changed));
      else print(`Password set for ${describe(changed)}; their sessions have ended.\n`);
    });

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    users.command(name)
      .description(disabled ? 'disable a user: sessions end, keys stop working' : 'enable a disabled user again')
      .argument('<user>', 'id or e-mail')
      .option(...CONFIG_OPTION)
      .option('--json', 'print the user as JSON')
      .action(async (ref: string, options: Options) => {
        const user = await withIdentity(options.config, ({ identity, actor }) => identity.admin.setDisabled(actor, ref, disabled));
        if (options.json) printJson(userToJson(user));
        else print(`${disabled ? 'Disabled' : 'Enabled'} ${describe(user)}.\n`);
      });
  }
}
