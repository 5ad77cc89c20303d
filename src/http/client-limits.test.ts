import { describe, expect, it } from 'vitest';
import { requestTimeouts } from './client-limits.js';

describe('requestTimeouts', () => {
  it('checks for expired requests ten times per timeout, at most once a second', () => {
    expect(requestTimeouts({ headersTimeoutMs: 15_000, requestTimeoutMs: 15_000, unauthenticatedPerAddress: 64 }))
      .toEqual({ headersTimeout: 15_000, requestTimeout: 15_000, connectionsCheckingInterval: 1000 });
    expect(requestTimeouts({ headersTimeoutMs: 300, requestTimeoutMs: 300, unauthenticatedPerAddress: 0 }).connectionsCheckingInterval).toBe(30);
  });

  it('caps the headers timeout at the request timeout, which Node requires', () => {
    expect(requestTimeouts({ headersTimeoutMs: 60_000, requestTimeoutMs: 20_000, unauthenticatedPerAddress: 0 }).headersTimeout).toBe(20_000);
  });

  it('keeps the headers timeout when the request timeout is off', () => {
    expect(requestTimeouts({ headersTimeoutMs: 15_000, requestTimeoutMs: 0, unauthenticatedPerAddress: 0 }))
      .toEqual({ headersTimeout: 15_000, requestTimeout: 0, connectionsCheckingInterval: 1000 });
  });
});
