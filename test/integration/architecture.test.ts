import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import rules of docs/architecture.md: each folder of src/ may import only the folders in
 * its row (lib is allowed everywhere). A change that needs a new arrow changes the design first.
 */
const ALLOWED: Record<string, string[]> = {
  lib: [],
  core: ['lib'],
  config: ['lib', 'core'],
  api: ['lib', 'core'],
  store: ['lib', 'core'],
  scheduler: ['lib', 'core'],
  telemetry: ['lib', 'core'],
  backends: ['lib', 'core', 'api', 'config'],
  lab: ['lib', 'core', 'api', 'backends'],
  services: ['lib', 'core', 'api', 'config', 'scheduler', 'backends', 'store', 'telemetry', 'rag'],
  http: ['lib', 'core', 'api', 'config', 'services', 'telemetry'],
  cli: ['*'],
  rag: ['lib', 'core'],
};

const ROOT = new URL('../../', import.meta.url).pathname;
const SRC = join(ROOT, 'src/');
const WEB_SRC = join(ROOT, 'web/src/');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) ? [path] : [];
  });
}

/** Every .ts file under dir, tests included (rules about how code uses services hold in tests too). */
function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return testFiles(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

/** The files a module imports by relative path (type-only imports count: they are loops for a reader too). */
function localImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const targets: string[] = [];
  for (const match of source.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
    const base = resolve(dirname(file), match[1]!);
    const candidates = [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.tsx'), `${base}.ts`, `${base}.tsx`, base];
    const hit = candidates.find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
    if (hit) targets.push(hit);
  }
  return targets;
}

/** Strongly connected components with more than one module (Tarjan): each one is an import loop. */
function importCycles(modules: readonly string[]): string[][] {
  const graph = new Map(modules.map((file) => [file, localImports(file)]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(relative(ROOT, member));
    } while (member !== node);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

describe('architecture', () => {
  it('every src/ folder imports only what docs/architecture.md allows', () => {
    const violations: string[] = [];
    for (const file of files(SRC)) {
      const rel = relative(SRC, file);
      const folder = rel.includes('/') ? rel.split('/')[0]! : '';
      const allowed = ALLOWED[folder];
      if (!allowed || allowed.includes('*')) continue;
      const source = readFileSync(file, 'utf8');
      for (const match of source.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
        const target = relative(SRC, join(file, '..', match[1]!));
        const targetFolder = target.includes('/') ? target.split('/')[0]! : target.replace(/\.js$/, '');
        if (targetFolder === folder || targetFolder.startsWith('..')) continue;
        if (!allowed.includes(targetFolder)) violations.push(`${rel} imports ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('only src/config reads process.env', () => {
    const offenders = files(SRC).filter((file) => !relative(SRC, file).startsWith('config/') && !relative(SRC, file).startsWith('cli/') && /process\.env/.test(readFileSync(file, 'utf8')));
    expect(offenders.map((f) => relative(SRC, f))).toEqual([]);
  });

  it('has no import loops, in src/ or in the web app', () => {
    expect(importCycles([...files(SRC), ...files(WEB_SRC)])).toEqual([]);
  });

  it('re-exports nothing (a re-export is a back door past the import rules); src/api/index.ts is the one barrel', () => {
    const offenders: string[] = [];
    for (const file of [...files(SRC), ...files(WEB_SRC)]) {
      const rel = relative(ROOT, file);
      // The web's API client hands its pages the wire types of src/api/ (the shared definition) with it.
      if (rel === 'src/api/index.ts' || rel === 'web/src/api.ts') continue;
      const source = readFileSync(file, 'utf8');
      const imported = new Set([...source.matchAll(/^import\s+(?:type\s+)?\{([^}]*)\}/gm)].flatMap((m) => m[1]!.split(',').map((name) => name.replace(/^\s*type\s+/, '').split(/\s+as\s+/).pop()!.trim())));
      for (const match of source.matchAll(/^export\s+(?:type\s+)?(?:\*|\{([^}]*)\})\s*(from\s*'[^']+')?/gm)) {
        const names = (match[1] ?? '').split(',').map((name) => name.trim().split(/\s+as\s+/)[0]!.replace(/^type\s+/, '')).filter(Boolean);
        if (match[2] || names.some((name) => imported.has(name))) offenders.push(`${rel}: ${match[0].trim()}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('runs SQL only in src/store: no query building, no `store.db` and no repository built elsewhere', () => {
    const query = /sql`|\.(selectFrom|insertInto|updateTable|deleteFrom)\(|\bstore\.db\b|\bdb\.\w+\(|new \w+Repository\(/;
    const offenders = files(SRC)
      .filter((file) => !relative(SRC, file).startsWith('store/'))
      .flatMap((file) => readFileSync(file, 'utf8').split('\n').map((line, i) => ({ line, at: `${relative(SRC, file)}:${i + 1}` })))
      .filter(({ line }) => !/^\s*(\/\*|\*|\/\/)/.test(line) && query.test(line))
      .map(({ at, line }) => `${at}: ${line.trim()}`);
    expect(offenders).toEqual([]);
  });

  it('asserts no store-backed service into existence (`identity.audit!`): with the store required they are always there', () => {
    const storeBacked = /\b(identity|deps|services|app|context)\.(keys|users|sessions|audit|admin|usageReport|privacy|chats|agreement|store)!/;
    const offenders = [...files(SRC), ...testFiles(join(ROOT, 'test/')).filter((file) => !file.endsWith('architecture.test.ts'))]
      .flatMap((file) => readFileSync(file, 'utf8').split('\n').map((line, i) => ({ line, at: `${relative(ROOT, file)}:${i + 1}` })))
      .filter(({ line }) => storeBacked.test(line))
      .map(({ at, line }) => `${at}: ${line.trim()}`);
    expect(offenders).toEqual([]);
  });

  it('wires services in one place: only services/build-services.ts builds identity, privacy and the model manager', () => {
    const wiring = /\b(createIdentity|createPrivacyService)\(|ModelManagerService\.fromBackends\(|new (ChatService|AgreementService|InferenceService|ModelRegistry|Scheduler)\(/;
    const home = ['services/build-services.ts', 'services/identity/identity.ts', 'services/privacy/create-privacy-service.ts', 'services/models/model-manager.service.ts'];
    const offenders = files(SRC)
      // scheduler/ builds its own Scheduler in its test harness; everything else gets one from buildServices.
      .filter((file) => !home.includes(relative(SRC, file)) && !relative(SRC, file).startsWith('scheduler/') && wiring.test(readFileSync(file, 'utf8')))
      .map((file) => relative(SRC, file));
    expect(offenders).toEqual([]);
  });

  it('every src/ folder has a README that says what it holds and may import', () => {
    const folders = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory());
    expect(folders.filter((name) => !existsSync(join(SRC, name, 'README.md')))).toEqual([]);
  });

  it('test support (anything importing vitest) stays out of dist/', () => {
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { exclude: string[] };
    const excluded = build.exclude.map((pattern) => new RegExp(`^${pattern.replace(/[.]/g, '\\.').replace(/\*\*\//g, '(?:.*/)?').replace(/\*/g, '[^/]*')}$`));
    const shipped = files(SRC)
      .filter((file) => /from\s+'vitest'/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(ROOT, file))
      .filter((rel) => !excluded.some((pattern) => pattern.test(rel)));
    expect(shipped).toEqual([]);
  });
});
