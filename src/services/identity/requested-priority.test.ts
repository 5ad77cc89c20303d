import { describe, expect, it } from 'vitest';
import { requestedPriority } from './policy.service.js';

describe('requestedPriority', () => {
  it('lets a request lower its class but never raise it', () => {
    expect(requestedPriority('interactive', 'batch')).toBe('batch');
    expect(requestedPriority('standard', ['batch', 'interactive'])).toBe('batch');
    expect(requestedPriority('batch', 'interactive')).toBe('batch');
    expect(requestedPriority('standard', 'standard')).toBe('standard');
    expect(requestedPriority('standard', 'toString')).toBe('standard');
    expect(requestedPriority('interactive', undefined)).toBe('interactive');
  });
});
