import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake answers a chat request for one model. */
export type FakeBehaviour = 'ok' | 'refuse' | 'malformed' | 'mid_stream_error' | 'truncate' | 'hang' | 'no_usage';

export interface FakeServerOptions {
  /** Which protocols it answers: `ollama` adds /api/*, `openai` /v1/*. */
  protocols: ('ollama' | 'openai')[];
  /** `families` go into /api/tags details (Ollama lists `clip` for vision models there). */
  models: Record<string, { tokens: number; behaviour?: FakeBehaviour; families?: string[] }>;
  apiKey?: string;
  /** Sent as x-sim-speed on every response. */
  simSpeed?: number;
}

export interface FakeServer {
  url: string;
  /** Chat requests received, in order. */
  requests: { path: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

/** Yields to the event loop so chunks go out as separate writes (no timers, no sleeps). */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function streamOllama(res: ServerResponse, model: string, tokens: number, behaviour: FakeBehaviour): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  for (let i = 0; i < tokens; i++) {
    if (behaviour === 'malformed' && i === 1) {
      res.end('{"message": {"content": "oops"\n');
      return;
    }
    if (behaviour === 'mid_stream_error' && i === 2) {
      res.end(`${JSON.stringify({ error: 'model runner crashed' })}\n`);
      return;
    }
    if (behaviour === 'truncate' && i === 2) {
      res.end();
      return;
    }
    res.write(`${JSON.stringify({ model, message: { role: 'assistant', content: `t${i} ` }, done: false })}\n`);
    await tick();
  }
  res.end(`${JSON.stringify({
    model, message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop',
    total_duration: 2e9, load_duration: 1e6, prompt_eval_count: 12, prompt_eval_duration: 1e8, eval_count: tokens, eval_duration: tokens * 1e7,
  })}\n`);
}

async function streamOpenAi(res: ServerResponse, model: string, tokens: number, behaviour: FakeBehaviour): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
  for (let i = 0; i < tokens; i++) {
    if (behaviour === 'malformed' && i === 1) {
      res.end('data: {not json}\n\n');
      return;
    }
    if (behaviour === 'mid_stream_error' && i === 2) {
      send({ error: { message: 'model runner crashed', type: 'server_error' } });
      res.end();
      return;
    }
    if (behaviour === 'truncate' && i === 2) {
      res.end();
      return;
    }
    send({ id: 'c1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { content: `t${i} ` }, finish_reason: null }] });
    await tick();
  }
  send({ id: 'c1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
  if (behaviour !== 'no_usage') send({ id: 'c1', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: { prompt_tokens: 12, completion_tokens: tokens, total_tokens: tokens + 12 } });
  res.end('data: [DONE]\n\n');
}

/** A tiny Ollama/OpenAI look-alike for the lab tools' tests; binds 127.0.0.1 on a free port. */
export async function startFakeLlmServer(options: FakeServerOptions): Promise<FakeServer> {
  const requests: FakeServer['requests'] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (options.simSpeed !== undefined) res.setHeader('x-sim-speed', String(options.simSpeed));
      const path = req.url ?? '/';
      const isOllama = path.startsWith('/api/') && options.protocols.includes('ollama');
      const isOpenAi = path.startsWith('/v1/') && options.protocols.includes('openai');
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (!isOllama && !isOpenAi) return json(404, { error: 'not found' });
      if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
        return json(401, isOpenAi ? { error: { message: 'Invalid API key.', type: 'authentication_error' } } : { error: 'Invalid API key.' });
      }
      if (path === '/api/version') return json(200, { version: '0.0.0-fake' });
      if (path === '/api/tags') {
        return json(200, {
          models: Object.entries(options.models).map(([name, m]) => ({ name, model: name, ...(m.families ? { details: { family: m.families[0], families: m.families } } : {}) })),
        });
      }
      if (path === '/v1/models') return json(200, { object: 'list', data: Object.keys(options.models).map((id) => ({ id, object: 'model' })) });
      if (path === '/api/ps') return json(200, { models: [] });
      const text = await readBody(req);
      // GETs and probes without a body (a node monitor) are no chat requests.
      if (text === '') return json(404, { error: 'not found' });
      const body = JSON.parse(text) as Record<string, unknown>;
      if (path === '/api/show') {
        const shown = options.models[String(body.model ?? body.name).replace(/:latest$/, '')];
        if (!shown) return json(404, { error: 'model not found' });
        return json(200, { details: { families: shown.families ?? [] }, capabilities: shown.families?.includes('clip') ? ['completion', 'vision'] : ['completion'] });
      }
      requests.push({ path, body });
      const model = String(body.model);
      const spec = options.models[model] ?? options.models[model.replace(/:latest$/, '')];
      if (!spec) return json(404, isOpenAi ? { error: { message: `model "${model}" not found` } } : { error: `model "${model}" not found, try pulling it first` });
      const behaviour = spec.behaviour ?? 'ok';
      if (behaviour === 'refuse') {
        res.setHeader('retry-after', '7');
        return json(503, isOpenAi ? { error: { message: 'The system is full; please retry later.' } } : { error: 'server busy' });
      }
      if (behaviour === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (isOllama) await streamOllama(res, model, spec.tokens, behaviour);
      else await streamOpenAi(res, model, spec.tokens, behaviour);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
