/**
 * Child process of the scheduler benchmark: one simulated machine. Starts `count` sim servers
 * (one per GPU or one per machine) with the named built-in profile, prints one JSON line
 * `bench-ready {"urls":[…]}` on stdout, and runs until SIGTERM — or until the benchmark SIGKILLs it, which
 * is how scenario (c) kills a node mid-run.
 * Usage: tsx bench/scheduler/sim-host.ts <profile> <count> <speed> <seed> [parallel]
 */
import { BUILTIN_PROFILES } from '../../src/lab/sim/profiles.js';
import { READY_MARKER } from './processes.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';

const [profileName = 'paper-server-b', countText = '1', speedText = '1', seedText = '0', parallelText] = process.argv.slice(2);
const profile = BUILTIN_PROFILES[profileName];
if (!profile) throw new Error(`unknown sim profile ${profileName}`);
const servers: SimServer[] = [];
for (let i = 0; i < Number(countText); i++) {
  servers.push(await startSimServer({
    port: 0, profile, speed: Number(speedText), seed: Number(seedText) + i, parallel: parallelText === undefined ? undefined : Number(parallelText),
  }));
}
process.stdout.write(`${READY_MARKER}${JSON.stringify({ urls: servers.map((s) => s.url) })}\n`);

const stop = () => {
  void Promise.all(servers.map((s) => s.close())).then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// Parent died without telling us: do not linger.
process.stdin.on('end', stop);
process.stdin.resume();
