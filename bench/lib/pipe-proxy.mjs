// The baseline for gateway overhead: a bare Node reverse proxy that parses nothing beyond the
// HTTP head (node:http does that) and pipes bodies both ways over a keep-alive agent. It is the
// practical floor for any Node gateway: whatever Flexi adds beyond this is Flexi's own work.
//
//   node bench/lib/pipe-proxy.mjs <upstream-url>     prints {"url": "..."} once listening
import http from 'node:http';

const upstream = new URL(process.argv[2] ?? 'http://127.0.0.1:11500');
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 30_000 });

const server = http.createServer((req, res) => {
  const proxied = http.request({
    host: upstream.hostname, port: upstream.port, method: req.method, path: req.url,
    headers: { ...req.headers, host: upstream.host }, agent,
  }, (upstreamRes) => {
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
    upstreamRes.pipe(res);
  });
  proxied.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  // A client that leaves mid-stream must cancel the upstream request, as a gateway would.
  res.on('close', () => { if (!res.writableFinished) proxied.destroy(); });
  req.pipe(proxied);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(0));
