import { describe, expect, it } from 'vitest';
import { ConfigError, defaultStaticDir, loadConfig } from '../src/server/config.js';

describe('loadConfig', () => {
  it('defaults', () => {
    const config = loadConfig({ BACKEND_URL: 'http://app-backend:80' }, []);
    expect(config).toEqual({
      port: 8080,
      backendUrl: new URL('http://app-backend:80'),
      gitSha: 'unknown',
      logLevel: 'info',
      proxyTimeoutMs: 30_000,
      shutdownTimeoutMs: 10_000,
      staticDir: defaultStaticDir(false),
      dev: false,
    });
    expect(config.staticDir).toMatch(/\/public$/);
  });

  it('--dev serves the sources', () => {
    const config = loadConfig({ BACKEND_URL: 'http://b' }, ['--dev']);
    expect(config.dev).toBe(true);
    expect(config.staticDir).toMatch(/\/src\/web$/);
  });

  it.each([
    [{}, [], 'BACKEND_URL is required: an http(s) URL like http://app-backend:80'],
    [{ BACKEND_URL: 'app-backend:80' }, [], 'BACKEND_URL="app-backend:80" is not valid'],
    [{ BACKEND_URL: 'ftp://b' }, [], 'BACKEND_URL="ftp://b" is not valid'],
    [{ BACKEND_URL: 'http://b/?x=1' }, [], 'without query or credentials'],
    [{ BACKEND_URL: 'http://b', PORT: '80a' }, [], 'PORT="80a" is not valid: expected an integer 1..65535'],
    [
      { BACKEND_URL: 'http://b', PROXY_TIMEOUT_MS: '5' },
      [],
      'PROXY_TIMEOUT_MS="5" is not valid: expected an integer 100..600000',
    ],
    [
      { BACKEND_URL: 'http://b', LOG_LEVEL: 'loud' },
      [],
      'LOG_LEVEL="loud" is not valid: expected one of debug, info, warn, error',
    ],
    [{ BACKEND_URL: 'http://b' }, ['--prod'], 'unknown argument "--prod": the only flag is --dev'],
  ])('rejects %j %j', (env, argv, message) => {
    expect(() => loadConfig(env, argv)).toThrow(ConfigError);
    expect(() => loadConfig(env, argv)).toThrow(message);
  });
});
