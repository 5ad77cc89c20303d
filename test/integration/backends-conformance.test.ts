import { describeBackendConformance } from '../../src/backends/conformance.js';
import { HttpClient } from '../../src/backends/http-client.js';
import { OllamaBackend } from '../../src/backends/ollama.backend.js';
import { OpenAiBackend } from '../../src/backends/openai.backend.js';
import { startFakeModelServer } from '../helpers/fake-model-server.js';

function client(baseUrl: string): HttpClient {
  return new HttpClient({ nodeName: 'fake', baseUrl, connections: 8, firstByteTimeoutMs: 10_000, idleTimeoutMs: 10_000 });
}

describeBackendConformance('ollama adapter → fake model server', async () => {
  const server = await startFakeModelServer();
  const backend = new OllamaBackend('fake', client(server.url));
  return {
    backend,
    chatModel: 'fake-chat',
    embedModel: 'fake-embed:latest',
    upstreamRequestCount: () => server.requestCount,
    upstreamInFlight: () => server.inFlight,
    close: async () => {
      await backend.close();
      await server.close();
    },
  };
});

describeBackendConformance('openai adapter → fake model server /v1', async () => {
  const server = await startFakeModelServer();
  const backend = new OpenAiBackend('fake', client(`${server.url}/v1`));
  return {
    backend,
    chatModel: 'fake-chat',
    embedModel: 'fake-embed',
    upstreamRequestCount: () => server.requestCount,
    upstreamInFlight: () => server.inFlight,
    close: async () => {
      await backend.close();
      await server.close();
    },
  };
});
