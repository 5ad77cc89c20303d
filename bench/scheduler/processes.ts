import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// tsx as a loader in the child itself: its CLI would add a second process per child.
const TSX_LOADER = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const HERE = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Prefix of the one stdout line in which a child announces itself (JSON follows). */
export const READY_MARKER = 'bench-ready ';

/** A child process that announced itself with one JSON line on stdout. */
export interface Child<T> {
  process: ChildProcess;
  info: T;
  /** SIGTERM and wait for the exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** SIGKILL: the machine dies. */
  kill(): void;
}

async function startChild<T>(script: string, args: string[], label: string): Promise<Child<T>> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, HERE(script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const info = await new Promise<T>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    // Other output (a logger writing to stdout) may come first: the announcement has a marker.
    lines.on('line', (line) => {
      if (!line.startsWith(READY_MARKER)) return;
      try {
        resolve(JSON.parse(line.slice(READY_MARKER.length)) as T);
      } catch {
        reject(new Error(`${label}: unreadable announcement ${line.slice(0, 200)}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`${label} exited (${code}) before it was ready:\n${stderr}`)));
  });
  return {
    process: child,
    info,
    kill: () => {
      child.kill('SIGKILL');
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One simulated machine: `count` sim servers of a built-in profile in one process; `parallel` overrides every model's slots. */
export function startSimHost(profile: string, count: number, speed: number, seed: number, parallel?: number): Promise<Child<{ urls: string[] }>> {
  const args = [profile, String(count), String(speed), String(seed), ...(parallel === undefined ? [] : [String(parallel)])];
  return startChild('./sim-host.ts', args, `sim ${profile}`);
}

/** Flexi (`startRuntime`) with this config. */
export function startGateway(config: unknown): Promise<Child<{ url: string; models: string[] }>> {
  return startChild('./gateway-host.ts', [JSON.stringify(config)], 'flexi');
}
