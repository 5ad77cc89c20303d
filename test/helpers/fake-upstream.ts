import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A scriptable HTTP server for adapter error paths: each route answers with a status and a list
 * of steps (write bytes, hang, reset the socket, end). Binds 127.0.0.1 on port 0 and records
 * what it received and when clients went away.
 */

export type FakeStep =
  /** Write these bytes (a string is UTF-8 encoded; use Buffers to split multi-byte characters). */
  | { write: string | Uint8Array }
  /** Hold the response open until this promise settles, then go on. */
  | { waitFor: Promise<unknown> }
  /** Stop here and keep the connection open until the client leaves. */
  | { hang: true }
  /** Destroy the socket (the client sees ECONNRESET / "other side closed"). */
  | { reset: true };

export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  /** A JSON body, sent whole (instead of steps). */
  json?: unknown;
  steps?: FakeStep[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** Client port of the connection: equal ports mean a kept-alive connection was reused. */
  remotePort: number | undefined;
}

type Handler = FakeReply | ((request: RecordedRequest) => FakeReply);

export interface FakeUpstream {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  requests: RecordedRequest[];
  /** Responses whose client left before the response ended. */
  readonly disconnects: number;
  /** Responses being written now. */
  readonly inFlight: number;
  /** Sets the reply of `METHOD /path` (path without query). */
  route(methodAndPath: string, handler: Handler): void;
  /** Resolves at the next early client disconnect (or at once if `count` were already seen). */
  waitForDisconnect(count?: number): Promise<void>;
  /** Resolves when a request for this route arrives (or at once if one did). */
  waitForRequest(methodAndPath: string): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const routes = new Map<string, Handler>();
  const requests: RecordedRequest[] = [];
  const requestWaiters: Array<{ key: string; resolve: (r: RecordedRequest) => void }> = [];
  const disconnectWaiters: Array<{ count: number; resolve: () => void }> = [];
  let disconnects = 0;
  let inFlight = 0;

  const onDisconnect = (): void => {
    disconnects++;
    for (const waiter of disconnectWaiters.filter((w) => disconnects >= w.count)) {
      disconnectWaiters.splice(disconnectWaiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      // keep the raw text
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const key = `${req.method} ${path}`;
    const recorded: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body, remotePort: req.socket.remotePort };
    requests.push(recorded);
    for (const waiter of requestWaiters.filter((w) => w.key === key)) {
      requestWaiters.splice(requestWaiters.indexOf(waiter), 1);
      waiter.resolve(recorded);
    }
    const handler = routes.get(key);
    const reply: FakeReply = handler === undefined
      ? { status: 404, json: { error: `no route ${key}` } }
      : typeof handler === 'function' ? handler(recorded) : handler;
    inFlight++;
    let finished = false;
    res.on('close', () => {
      inFlight--;
      if (!finished) onDisconnect();
    });
    res.statusCode = reply.status ?? 200;
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
    if (reply.json !== undefined) {
      res.setHeader('content-type', 'application/json');
      finished = true;
      res.end(JSON.stringify(reply.json));
      return;
    }
    for (const step of reply.steps ?? []) {
      if ('write' in step) {
        // Flushing each step separately is what makes chunk boundaries land where the test wants.
        await new Promise<void>((resolve) => res.write(step.write, () => resolve()));
      } else if ('waitFor' in step) {
        await step.waitFor;
      } else if ('hang' in step) {
        return;
      } else {
        req.socket.destroy();
        return;
      }
    }
    finished = true;
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get disconnects() {
      return disconnects;
    },
    get inFlight() {
      return inFlight;
    },
    route(methodAndPath, handler) {
      routes.set(methodAndPath, handler);
    },
    waitForDisconnect(count = disconnects + 1) {
      if (disconnects >= count) return Promise.resolve();
      return new Promise((resolve) => disconnectWaiters.push({ count, resolve }));
    },
    waitForRequest(methodAndPath) {
      const seen = requests.find((r) => `${r.method} ${r.path}` === methodAndPath);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => requestWaiters.push({ key: methodAndPath, resolve }));
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** NDJSON body steps, one write per object (Ollama streams). */
export function ndjsonSteps(objects: unknown[]): FakeStep[] {
  return objects.map((o) => ({ write: `${JSON.stringify(o)}\n` }));
}

/** SSE body steps, one write per event, then `[DONE]` unless `done` is false (OpenAI streams). */
export function sseSteps(objects: unknown[], done = true): FakeStep[] {
  const steps: FakeStep[] = objects.map((o) => ({ write: `data: ${JSON.stringify(o)}\n\n` }));
  if (done) steps.push({ write: 'data: [DONE]\n\n' });
  return steps;
}
