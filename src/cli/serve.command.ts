import type { Command } from 'commander';
import { loadConfigFromDisk } from '../config/load.js';
import { startRuntime } from '../runtime.js';
import { CliError } from './cli-error.js';

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
      const { embeddedFactoryFor } = await import('./embedded-factory.js');
      const runtime = await startRuntime(config, { createEmbedded: await embeddedFactoryFor(config) });
      const { logger, app } = runtime;
      if (config.auth.mode === 'none') {
        logger.warn('auth.mode is "none": anyone who can reach this port can use every model. Use it for development only.');
      }
      const models = app.registry.list();
      logger.info({ url: runtime.url, nodes: runtime.nodes.map((n) => `${n.name} (${n.type})`), models: models.map((m) => m.name) }, 'Flexi is serving');
      process.stderr.write(`\nFlexi is serving at ${runtime.url}\n  OpenAI API: ${runtime.url}/v1   Ollama API: ${runtime.url}/api\n`);
      if (runtime.nodes.length === 0 || models.length === 0) {
        process.stderr.write([
          '',
          'No models yet. Add one of these:',
          '  • put a .gguf file into ./models (e.g. `npx flexi models pull hf:<owner>/<repo>/<file>.gguf`), or',
          '  • run Ollama on 127.0.0.1:11434 and `ollama pull llama3`, or',
          '  • declare your inference servers under `nodes:` in flexi.yaml (see docs/configuration.md).',
          'Flexi picks new models up within `models.refresh_interval_ms` (30 s).',
          '',
        ].join('\n'));
      }
      if (config.auth.mode === 'keys') {
        process.stderr.write('Requests need an API key: `npx flexi keys create --name me`.\n');
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
