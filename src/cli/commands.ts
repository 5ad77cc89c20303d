import type { Command } from 'commander';
import { registerConfigCommand } from './config.command.js';
import { registerModelsCommand } from './models.command.js';

/** Every `flexi` subcommand is registered here, one line each. */
export function registerCommands(program: Command): void {
  registerConfigCommand(program);
  registerModelsCommand(program);
}
