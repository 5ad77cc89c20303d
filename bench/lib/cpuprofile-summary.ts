/**
 * Self time of a V8 .cpuprofile (node --cpu-prof) grouped by function and by file:
 *
 *   npx tsx bench/lib/cpuprofile-summary.ts bench/out/prof/CPU.….cpuprofile [top=40]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: tsx bench/lib/cpuprofile-summary.ts FILE.cpuprofile [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 40);
/** `ALL=1`: inclusive time of every JavaScript function, not only the project's. */
const allFrames = process.env.ALL === '1';
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
}

const shortUrl = (url: string) => url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, 'nm:').replace(/^.*\/(src|dist)\//, '$1/');
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0;
let idle = 0;
for (const [id, us] of selfUs) {
  const frame = byId.get(id)!.callFrame;
  total += us;
  if (frame.functionName === '(idle)') {
    idle += us;
    continue;
  }
  const where = frame.url ? shortUrl(frame.url) : '(native)';
  const key = `${frame.functionName || '(anonymous)'}  ${where}:${frame.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const fileKey = where.startsWith('nm:') ? where.split('/').slice(0, where.startsWith('nm:@') ? 2 : 1).join('/') : where;
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
}
const busy = total - idle;
const print = (title: string, map: Map<string, number>) => {
  process.stdout.write(`\n${title} (share of busy time ${(busy / 1000).toFixed(0)} ms; idle ${(idle / 1000).toFixed(0)} ms)\n`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    if (key.startsWith('(idle)')) continue;
    process.stdout.write(`${((us / busy) * 100).toFixed(1).padStart(6)} %  ${key}\n`);
  }
};
// Inclusive time of the project's own functions (a function on the stack twice counts once).
const inclusive = new Map<string, number>();
const walk = (id: number, onStack: Set<string>): number => {
  const node = byId.get(id)!;
  let us = selfUs.get(id) ?? 0;
  const frame = node.callFrame;
  const own = allFrames ? frame.url !== '' : /\/(src|dist)\//.test(frame.url) && !frame.url.includes('node_modules');
  const key = `${frame.functionName || '(anonymous)'}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
  const counted = own && !onStack.has(key);
  if (counted) onStack.add(key);
  for (const child of node.children ?? []) us += walk(child, onStack);
  if (counted) {
    onStack.delete(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
  return us;
};
walk(profile.nodes[0]!.id, new Set());

print('self time by file / package', byFile);
print('self time by function', byFunction);
print(allFrames ? 'inclusive time by function' : 'inclusive time of src/ functions', inclusive);
