/**
 * Images for vision models through every node type, from both official clients: a `flexi sim`
 * (its llava counts 576 prompt tokens per image it took), an Ollama-type fake (which lists
 * `clip` among llava's families, as Ollama's /api/tags does) and an OpenAI-type fake (which says
 * nothing about vision: `chat.vision_models` does). The fakes record what arrived, byte for byte.
 * Text-only models, broken images, too many or too large ones, and remote URLs get 400s that
 * name the model or the field, and nothing reaches a node.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend } from '../../src/backends/factory.js';
import { loadConfig } from '../../src/config/load.js';
import { sniffImageFormat } from '../../src/core/images.js';
import { startSimServer, type SimServer } from '../../src/lab/sim/sim-server.js';
import { TINY } from '../../src/lab/sim/profiles.js';
import { startFakeLlmServer, type FakeServer } from '../helpers/fake-llm-server.js';
import { TEST_KEY, startGateway, type TestGateway } from '../helpers/gateway.js';

/** A real 1×1 PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const PNG_BYTES = Buffer.from(PNG, 'base64');
const NOT_AN_IMAGE = Buffer.from('GIF-but-not-really, just text that claims to be an image').toString('base64');

let sim: SimServer;
let fakeOllama: FakeServer;
let fakeOpenAi: FakeServer;
let imageHost: Server;
let imageUrl: string;
let gateway: TestGateway;
let fetching: TestGateway;
let openai: OpenAI;
let ollama: Ollama;

/** vision model, text-only model, node type. */
const NODES = [
  ['llava', 'tiny', 'sim'],
  ['llava-o', 'text-o', 'ollama-type fake'],
  ['llava-v', 'text-v', 'openai-type fake'],
] as const;

function nodesYaml(): string {
  return `nodes:
  - { name: sim, type: sim, url: "${sim.url}", models: [llava, tiny] }
  - { name: fake-ollama, type: ollama, url: "${fakeOllama.url}" }
  - { name: fake-openai, type: openai, url: "${fakeOpenAi.url}/v1" }
chat:
  vision_models: ["llava-v*"]
  max_images_per_request: 3
  max_image_bytes: 2048
`;
}

async function start(extra = ''): Promise<TestGateway> {
  const fileText = nodesYaml() + extra;
  const config = loadConfig({ fileText });
  return startGateway(config.nodes!.map((node) => createBackend(node, config)), { config: { fileText } });
}

beforeAll(async () => {
  const llava = { ...TINY.models.find((m) => m.name === 'big:latest')!, name: 'llava:latest', capabilities: ['completion', 'vision'] };
  sim = await startSimServer({ port: 0, profile: { ...TINY, memoryGb: 100, models: [...TINY.models, llava] }, speed: 50, seed: 3 });
  fakeOllama = await startFakeLlmServer({ protocols: ['ollama'], models: { 'llava-o': { tokens: 3, families: ['llama', 'clip'] }, 'text-o': { tokens: 3, families: ['llama'] } } });
  fakeOpenAi = await startFakeLlmServer({ protocols: ['openai'], models: { 'llava-v': { tokens: 3 }, 'text-v': { tokens: 3 } } });
  imageHost = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'image/png' });
    res.end(PNG_BYTES);
  });
  await new Promise<void>((resolve) => imageHost.listen(0, '127.0.0.1', resolve));
  imageUrl = `http://127.0.0.1:${(imageHost.address() as AddressInfo).port}/cat.png`;
  gateway = await start();
  fetching = await start('  fetch_image_urls: true\n');
  openai = new OpenAI({ apiKey: TEST_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  ollama = new Ollama({ host: gateway.url, headers: { Authorization: `Bearer ${TEST_KEY}` } as Record<string, string> });
});

afterAll(async () => {
  await gateway?.close();
  await fetching?.close();
  await sim?.close();
  await fakeOllama?.close();
  await fakeOpenAi?.close();
  await new Promise<void>((resolve) => (imageHost ? imageHost.close(() => resolve()) : resolve()));
});

/** What the node behind `model` received last, as base64 images (either protocol's shape). */
function imagesReceived(server: FakeServer): string[] {
  const body = server.requests.at(-1)!.body as { messages: Array<{ images?: string[]; content?: unknown }> };
  const user = body.messages.at(-1)!;
  if (user.images) return user.images;
  return (user.content as Array<{ type: string; image_url?: { url: string } }>)
    .filter((part) => part.type === 'image_url').map((part) => part.image_url!.url.replace(/^data:image\/png;base64,/, ''));
}

function fakeOf(model: string): FakeServer | undefined {
  return model === 'llava-o' || model === 'text-o' ? fakeOllama : model === 'llava-v' || model === 'text-v' ? fakeOpenAi : undefined;
}

async function openAiPromptTokens(model: string, withImage: boolean): Promise<number> {
  const content: OpenAI.ChatCompletionContentPart[] = [{ type: 'text', text: 'What is in this picture?' }];
  if (withImage) content.push({ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } });
  const completion = await openai.chat.completions.create({ model, messages: [{ role: 'user', content }], max_tokens: 4, seed: 1 });
  return completion.usage!.prompt_tokens;
}

describe.each(NODES)('%s and %s on the %s', (vision, textOnly) => {
  it('the openai client sends an image that arrives at the node intact', async () => {
    const fake = fakeOf(vision);
    const withImage = await openAiPromptTokens(vision, true);
    if (fake) {
      expect(imagesReceived(fake)).toEqual([PNG]);
      expect(fake.requests.at(-1)!.body.model).toMatch(new RegExp(`^${vision}`));
    } else {
      // The sim's llava charges 576 prompt tokens for each image it took.
      expect(withImage - (await openAiPromptTokens(vision, false))).toBe(576);
    }
  });

  it('the ollama client sends an image (bytes) that arrives at the node intact', async () => {
    const fake = fakeOf(vision);
    const reply = await ollama.chat({ model: vision, messages: [{ role: 'user', content: 'Describe it.', images: [new Uint8Array(PNG_BYTES)] }], options: { num_predict: 4 } });
    expect(reply.done).toBe(true);
    if (fake) expect(imagesReceived(fake)).toEqual([PNG]);
    else {
      const without = await ollama.chat({ model: vision, messages: [{ role: 'user', content: 'Describe it.' }], options: { num_predict: 4 } });
      expect(reply.prompt_eval_count - without.prompt_eval_count).toBe(576);
    }
  });

  it('an image for the text-only model gets 400 naming the model, from both clients, and reaches no node', async () => {
    const fake = fakeOf(textOnly);
    const before = fake?.requests.length;
    const error = await openai.chat.completions.create({
      model: textOnly, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }],
    }).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('model_without_vision');
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toContain(`'${textOnly}'`);
    const ollamaError = await ollama.chat({ model: textOnly, messages: [{ role: 'user', content: 'hi', images: [PNG] }] }).catch((e: unknown) => e as Error & { status_code?: number });
    expect((ollamaError as { status_code?: number }).status_code).toBe(400);
    expect((ollamaError as Error).message).toContain(`'${textOnly}'`);
    if (fake) expect(fake.requests.length).toBe(before);
  });
});

describe('what the gateway says about vision', () => {
  it('/v1/models marks the vision models and only them', async () => {
    const models = await openai.models.list();
    const capabilities = Object.fromEntries(models.data.map((m) => [m.id, (m as unknown as { capabilities: string[] }).capabilities]));
    for (const [vision, textOnly] of NODES) {
      expect(capabilities[vision]).toContain('vision');
      expect(capabilities[textOnly]).not.toContain('vision');
    }
  });

  it('/api/show lists vision for llava on every node type', async () => {
    for (const [vision, textOnly] of NODES) {
      expect((await ollama.show({ model: vision })).capabilities).toContain('vision');
      expect((await ollama.show({ model: textOnly })).capabilities ?? []).not.toContain('vision');
    }
  });
});

describe('bad images', () => {
  async function status(body: unknown, url = gateway.url): Promise<{ status: number; error: { message: string; param: string | null; code: string } }> {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    return { status: response.status, error: ((await response.json()) as { error: { message: string; param: string | null; code: string } }).error };
  }
  const withImages = (...urls: string[]) => ({
    model: 'llava-o', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, ...urls.map((url) => ({ type: 'image_url', image_url: { url } }))] }],
  });

  it('refuses text that only claims to be an image, naming the field', async () => {
    const before = fakeOllama.requests.length;
    const { status: code, error } = await status(withImages(`data:image/gif;base64,${NOT_AN_IMAGE}`));
    expect(code).toBe(400);
    expect(error.param).toBe('messages[0].images[0]');
    expect(error.message).toMatch(/not a PNG, JPEG, WebP or GIF/);
    expect(fakeOllama.requests.length).toBe(before);
  });

  it('refuses more images than chat.max_images_per_request and larger ones than chat.max_image_bytes', async () => {
    const png = `data:image/png;base64,${PNG}`;
    const many = await status(withImages(png, png, png, png));
    expect(many.status).toBe(400);
    expect(many.error.message).toMatch(/At most 3 images/);
    const big = Buffer.concat([PNG_BYTES, Buffer.alloc(4096)]).toString('base64');
    const large = await status(withImages(`data:image/png;base64,${big}`));
    expect(large.status).toBe(400);
    expect(large.error.message).toMatch(/at most 2048 bytes/);
  });

  it('refuses an http image URL unless the operator allows fetching, and never fetches a loopback address', async () => {
    let fetched = 0;
    imageHost.on('request', () => fetched++);
    const off = await status(withImages(imageUrl));
    expect(off.status).toBe(400);
    expect(off.error.message).toContain('chat.fetch_image_urls');
    const loopback = await status(withImages(imageUrl), fetching.url);
    expect(loopback.status).toBe(400);
    expect(loopback.error.param).toBe('messages[0].content[1].image_url.url');
    expect(loopback.error.message).toMatch(/not public/);
    expect(fetched).toBe(0);
  });

  it('fetches an allowed http image URL and passes the image on as data', async () => {
    const allowed = await start('  fetch_image_urls: true\nmodels:\n  pull:\n    allow_networks: ["127.0.0.0/8"]\n');
    try {
      const client = new OpenAI({ apiKey: TEST_KEY, baseURL: `${allowed.url}/v1`, maxRetries: 0 });
      await client.chat.completions.create({ model: 'llava-o', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: imageUrl } }] }] });
      const received = imagesReceived(fakeOllama);
      expect(received).toEqual([PNG]);
      expect(sniffImageFormat(Buffer.from(received[0]!, 'base64'))).toBe('png');
    } finally {
      await allowed.close();
    }
  });
});
