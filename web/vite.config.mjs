// Builds the web UI into web/dist (served by Flexi at /). Every text asset is also written
// pre-compressed (.br, .gz) so Flexi can serve it without compressing per request.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig } from 'vite';

const COMPRESSIBLE = /\.(js|css|html|svg|json|txt|ttf)$/;

function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function precompress() {
  let outDir = 'dist';
  return {
    name: 'flexi-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const sizes = { js: 0, jsGzip: 0, css: 0, cssGzip: 0 };
      for (const file of filesUnder(outDir)) {
        if (!COMPRESSIBLE.test(file)) continue;
        const data = readFileSync(file);
        const gzip = gzipSync(data, { level: 9 });
        writeFileSync(`${file}.gz`, gzip);
        writeFileSync(`${file}.br`, brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
        const kind = file.endsWith('.js') ? 'js' : file.endsWith('.css') ? 'css' : undefined;
        if (kind) {
          sizes[kind] += data.length;
          sizes[`${kind}Gzip`] += gzip.length;
        }
      }
      // The chat page's own load is the entry chunk plus what index.html links; the rest is lazy.
      const html = readFileSync(join(outDir, 'index.html'), 'utf8');
      const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
      const initialGzip = initial.reduce((sum, file) => sum + gzipSync(readFileSync(join(outDir, file)), { level: 9 }).length, 0);
      const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
      console.log(`web: initial load ${initial.map((f) => relative('assets', f)).join(', ')}: ${kb(initialGzip)} gzip`);
      console.log(`web: all JS ${kb(sizes.js)} (${kb(sizes.jsGzip)} gzip), all CSS ${kb(sizes.css)} (${kb(sizes.cssGzip)} gzip)`);
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: Object.fromEntries(['/v1', '/api', '/auth', '/admin/v1', '/ui'].map((path) => [path, 'http://127.0.0.1:8400'])),
  },
  plugins: [precompress()],
});
