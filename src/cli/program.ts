import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { registerCommands } from './commands.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('flexi')
    .description('Flexi — safe, fair and measurable access to open-weight LLMs on your own GPU servers')
    .version(VERSION)
    .showHelpAfterError('(run `flexi --help` for usage)');
  registerCommands(program);
  return program;
}

/** Entry point: parses argv, prints errors the user can act on, sets the exit code. */
export async function runCli(argv: string[]): Promise<void> {
  const program = buildProgram();
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

/** An error the user caused or can fix; printed without a stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}
