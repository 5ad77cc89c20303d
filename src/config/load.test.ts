import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactConfig } from './load.js';
import { configWarnings } from './warnings.js';

describe('loadConfig', () => {
  it('accepts an empty file and fills defaults', () => {
    const config = loadConfig({ fileText: '' });
    expect(config.server.port).toBe(8400);
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.database.url).toBe('./data/flexi.db');
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('lets FLEXI_* variables override file values', () => {
    const config = loadConfig({
      fileText: 'server:\n  port: 9000\n',
      env: { FLEXI_SERVER_PORT: '9100', FLEXI_AUTH_MODE: 'none', FLEXI_NODES: '[{"name":"a","type":"ollama","url":"http://127.0.0.1:11434"}]' },
    });
    expect(config.server.port).toBe(9100);
    expect(config.auth.mode).toBe('none');
    expect(config.nodes?.[0]?.name).toBe('a');
  });

  it('names the key, the value and what is allowed for an invalid value', () => {
    expect(() => loadConfig({ fileText: 'auth:\n  mode: open\n', filePath: 'flexi.yaml' }))
      .toThrowError(/auth\.mode = "open" \(from flexi\.yaml\): allowed: "keys", "none"/);
    expect(() => loadConfig({ env: { FLEXI_SERVER_PORT: '70000' } }))
      .toThrowError(/server\.port = 70000 \(from FLEXI_SERVER_PORT\)/);
    expect(() => loadConfig({ env: { FLEXI_SERVER_PORT: 'eighty' } })).toThrowError(ConfigError);
  });

  it('reads auth.cookie_secure as auto by default, and true/false from the file or the environment', () => {
    expect(loadConfig({ fileText: '' }).auth.cookie_secure).toBe('auto');
    expect(loadConfig({ fileText: 'auth:\n  cookie_secure: false\n' }).auth.cookie_secure).toBe(false);
    expect(loadConfig({ env: { FLEXI_AUTH_COOKIE_SECURE: 'true' } }).auth.cookie_secure).toBe(true);
    expect(loadConfig({ env: { FLEXI_AUTH_COOKIE_SECURE: 'auto' } }).auth.cookie_secure).toBe('auto');
    expect(() => loadConfig({ env: { FLEXI_AUTH_COOKIE_SECURE: 'maybe' } })).toThrowError(ConfigError);
  });

  it('refuses a role default_model the role may not use, naming the key', () => {
    const roles = (models: string, model: string) => `roles:\n  student:\n    models: ${models}\n    default_model: ${model}\n`;
    expect(loadConfig({ fileText: roles('["llama3*"]', 'llama3.1:8b') }).roles.student!.default_model).toBe('llama3.1:8b');
    expect(loadConfig({ fileText: roles('["phi3"]', 'phi3:latest') }).roles.student!.default_model).toBe('phi3:latest');
    expect(() => loadConfig({ fileText: roles('["llama3*"]', 'command-r:104b') })).toThrowError(/roles\.student\.default_model.*not among the role's models/);
  });

  it('rejects unknown keys instead of silently ignoring typos', () => {
    expect(() => loadConfig({ fileText: 'server:\n  prot: 1\n' })).toThrowError(/unknown key\(s\): prot/);
  });

  it('redacts secrets', () => {
    const config = loadConfig({
      fileText: 'database:\n  url: postgres://flexi:hunter2@db:5432/flexi\nnodes:\n  - {name: v, type: openai, url: "http://gpu:8000/v1", api_key: sk-secret}\n',
    });
    const text = JSON.stringify(redactConfig(config));
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('sk-secret');
    expect(text).toContain('postgres://flexi:***@db:5432/flexi');
  });

  it('requires a url for every node but embedded, naming the key', () => {
    expect(() => loadConfig({ fileText: 'nodes:\n  - { name: gpu1, type: ollama }\n', filePath: 'flexi.yaml' }))
      .toThrowError(/nodes\.0\.url = missing \(from flexi\.yaml\): a node of type ollama needs its server's base URL/);
    expect(loadConfig({ fileText: 'nodes:\n  - { name: local, type: embedded }\n' }).nodes).toHaveLength(1);
  });

  it('refuses two nodes with one name', () => {
    expect(() => loadConfig({ fileText: 'nodes:\n  - { name: gpu1, type: sim, url: "http://a:1" }\n  - { name: GPU1, type: sim, url: "http://b:1" }\n' }))
      .toThrowError(/nodes\.1\.name = "GPU1" .*nodes\.0 already has this name/);
  });
});

describe('configWarnings', () => {
  const warningsFor = (nodes: string) => configWarnings(loadConfig({ fileText: `nodes:\n${nodes}` }));

  it('hints at /v1 for an openai node and at its absence for an ollama node', () => {
    expect(warningsFor('  - { name: v, type: openai, url: "http://gpu:8000/" }\n')).toEqual(['nodes.0.url = "http://gpu:8000/": OpenAI-compatible servers usually answer under /v1; did you mean http://gpu:8000/v1?']);
    expect(warningsFor('  - { name: o, type: ollama, url: "http://gpu:11434/v1" }\n')[0]).toContain('without /v1 (http://gpu:11434)');
    expect(warningsFor('  - { name: v, type: openai, url: "http://gpu:8000/v1" }\n  - { name: o, type: ollama, url: "http://gpu:11434" }\n')).toEqual([]);
  });
});

describe('lti section', () => {
  it('refuses LTI role mappings that name no role, naming the key', () => {
    expect(() => loadConfig({ fileText: 'lti:\n  learner_roles: [student, pupil]\n' })).toThrow(/lti\.learner_roles\.1.*"pupil" is not a role/s);
    expect(loadConfig({ fileText: 'lti:\n  instructor_roles: [staff, admin]\n' }).lti.instructor_roles).toEqual(['staff', 'admin']);
    expect(() => loadConfig({ fileText: 'lti:\n  institution_roles:\n    Faculty: [professor]\n' })).toThrow(/lti\.institution_roles\.Faculty\.0.*"professor" is not a role/s);
  });
});
