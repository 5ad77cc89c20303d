import type { Command } from 'commander';
import { registerConfigCommand } from './config.command.js';
import { registerGroupsCommand } from './groups.command.js';
import { registerKeysCommand } from './keys.command.js';
import { registerUsageCommand } from './usage.command.js';
import { registerUsersCommand } from './users.command.js';

/** Every `flexi` subcommand is registered here, one line each. */
export function registerCommands(program: Command): void {
  registerConfigCommand(program);
  registerKeysCommand(program);
  registerUsersCommand(program);
  registerGroupsCommand(program);
  registerUsageCommand(program);
}
