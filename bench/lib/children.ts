import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Child processes of a benchmark: started with a readiness pattern on their output, and always
 * stopped — on normal exit, on an error, on Ctrl-C/SIGTERM (SIGTERM, then SIGKILL after a grace).
 */

export interface ChildOptions {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Matched against stdout and stderr; the first capture group is returned as `ready`. */
  readyPattern: RegExp;
  readyTimeoutMs?: number;
}

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  /** First capture group of the readiness pattern (e.g. the URL). */
  ready: string;
  /** Lines seen on stderr after readiness, for in-band reports (BENCH_MEM). */
  /** Returns a function that removes the listener. */
  onStderrLine(listener: (line: string) => void): () => void;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Last resort: a synchronous kill, since 'exit' handlers cannot wait.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping child processes\n`);
      void stopAll().finally(() => process.exit(130));
    });
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => stopProcess(child, 3000)));
}

function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    running.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      running.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function startChild(options: ChildOptions): Promise<Child> {
  installHandlers();
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const stderrListeners = new Set<(line: string) => void>();
  let output = '';
  return new Promise<Child>((resolve, reject) => {
    let settled = false;
    const fail = (message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stopProcess(child, 1000);
      reject(new Error(`${options.name}: ${message}\n--- output ---\n${output.slice(-4000)}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${options.readyTimeoutMs ?? 60_000} ms`), options.readyTimeoutMs ?? 60_000);
    const check = () => {
      if (settled) return;
      const match = options.readyPattern.exec(output);
      if (!match) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        name: options.name,
        pid: child.pid!,
        process: child,
        ready: match[1] ?? match[0],
        onStderrLine: (listener) => {
          stderrListeners.add(listener);
          return () => stderrListeners.delete(listener);
        },
        stop: () => stopProcess(child, 3000),
      });
    };
    let stderrRest = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      if (!settled) output += text;
      check();
    });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      if (!settled) output += text;
      check();
      stderrRest += text;
      const lines = stderrRest.split('\n');
      stderrRest = lines.pop()!;
      for (const line of lines) for (const listener of stderrListeners) listener(line);
    });
    child.once('error', (error) => fail(error.message));
    child.once('exit', (code, signal) => {
      running.delete(child);
      fail(`exited early (code ${code}, signal ${signal})`);
    });
  });
}

/** Resident set size of a process from /proc (Linux), in bytes. */
export function readRssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU time of a process so far, in ms (Linux /proc/PID/stat, 10 ms resolution). */
export function readCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
}
