/** The version `flexi --version` prints and reports carry. */
export const VERSION = '0.1.0';

/** An error the user caused or can fix; printed without a stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}
