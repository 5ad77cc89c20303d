import { describe, expect, it } from 'vitest';
import { isInternalHost, locateNode } from './node-location.js';

describe('isInternalHost', () => {
  it.each([
    'localhost', '127.0.0.1', '127.8.9.1', '::1', '[::1]', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.10', '169.254.1.1', '100.64.0.1',
    'fd12:3456::1', 'fe80::1', '::ffff:10.0.0.1', 'gpu1', 'ollama', 'gpu1.local', 'ollama.flexi.svc.cluster.local', 'box.internal', 'nas.home.arpa', 'GPU1.LOCAL.',
  ])('%s is inside the organisation', (host) => {
    expect(isInternalHost(host)).toBe(true);
  });

  it.each(['8.8.8.8', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2001:db8::1', '::ffff:8.8.8.8', 'api.openai.com', 'local.example.com', 'evil-uni.example'])('%s is outside', (host) => {
    expect(isInternalHost(host)).toBe(false);
  });

  it('counts configured organisation domains and their subdomains as inside', () => {
    expect(isInternalHost('gpu.hpc.uni.example', ['uni.example'])).toBe(true);
    expect(isInternalHost('uni.example', ['.uni.example'])).toBe(true);
    expect(isInternalHost('notuni.example', ['uni.example'])).toBe(false);
  });
});

describe('locateNode', () => {
  it('reports the host without credentials and flags plain HTTP only outside', () => {
    expect(locateNode({ name: 'a', type: 'openai', url: 'http://user:pw@api.vendor.example:8000/v1' })).toEqual({ name: 'a', type: 'openai', host: 'api.vendor.example:8000', internal: false, plainHttp: true });
    expect(locateNode({ name: 'b', type: 'ollama', url: 'http://gpu1:11434' })).toMatchObject({ internal: true, plainHttp: false });
    expect(locateNode({ name: 'c', type: 'embedded' })).toMatchObject({ host: null, internal: true });
  });
});
