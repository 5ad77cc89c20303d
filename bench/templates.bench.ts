/**
 * What a prompt template costs per call: N sequential non-streamed chat calls through the
 * in-process gateway (Fastify inject, no sockets) to a scripted node, (a) straight to the model,
 * (b) to a global template (`template:<name>`: one template look-up, parameter checks, filling),
 * (c) to a course template used by a member (plus the member's groups) and (d) straight to the
 * model with `x-flexi-course` (the course check in the auth hook). SQLite in a temporary file,
 * as a single-node install runs. Prints a markdown table of latency per call.
 *
 *   npm run bench:templates [-- --calls 2000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import { openDatabase } from '../src/store/store.js';
import { ScriptedBackend } from '../test/helpers/scripted-backend.js';

const { values: args } = parseArgs({ options: { calls: { type: 'string', default: '2000' } } });
const calls = Number(args.calls);
const dir = mkdtempSync(join(tmpdir(), 'flexi-bench-templates-'));
const store = await openDatabase(join(dir, 'flexi.db'));
await store.migrate();
const app = await createApp({ config: loadConfig({ fileText: 'roles:\n  bench: { description: no limits, models: ["*"] }\n' }), backends: [new ScriptedBackend({ models: ['tiny:latest'] })], store });
const admin = app.identity.admin;
const operator = (await admin.createKey('bench', { name: 'admin', role: 'admin' })).key;
const student = await admin.addUser('bench', { email: 'student@uni.example', roles: ['bench'], password: 'correct horse battery' });
const studentKey = (await admin.createKey('bench', { user: student.id, name: 'student' })).key;
const course = (await admin.createKey('bench', { name: 'moodle', role: 'bench', scopes: ['course:stats-*'] })).key;
await admin.createGroup('bench', { name: 'stats-ws26', kind: 'course' });
await admin.addMember('bench', 'stats-ws26', student.id, 'member');

async function inject(key: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  const response = await app.server.inject({
    method: 'POST', url: '/v1/chat/completions', payload: JSON.stringify(body),
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
  });
  return response.statusCode;
}

const definition = {
  model: 'tiny', system: 'You grade {{subject}} essays for {{level}} students.', user: 'Essay:\n{{input}}',
  parameters: [{ name: 'subject', type: 'string', required: true, max_length: 40 }, { name: 'level', type: 'enum', values: ['beginner', 'advanced'], default: 'beginner' }],
};
await app.server.inject({ method: 'POST', url: '/admin/v1/templates', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'feedback', ...definition }) });
await app.server.inject({ method: 'POST', url: '/admin/v1/templates', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'stats-feedback', group: 'stats-ws26', ...definition }) });

const messages = [{ role: 'user', content: 'Water boils at 100 degrees.' }];
const cases: [string, () => Promise<number>][] = [
  ['model `tiny` (baseline)', () => inject(studentKey, { model: 'tiny', messages })],
  ['`template:feedback` (global)', () => inject(studentKey, { model: 'template:feedback', messages, template_params: { subject: 'Physics' } })],
  ['`template:stats-feedback` (course, member)', () => inject(studentKey, { model: 'template:stats-feedback', messages, template_params: { subject: 'Physics' } })],
  ['model `tiny` + `x-flexi-course`', () => inject(course, { model: 'tiny', messages }, { 'x-flexi-course': 'stats-ws26' })],
];

// Warm up, then interleave the cases call by call, so drift on a shared machine hits all alike.
for (const [name, run] of cases) {
  for (let i = 0; i < Math.min(200, calls); i += 1) {
    const status = await run();
    if (status !== 200) throw new Error(`${name}: status ${status}`);
  }
}
const times: number[][] = cases.map(() => []);
for (let i = 0; i < calls; i += 1) {
  for (let k = 0; k < cases.length; k += 1) {
    const index = (i + k) % cases.length;
    const begin = performance.now();
    if (await cases[index]![1]() !== 200) throw new Error(`${cases[index]![0]}: not 200`);
    times[index]!.push(performance.now() - begin);
  }
}
const quantile = (list: number[], q: number) => list[Math.min(list.length - 1, Math.floor(q * list.length))]!;
const rows = cases.map(([name], index) => {
  const sorted = times[index]!.sort((a, b) => a - b);
  const base = [...times[0]!].sort((a, b) => a - b);
  const over = index === 0 ? '—' : `${(quantile(sorted, 0.5) - quantile(base, 0.5)) >= 0 ? '+' : ''}${(quantile(sorted, 0.5) - quantile(base, 0.5)).toFixed(3)}`;
  return `| ${name} | ${calls} | ${quantile(sorted, 0.5).toFixed(3)} | ${quantile(sorted, 0.95).toFixed(3)} | ${quantile(sorted, 0.99).toFixed(3)} | ${over} |`;
});
console.log('\n| call | calls | p50 ms | p95 ms | p99 ms | p50 over baseline ms |\n| --- | --- | --- | --- | --- | --- |');
console.log(rows.join('\n'));
await app.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
