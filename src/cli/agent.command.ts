import type { Command } from 'commander';
import { GpuAgent } from '../telemetry/gpu-agent.js';
import { NvidiaSmiReader } from '../telemetry/nvidia-smi-reader.js';
import { CliError } from './cli-error.js';

interface AgentOptions {
  host: string;
  port: string;
  intervalMs: string;
  keep: string;
  nvidiaSmi: string;
  json?: boolean;
}

/** Port of the agent: DCGM exporter's default, so firewalls opened for one fit the other. */
export const AGENT_DEFAULT_PORT = 9400;

function integer(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new CliError(`${flag} must be a whole number from ${min} to ${max} (got "${value}").`);
  return n;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('sample this host\'s GPUs with nvidia-smi and serve them to the gateway (node config: telemetry: {url: http://<host>:9400})')
    .option('--host <host>', 'address to listen on (0.0.0.0 to let the gateway in from another host)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', String(AGENT_DEFAULT_PORT))
    .option('--interval-ms <ms>', 'sampling interval', '1000')
    .option('--keep <n>', 'samples kept for /v1/samples (600 at 1 s: ten minutes)', '600')
    .option('--nvidia-smi <command>', 'the nvidia-smi to run', 'nvidia-smi')
    .option('--json', 'print the start-up line and state changes as JSON lines')
    .action(async (options: AgentOptions) => {
      const port = integer(options.port, '--port', 0, 65535);
      const intervalMs = integer(options.intervalMs, '--interval-ms', 50, 3_600_000);
      const capacity = integer(options.keep, '--keep', 1, 1_000_000);
      const say = (message: string, fields: Record<string, unknown> = {}) => {
        const at = new Date().toISOString();
        process.stdout.write(options.json ? `${JSON.stringify({ at, message, ...fields })}\n` : `${at.slice(11, 19)} ${message}\n`);
      };
      const agent = new GpuAgent({ reader: new NvidiaSmiReader({ command: options.nvidiaSmi }), intervalMs, capacity, log: (message) => say(message) });
      let bound: number;
      try {
        bound = await agent.listen(options.host, port);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new CliError(`port ${port} is in use (another agent or a DCGM exporter?); pick another with --port`);
        throw new CliError(`cannot listen on ${options.host}:${port}: ${(error as Error).message}`);
      }
      const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${bound}`;
      say(`flexi agent listening on ${url} (samples: ${url}/v1/samples, Prometheus: ${url}/metrics) — stop with Ctrl-C`, { url, interval_ms: intervalMs });
      agent.start();
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void agent.stop().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
