/**
 * Child process of the scheduler benchmark: Flexi itself (`startRuntime`, as `flexi serve` runs
 * it). The config comes as JSON in argv[2] (YAML is a superset), so nothing here reads the
 * environment. Prints `{"url":…}` on stdout once it listens; stops on SIGTERM.
 */
import { loadConfig } from '../../src/config/load.js';
import { startRuntime } from '../../src/runtime.js';

const config = loadConfig({ fileText: process.argv[2] ?? '{}' });
const runtime = await startRuntime(config, { probeLocalOllama: false });
process.stdout.write(`${JSON.stringify({ url: runtime.url, models: runtime.app.registry.list().map((m) => m.name) })}\n`);

const stop = () => {
  void runtime.stop().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
