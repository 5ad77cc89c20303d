/**
 * Child process of the scheduler benchmark: Flexi itself (`startRuntime`, as `flexi serve` runs
 * it). The config comes as JSON in argv[2] (YAML is a superset), so nothing here reads the
 * environment. Prints `bench-ready {"url":…}` on stdout once it listens; stops on SIGTERM.
 */
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { startRuntime } from '../../src/runtime.js';
import { READY_MARKER } from './processes.js';

const config = loadConfig({ fileText: process.argv[2] ?? '{}' });
// Logs go to stderr: stdout carries the announcement.
const runtime = await startRuntime(config, { probeLocalOllama: false, logger: pino({ level: config.log.level }, pino.destination(2)) });
process.stdout.write(`${READY_MARKER}${JSON.stringify({ url: runtime.url, models: runtime.app.registry.list().map((m) => m.name) })}\n`);

const stop = () => {
  void runtime.stop().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
