import { describe, expect, it } from 'vitest';
import { statusError, upstreamMessage } from './http-client.js';

describe('upstreamMessage', () => {
  it('reads Ollama, OpenAI, vLLM and FastAPI error bodies and plain text', () => {
    expect(upstreamMessage('{"error":"model \'x\' not found"}')).toBe("model 'x' not found");
    expect(upstreamMessage('{"error":{"message":"bad temperature","type":"invalid_request_error"}}')).toBe('bad temperature');
    expect(upstreamMessage('{"object":"error","message":"The model `x` does not exist.","code":404}')).toBe('The model `x` does not exist.');
    expect(upstreamMessage('{"detail":"Not Found"}')).toBe('Not Found');
    expect(upstreamMessage('Bad Gateway')).toBe('Bad Gateway');
    expect(upstreamMessage('')).toBe('');
  });
});

describe('statusError', () => {
  it('maps statuses to codes, keeping the upstream message', () => {
    expect(statusError('n', '/api/chat', 404, '{"error":"model \'x\' not found, try pulling it first"}')).toMatchObject({ code: 'model_not_found', message: "model 'x' not found, try pulling it first" });
    expect(statusError('n', '/api/chat', 404, '404 page not found')).toMatchObject({ code: 'backend_error' });
    expect(statusError('n', '/api/chat', 400, '{"error":"invalid options"}')).toMatchObject({ code: 'invalid_request', message: 'invalid options' });
    expect(statusError('n', '/v1/chat/completions', 400, '{"message":"This model\'s maximum context length is 4096 tokens."}')).toMatchObject({ code: 'context_length_exceeded' });
    expect(statusError('n', '/api/chat', 503, '{"error":"server busy, please try again. maximum pending requests exceeded"}')).toMatchObject({ code: 'backend_error', message: expect.stringContaining('server busy') });
    expect(statusError('n', '/api/chat', 500, '')).toMatchObject({ code: 'backend_error', message: expect.stringContaining('HTTP 500') });
  });
});
