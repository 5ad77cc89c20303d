import { describeBackendConformance } from '../../src/backends/conformance.js';
import { createBackend } from '../../src/backends/factory.js';
import { configSchema } from '../../src/config/schema.js';
import { TINY } from '../../src/lab/sim/profiles.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';

/** Both adapters against the real `flexi sim` server: Ollama adapter → its /api, OpenAI adapter → its /v1. */

const config = configSchema.parse({});

function inFlight(sim: SimServer): number {
  return sim.state.info().models.reduce((sum, m) => sum + m.in_flight + m.queued + m.waiting_for_load, 0);
}

describeBackendConformance('sim adapter → flexi sim /api', async () => {
  const sim = await startSimServer({ port: 0, profile: TINY, speed: 20, seed: 1 });
  const backend = createBackend({ name: 'sim1', type: 'sim', url: sim.url }, config);
  return {
    backend,
    chatModel: 'tiny',
    embedModel: 'embed',
    upstreamRequestCount: () => sim.state.counters.requests,
    upstreamInFlight: () => inFlight(sim),
    close: async () => {
      await backend.close();
      await sim.close();
    },
  };
});

describeBackendConformance('openai adapter → flexi sim /v1', async () => {
  const sim = await startSimServer({ port: 0, profile: TINY, speed: 20, seed: 1 });
  const backend = createBackend({ name: 'sim1', type: 'openai', url: `${sim.url}/v1` }, config);
  return {
    backend,
    chatModel: 'tiny:latest',
    embedModel: 'embed',
    upstreamRequestCount: () => sim.state.counters.requests,
    upstreamInFlight: () => inFlight(sim),
    close: async () => {
      await backend.close();
      await sim.close();
    },
  };
});
