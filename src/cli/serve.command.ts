import type { Command } from 'commander';
import { loadConfigFromDisk } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { configWarnings } from '../config/warnings.js';
import { isFlexiError } from '../core/errors.js';
import { startRuntime, StartupError, type Runtime } from '../runtime.js';
import { CliError } from './cli-error.js';
import { formatStartupReport } from './startup-report.js';

interface ServeOptions {
  config?: string;
  host?: string;
  port?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the gateway: OpenAI API at /v1, Ollama API at /api, web UI at /')
    .option('-c, --config <file>', 'config file (default: $FLEXI_CONFIG or ./flexi.yaml)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'TCP port (default 8400)')
    .action(async (options: ServeOptions) => {
      const port = options.port === undefined ? undefined : Number(options.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
        throw new CliError(`--port must be an integer between 0 and 65535, got "${options.port}".`, 2);
      }
      const config = loadConfigFromDisk({ path: options.config, overrides: { 'server.host': options.host, 'server.port': port } });
      const runtime = await start(config);
      const { logger, app } = runtime;
      for (const warning of configWarnings(config)) logger.warn(warning);
      if (config.auth.mode === 'none') {
        logger.warn('auth.mode is "none": anyone who can reach this port can use every model. Use it for development only.');
      }
      const models = app.registry.list();
      logger.info({ url: runtime.url, nodes: runtime.nodes.map((n) => ({ name: n.name, type: n.type, error: app.registry.nodeError(n.name) ?? null })), models: models.map((m) => m.name) }, 'Flexi is serving');
      process.stderr.write(`\nFlexi is serving at ${runtime.url}\n  OpenAI API: ${runtime.url}/v1   Ollama API: ${runtime.url}/api\n`);
      process.stderr.write(formatStartupReport(runtime.nodes, app.registry, (config.nodes ?? []).length > 0));
      if (config.auth.mode === 'keys') {
        process.stderr.write('Requests need an API key: `npx flexi keys create --name me --role admin`.\n');
      }
      const shutdown = (signal: string) => {
        logger.info({ signal }, 'shutting down: finishing in-flight requests');
        runtime.stop().then(() => process.exit(0), (error: unknown) => {
          logger.error({ error }, 'shutdown failed');
          process.exit(1);
        });
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });
}

/**
 * Starts the runtime; failures the operator can fix become one line naming the cause and the
 * fix (exit code 2), not a stack trace.
 */
async function start(config: Config): Promise<Runtime> {
  try {
    const { embeddedFactoryFor } = await import('./embedded-factory.js');
    return await startRuntime(config, { createEmbedded: await embeddedFactoryFor(config) });
  } catch (error) {
    if (error instanceof StartupError || isFlexiError(error)) throw new CliError(error.message, 2);
    throw new CliError(`could not start: ${error instanceof Error ? error.message : String(error)}`, 1);
  }
}
