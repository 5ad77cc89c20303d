import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every `flexi` subcommand by name, loaded when needed. A command's module pulls in what it runs
 * (the gateway, the database drivers, the engine, the evidence tools), so loading all of them
 * for every call made `flexi agent` on a GPU node or `flexi keys list` pay for the whole program
 * at start (~140 MiB, seconds on a busy machine). In the order `flexi --help` lists them.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  config: async () => (await import('./config.command.js')).registerConfigCommand,
  keys: async () => (await import('./keys.command.js')).registerKeysCommand,
  serve: async () => (await import('./serve.command.js')).registerServeCommand,
  loadtest: async () => (await import('./loadtest.command.js')).registerLoadtestCommand,
  bench: async () => (await import('./bench.command.js')).registerBenchCommand,
  sim: async () => (await import('./sim.command.js')).registerSimCommand,
  models: async () => (await import('./models.command.js')).registerModelsCommand,
  nodes: async () => (await import('./nodes.command.js')).registerNodesCommand,
  users: async () => (await import('./users.command.js')).registerUsersCommand,
  groups: async () => (await import('./groups.command.js')).registerGroupsCommand,
  usage: async () => (await import('./usage.command.js')).registerUsageCommand,
  privacy: async () => (await import('./privacy.command.js')).registerPrivacyCommand,
  eval: async () => (await import('./eval.command.js')).registerEvalCommand,
  probe: async () => (await import('./probe.command.js')).registerProbeCommand,
  agent: async () => (await import('./agent.command.js')).registerAgentCommand,
  energy: async () => (await import('./energy.command.js')).registerEnergyCommand,
  checkmk: async () => (await import('./checkmk.command.js')).registerCheckmkCommand,
  templates: async () => (await import('./templates.command.js')).registerTemplatesCommand,
  lti: async () => (await import('./lti.command.js')).registerLtiCommand,
  collections: async () => (await import('./collections.command.js')).registerCollectionsCommand,
};

/** The command names, as typed. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/** Registers the commands named (loading only their modules), or every command. */
export async function registerCommands(program: Command, which: readonly string[] | 'all' = 'all'): Promise<void> {
  const names = which === 'all' ? COMMAND_NAMES : which.filter((name) => Object.hasOwn(COMMANDS, name));
  for (const register of await Promise.all(names.map((name) => COMMANDS[name]!()))) register(program);
}

/**
 * What a command line needs registered: the command it names, nothing for `--version`, and every
 * command otherwise (`--help`, no command, a typo that wants suggestions).
 */
export function commandsFor(argv: readonly string[]): readonly string[] | 'all' {
  const first = argv[2];
  if (first === '--version' || first === '-V') return [];
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : 'all';
}
