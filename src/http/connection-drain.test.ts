import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionDrain } from './connection-drain.js';

/** A server whose `/stream` writes three chunks, then ends when `finish()` is called. */
function streamingServer(): { server: Server; drain: ConnectionDrain; finish: () => void; started: Promise<void> } {
  let finish!: () => void;
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => { markStarted = resolve; });
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('one,');
    res.write('two,');
    markStarted();
    finish = () => res.end('three');
  });
  return { server, drain: new ConnectionDrain(server), finish: () => finish(), started };
}

let agent: Agent | undefined;
afterEach(() => agent?.destroy());

describe('ConnectionDrain', () => {
  it('lets a response that runs when the server closes finish whole, then ends its keep-alive connection', async () => {
    const { server, drain, finish, started } = streamingServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // An ingress's pool: keeps idle connections for a minute, so only the server can end this one soon.
    agent = new Agent({ keepAlive: true, timeout: 60_000 });
    const body = new Promise<{ text: string; connection: string | undefined; aborted: boolean }>((resolve, reject) => {
      request({ port, host: '127.0.0.1', path: '/stream', agent }, (res) => {
        let text = '';
        let aborted = false;
        res.on('aborted', () => { aborted = true; });
        res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
        res.on('end', () => resolve({ text, connection: res.headers.connection, aborted }));
      }).on('error', reject).end();
    });
    await started;
    drain.beginClose();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    finish();
    const result = await body;
    expect(result).toEqual({ text: 'one,two,three', connection: 'keep-alive', aborted: false });
    // Without the drain the server waits for the agent's 60 s idle time-out (the test would time out).
    await closed;
  });

  it('keeps connections alive while the server is not closing', async () => {
    const { server, finish, started } = streamingServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    agent = new Agent({ keepAlive: true, timeout: 60_000 });
    const pooled = new Promise<number>((resolve) => {
      request({ port, host: '127.0.0.1', path: '/stream', agent }, (res) => {
        res.resume();
        // The socket goes back to the agent's pool instead of closing.
        res.on('end', () => setImmediate(() => resolve(Object.values(agent!.freeSockets).flat().length)));
      }).end();
    });
    await started;
    finish();
    expect(await pooled).toBe(1);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
