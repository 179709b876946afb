import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redact } from '../../src/config.js';

describe('loadConfig', () => {
  it('has defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      postgres: { host: 'localhost', port: 5432 },
      redisUrl: 'redis://localhost:6379/0',
      gitSha: 'unknown',
      logLevel: 'info',
      shutdownTimeoutMs: 10_000,
      readyTimeoutMs: 1_000,
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '9000',
      DATABASE_URL: 'postgres://u:p@db:5432/app',
      PGHOST: 'ignored-when-DATABASE_URL-is-set',
      REDIS_URL: 'redis://:secret@cache:6379/1',
      GIT_SHA: 'abc123',
      LOG_LEVEL: 'WARN',
      SHUTDOWN_TIMEOUT_MS: '2500',
      READY_TIMEOUT_MS: '300',
    });
    expect(config).toEqual({
      port: 9000,
      postgres: { connectionString: 'postgres://u:p@db:5432/app' },
      redisUrl: 'redis://:secret@cache:6379/1',
      gitSha: 'abc123',
      logLevel: 'warn',
      shutdownTimeoutMs: 2500,
      readyTimeoutMs: 300,
    });
  });

  it('uses PG* variables when DATABASE_URL is unset', () => {
    const config = loadConfig({
      PGHOST: 'db',
      PGPORT: '6543',
      PGUSER: 'app',
      PGPASSWORD: 'pw',
      PGDATABASE: 'items',
    });
    expect(config.postgres).toEqual({
      host: 'db',
      port: 6543,
      user: 'app',
      password: 'pw',
      database: 'items',
    });
  });

  it.each([
    [{ PORT: 'http' }, 'PORT="http" is not valid: expected an integer 1..65535'],
    [{ PORT: '70000' }, 'PORT="70000" is not valid: expected an integer 1..65535'],
    [{ PORT: '-1' }, 'PORT="-1" is not valid'],
    [{ PGPORT: '5432x' }, 'PGPORT="5432x" is not valid: expected an integer 1..65535'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL="verbose" is not valid: expected one of debug, info, warn, error'],
    [
      { DATABASE_URL: 'mysql://db/app' },
      'DATABASE_URL="mysql://db/app" is not valid: expected a URL like postgres://',
    ],
    [{ REDIS_URL: 'cache:6379' }, 'REDIS_URL="cache:6379" is not valid: expected a URL like redis://'],
    [{ REDIS_URL: 'http://:hunter2@cache' }, 'REDIS_URL="http://:***@cache" is not valid'],
    [{ SHUTDOWN_TIMEOUT_MS: '1.5' }, 'SHUTDOWN_TIMEOUT_MS="1.5" is not valid: expected an integer 0..600000'],
  ])('rejects %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('redact', () => {
  it.each([
    ['postgres://user:pass@db:5432/app', 'postgres://user:***@db:5432/app'],
    ['redis://:p@ss@cache:6379/0', 'redis://:***@cache:6379/0'],
    ['redis://cache:6379/0', 'redis://cache:6379/0'],
  ])('%s → %s', (input, output) => {
    expect(redact(input)).toBe(output);
  });
});
