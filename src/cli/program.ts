import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { CliError, VERSION } from './cli-error.js';
import { commandsFor, registerCommands } from './commands.js';

/**
 * The `flexi` program with the commands named registered, or all of them. The entry point
 * registers just the command the user typed, so a command loads only its own modules.
 */
export async function buildProgram(which: readonly string[] | 'all' = 'all'): Promise<Command> {
  const program = new Command('flexi')
    .description('Flexi — safe, fair and measurable access to open-weight LLMs on your own GPU servers')
    .version(VERSION)
    .showHelpAfterError('(run `flexi --help` for usage)');
  await registerCommands(program, which);
  return program;
}

/** Entry point: parses argv, prints errors the user can act on, sets the exit code. */
export async function runCli(argv: string[]): Promise<void> {
  const program = await buildProgram(commandsFor(argv));
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`flexi: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (error instanceof CliError) {
      process.stderr.write(`flexi: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    throw error;
  }
}
