import type { Command } from 'commander';
import { registerBenchCommand } from './bench.command.js';
import { registerConfigCommand } from './config.command.js';
import { registerLoadtestCommand } from './loadtest.command.js';
import { registerSimCommand } from './sim.command.js';

/** Every `flexi` subcommand is registered here, one line each. */
export function registerCommands(program: Command): void {
  registerConfigCommand(program);
  registerLoadtestCommand(program);
  registerBenchCommand(program);
  registerSimCommand(program);
}
