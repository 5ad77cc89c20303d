import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A file server for model pulls on 127.0.0.1: answers Range requests with 206 (416 past the
 * end), and can drop the connection part-way through the next full download.
 */
export interface ModelFileServer {
  url: string;
  /** Range headers seen, in order (undefined for a full download). */
  readonly ranges: (string | undefined)[];
  /** The next full download stops after this many bytes (a dropped connection). */
  cutNextAfter(bytes: number): void;
  close(): Promise<void>;
}

/**
 * `files` maps a path (`/m/tiny.gguf`) to its bytes; `other` answers any other path (default 404).
 */
export async function startModelFileServer(
  files: Record<string, Buffer>, other?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<ModelFileServer> {
  const ranges: (string | undefined)[] = [];
  let cutAfterBytes: number | undefined;
  const serve = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    ranges.push(req.headers.range);
    const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (match) {
      const start = Number(match[1]);
      if (start >= body.length) { res.writeHead(416).end(); return; }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    if (cutAfterBytes !== undefined) {
      const cut = cutAfterBytes;
      cutAfterBytes = undefined;
      // A FIN after the bytes (end), not a reset (destroy): a reset may reach the client before it has
      // read what was sent, and then no byte of the cut download arrives — on a busy machine, often.
      res.write(body.subarray(0, cut), () => res.socket?.end());
      return;
    }
    res.end(body);
  };
  const server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (body) serve(req, res, body);
    else if (other) other(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ranges,
    cutNextAfter: (bytes) => { cutAfterBytes = bytes; },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
