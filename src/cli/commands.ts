import type { Command } from 'commander';
import { registerBenchCommand } from './bench.command.js';
import { registerCollectionsCommand } from './collections.command.js';
import { registerConfigCommand } from './config.command.js';
import { registerGroupsCommand } from './groups.command.js';
import { registerKeysCommand } from './keys.command.js';
import { registerLtiCommand } from './lti.command.js';
import { registerServeCommand } from './serve.command.js';
import { registerLoadtestCommand } from './loadtest.command.js';
import { registerSimCommand } from './sim.command.js';
import { registerModelsCommand } from './models.command.js';
import { registerNodesCommand } from './nodes.command.js';
import { registerPrivacyCommand } from './privacy.command.js';
import { registerTemplatesCommand } from './templates.command.js';
import { registerUsageCommand } from './usage.command.js';
import { registerUsersCommand } from './users.command.js';
import { registerEvalCommand } from './eval.command.js';
import { registerProbeCommand } from './probe.command.js';
import { registerAgentCommand } from './agent.command.js';
import { registerEnergyCommand } from './energy.command.js';
import { registerCheckmkCommand } from './checkmk.command.js';

/** Every `flexi` subcommand is registered here, one line each. */
export function registerCommands(program: Command): void {
  registerConfigCommand(program);
  registerKeysCommand(program);
  registerServeCommand(program);
  registerLoadtestCommand(program);
  registerBenchCommand(program);
  registerSimCommand(program);
  registerModelsCommand(program);
  registerNodesCommand(program);
  registerUsersCommand(program);
  registerGroupsCommand(program);
  registerUsageCommand(program);
  registerPrivacyCommand(program);
  registerEvalCommand(program);
  registerProbeCommand(program);
  registerAgentCommand(program);
  registerEnergyCommand(program);
  registerCheckmkCommand(program);
  registerTemplatesCommand(program);
  registerLtiCommand(program);
  registerCollectionsCommand(program);
}
