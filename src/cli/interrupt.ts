/**
 * A long CLI run (bench, loadtest, eval, probe) that the first Ctrl-C stops gracefully: `signal`
 * aborts and the run keeps what it measured; a second Ctrl-C exits at once (Node's default, as
 * the handler is gone by then). Call `dispose()` when the run ends.
 */
export function stopOnFirstInterrupt(message?: string): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = () => {
    process.removeListener('SIGINT', onSigint);
    if (message) process.stderr.write(`\nflexi: ${message}\n`);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.removeListener('SIGINT', onSigint) };
}
