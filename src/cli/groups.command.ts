import type { Command } from 'commander';
import { CONFIG_OPTION, print, printJson, withIdentity } from './identity-context.js';
import { formatTable } from './table.js';

interface Options {
  config?: string;
  json?: boolean;
}

export function registerGroupsCommand(program: Command): void {
  const groups = program.command('groups').description('groups (courses, institutes) and their members');

  groups.command('create')
    .description('create a group')
    .argument('<name>', 'unique name, e.g. "Statistics 1 WS26"')
    .option('--kind <kind>', 'course, institute or other', 'course')
    .option('--description <text>', 'what the group is')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the group as JSON')
    .action(async (name: string, options: Options & { kind: string; description?: string }) => {
      const group = await withIdentity(options.config, ({ identity, actor }) =>
        identity.admin.createGroup(actor, { name, kind: options.kind, description: options.description }));
      if (options.json) printJson({ id: group.id, name: group.name, kind: group.kind, description: group.description, created_at: group.createdAt });
      else print(`Created ${group.kind} "${group.name}" (id ${group.id}).\n`);
    });

  groups.command('list')
    .description('list groups')
    .option(...CONFIG_OPTION)
    .option('--json', 'print a JSON array')
    .action(async (options: Options) => {
      const list = await withIdentity(options.config, ({ identity }) => identity.admin.listGroups());
      if (options.json) return printJson(list.map((g) => ({ id: g.id, name: g.name, kind: g.kind, description: g.description, created_at: g.createdAt, members: g.members })));
      if (list.length === 0) return print('No groups yet. Create one with `flexi groups create <name>`.\n');
      print(formatTable(['ID', 'NAME', 'KIND', 'MEMBERS'], list.map((g) => [g.id, g.name, g.kind, String(g.members)])));
    });

  groups.command('show')
    .description('show a group and its members')
    .argument('<group>', 'id or name')
    .option(...CONFIG_OPTION)
    .option('--json', 'print JSON')
    .action(async (ref: string, options: Options) => {
      const { group, members } = await withIdentity(options.config, ({ identity }) => identity.admin.showGroup(ref));
      if (options.json) {
        return printJson({
          id: group.id, name: group.name, kind: group.kind, description: group.description, created_at: group.createdAt,
          members: members.map((m) => ({ user_id: m.userId, email: m.email, role: m.role })),
        });
      }
      print(`${group.name} (${group.kind}, id ${group.id})\n`);
      print(members.length === 0 ? 'No members.\n' : formatTable(['EMAIL', 'ROLE'], members.map((m) => [m.email, m.role])));
    });

  groups.command('delete')
    .description('delete a group (its memberships go with it)')
    .argument('<group>', 'id or name')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the deleted group as JSON')
    .action(async (ref: string, options: Options) => {
      const group = await withIdentity(options.config, ({ identity, actor }) => identity.admin.deleteGroup(actor, ref));
      if (options.json) printJson({ id: group.id, name: group.name, deleted: true });
      else print(`Deleted "${group.name}".\n`);
    });

  groups.command('add')
    .description('add a user to a group (or change their role in it)')
    .argument('<group>', 'id or name')
    .argument('<user>', 'id or e-mail')
    .option('--owner', 'as an owner (e.g. the lecturer of a course)')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the membership as JSON')
    .action(async (groupRef: string, userRef: string, options: Options & { owner?: boolean }) => {
      const role = options.owner ? 'owner' : 'member';
      await withIdentity(options.config, ({ identity, actor }) => identity.admin.addMember(actor, groupRef, userRef, role));
      if (options.json) printJson({ group: groupRef, user: userRef, role });
      else print(`Added ${userRef} to ${groupRef} as ${role}.\n`);
    });

  groups.command('remove')
    .description('remove a user from a group')
    .argument('<group>', 'id or name')
    .argument('<user>', 'id or e-mail')
    .option(...CONFIG_OPTION)
    .option('--json', 'print the result as JSON')
    .action(async (groupRef: string, userRef: string, options: Options) => {
      await withIdentity(options.config, ({ identity, actor }) => identity.admin.removeMember(actor, groupRef, userRef));
      if (options.json) printJson({ group: groupRef, user: userRef, removed: true });
      else print(`Removed ${userRef} from ${groupRef}.\n`);
    });
}
