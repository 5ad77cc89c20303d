// Preloaded into the measured gateway (`node --expose-gc --import …`): SIGUSR2 runs a full GC and
// prints the memory usage on stderr, so the benchmark samples RSS after garbage has been collected.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  const m = process.memoryUsage();
  process.stderr.write(`BENCH_MEM ${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers })}\n`);
});
