import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small load balancer for the HA test and bench, as an ingress would be: round robin over the
 * replicas, and a request whose connection fails before any response byte (refused, reset) is
 * sent again to the next replica. Once the response has begun it is passed through as it comes;
 * if the replica dies then, the client's connection is cut (as an ingress would).
 */
export class RoundRobinProxy {
  private server: Server | undefined;
  private next = 0;
  private readonly targets: string[] = [];
  /** Requests sent again to another replica because the first failed before any byte. */
  retried = 0;
  /** Requests cut after their response had begun (the replica died mid-answer). */
  cut = 0;
  /** Requests that found no replica answering at all (502). */
  failed = 0;
  /** What went wrong, one line per failure (for a test's failure message). */
  readonly log: string[] = [];

  url = '';

  /** Starts the counters and the log afresh (one test's events are not the next one's). */
  resetCounts(): void {
    this.retried = 0;
    this.cut = 0;
    this.failed = 0;
    this.log.length = 0;
  }

  setTargets(urls: readonly string[]): void {
    this.targets.splice(0, this.targets.length, ...urls);
  }

  removeTarget(url: string): void {
    const index = this.targets.indexOf(url);
    if (index >= 0) this.targets.splice(index, 1);
  }

  addTarget(url: string): void {
    if (!this.targets.includes(url)) this.targets.push(url);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    // Long streams: no server-side time-outs (the client decides).
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 0;
    // Client connections stay open while idle: a client's POST sent just as the proxy closed an idle
    // connection would fail in the client, a race of this test's harness, not of the replicas.
    this.server.keepAliveTimeout = 0;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    // Each replica at most twice (it may be restarting), never more than 10 tries.
    const tries = Math.min(10, Math.max(1, this.targets.length * 2));
    for (let attempt = 0; attempt < tries; attempt++) {
      const target = this.targets[this.next++ % Math.max(1, this.targets.length)];
      if (!target) break;
      if (attempt > 0) this.retried++;
      const outcome = await this.forward(target, req, body, res);
      if (outcome !== 'retry') return;
      await new Promise((r) => setTimeout(r, 20));
    }
    this.failed++;
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'no replica answered' }));
  }

  /** 'retry' when the connection failed before any response byte; otherwise the response was passed on (or cut). */
  private forward(target: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<'done' | 'retry'> {
    return new Promise((resolve) => {
      const url = new URL(req.url ?? '/', target);
      const started = performance.now();
      const upstream = httpRequest(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        response.pipe(res);
        response.on('error', () => undefined);
        response.on('aborted', () => {
          const at = `${new Date().toISOString()} ${target}: ${response.statusCode} response aborted after ${bytes} bytes, ${Math.round(performance.now() - started)} ms after it was sent`;
          // The replica closed its connection after the client already had the whole response: nothing was lost.
          if (res.writableEnded) {
            this.log.push(`${at} (the client had it all)`);
            return;
          }
          this.cut++;
          this.log.push(at);
          res.destroy();
        });
        response.on('end', () => resolve('done'));
        response.on('close', () => resolve('done'));
      });
      let responded = false;
      upstream.on('response', () => {
        responded = true;
      });
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        if (responded) {
          this.cut++;
          this.log.push(`${target}: ${error.code ?? error.message} after the response began`);
          res.destroy();
          resolve('done');
        } else {
          this.log.push(`${target}: ${error.code ?? error.message} before any byte (retried)`);
          resolve('retry');
        }
      });
      // The client went away: so does the upstream request (and the replica frees its slot).
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body);
    });
  }
}
