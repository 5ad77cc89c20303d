import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './circuit-breaker.js';

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, admits one probe after the cool-down, closes on its success', () => {
    const breaker = new CircuitBreaker(3, 1000);
    breaker.onFailure(0, false);
    breaker.onFailure(0, false);
    breaker.onSuccess();
    breaker.onFailure(0, false);
    breaker.onFailure(0, false);
    expect(breaker.state(0)).toBe('closed');
    breaker.onFailure(10, false);
    expect(breaker.state(10)).toBe('open');
    expect(breaker.canAdmit(500)).toBe(false);
    expect(breaker.reopensAtMs()).toBe(1010);
    expect(breaker.state(1010)).toBe('half_open');
    expect(breaker.canAdmit(1010)).toBe(true);
    expect(breaker.onPlaced(1010)).toBe(true);
    expect(breaker.canAdmit(1010)).toBe(false);
    breaker.onSuccess();
    expect(breaker.state(1010)).toBe('closed');
    expect(breaker.onPlaced(1011)).toBe(false);
  });

  it('re-opens for a full cool-down when the probe fails, and frees the probe turn when it ends neutrally', () => {
    const breaker = new CircuitBreaker(1, 1000);
    breaker.onFailure(0, false);
    expect(breaker.onPlaced(1000)).toBe(true);
    breaker.onNeutral(true);
    expect(breaker.canAdmit(1000)).toBe(true);
    expect(breaker.onPlaced(1000)).toBe(true);
    breaker.onFailure(1500, true);
    expect(breaker.state(2400)).toBe('open');
    expect(breaker.state(2500)).toBe('half_open');
  });

  it('does not restart the cool-down for late failures of requests placed before it opened', () => {
    const breaker = new CircuitBreaker(1, 1000);
    breaker.onFailure(0, false);
    breaker.onFailure(900, false);
    expect(breaker.state(1000)).toBe('half_open');
  });
});
