/**
 * Slow-client benchmark (issue 12, finding 5): 1,000 connections trickle a body to /auth/login
 * one byte every 5 s, from one address and from 1,000 addresses, while /healthz is timed. Prints
 * how many connections the gateway still holds, how many it refused, its open file descriptors,
 * /healthz latency, and the longest any slow connection stayed open.
 *
 *   npm run bench:slow-clients
 *   npm run bench:slow-clients -- --connections 500 --timeout-ms 5000
 *
 * The gateway runs in this process (with SQLite in memory and the default limits unless given):
 * the attackers only write one byte per 5 s each, which costs the event loop next to nothing.
 * Linux only (loopback addresses 127.x.y.z and /proc/self/fd).
 */
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import { openDatabase } from '../src/store/store.js';
import { latencyStats } from './lib/load.js';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000' },
    'timeout-ms': { type: 'string', default: '15000' },
  },
});
const CONNECTIONS = Number(args.connections);
const TIMEOUT_MS = Number(args['timeout-ms']);
const TRICKLE_MS = 5000;

const openFds = () => readdirSync('/proc/self/fd').length;

interface Attacker {
  socket: Socket;
  refused: boolean;
  /** How long the connection stayed open. */
  openMs?: number;
}

function attack(port: number, localAddress: string): Promise<Attacker> {
  return new Promise((resolve) => {
    const startedMs = performance.now();
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const attacker: Attacker = { socket, refused: false };
    socket.on('data', (chunk) => {
      if (/HTTP\/1\.1 429 /.test(chunk.toString('latin1'))) attacker.refused = true;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      attacker.openMs = performance.now() - startedMs;
      clearInterval(timer);
    });
    const timer = setInterval(() => socket.writable && socket.write('a'), TRICKLE_MS);
    socket.once('connect', () => {
      socket.write(`POST /auth/login HTTP/1.1\r\nHost: flexi\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
      resolve(attacker);
    });
  });
}

function healthz(url: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    httpRequest(`${url}/healthz`, { agent: false, localAddress: '127.0.0.1' }, (response) => {
      response.resume();
      response.on('end', () => (response.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`healthz ${response.statusCode}`))));
    }).on('error', reject).end();
  });
}

async function timeHealthz(url: string, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await healthz(url));
  return samples;
}

/** The i-th distinct loopback address after 127.0.0.1 (127.0.0.2, …, 127.0.3.233, …). */
const loopback = (i: number) => `127.0.${Math.floor((i + 2) / 250)}.${((i + 2) % 250) + 1}`;

async function scenario(name: string, addressOf: (i: number) => string): Promise<Record<string, string | number>> {
  const config = loadConfig({ fileText: `server:\n  request_timeout_ms: ${TIMEOUT_MS}\n  headers_timeout_ms: ${TIMEOUT_MS}\nauth:\n  cookie_secure: false\n` });
  const store = await openDatabase(':memory:');
  await store.migrate();
  const app = await createApp({ config, backends: [], store });
  await app.server.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.server.address() as AddressInfo).port}`;
  const fdsBefore = openFds();
  const startedMs = performance.now();
  const attackers: Attacker[] = [];
  for (let i = 0; i < CONNECTIONS; i++) attackers.push(await attack(Number(new URL(url).port), addressOf(i)));
  const during = await timeHealthz(url, 200);
  const held = attackers.filter((a) => a.openMs === undefined).length;
  const refused = attackers.filter((a) => a.refused).length;
  const fdsDuring = openFds();
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (attackers.every((a) => a.openMs !== undefined) || performance.now() - startedMs > TIMEOUT_MS * 3) {
        clearInterval(check);
        resolve();
      }
    }, 100);
  });
  const longestOpenMs = Math.max(...attackers.map((a) => a.openMs ?? Infinity));
  const stats = latencyStats(during);
  for (const a of attackers) a.socket.destroy();
  await app.close();
  await store.close();
  return {
    scenario: name, connections: CONNECTIONS, held: held, refused_429: refused,
    // Client and server share this process: each held connection is two descriptors here.
    fds_added: fdsDuring - fdsBefore, healthz_p50_ms: stats.p50Ms.toFixed(2), healthz_p99_ms: stats.p99Ms.toFixed(2),
    longest_open_s: Number.isFinite(longestOpenMs) ? (longestOpenMs / 1000).toFixed(1) : 'never',
  };
}

const rows = [
  await scenario('one address', () => '127.0.0.2'),
  await scenario(`${CONNECTIONS} addresses`, loopback),
];
const columns = Object.keys(rows[0]!);
console.log(`\nSlow clients: ${CONNECTIONS} connections trickling a body to /auth/login (1 byte / ${TRICKLE_MS / 1000} s), request timeout ${TIMEOUT_MS / 1000} s, default per-address limit\n`);
console.log(`| ${columns.join(' | ')} |`);
console.log(`| ${columns.map(() => '---').join(' | ')} |`);
for (const row of rows) console.log(`| ${columns.map((c) => row[c]).join(' | ')} |`);
