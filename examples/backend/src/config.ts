/**
 * Configuration comes from the environment only. Every bad value is reported with the variable's name,
 * the value found and the accepted form.
 */
import type { LogLevel } from './logger.js';

export interface PostgresConfig {
  /** postgres://user:pass@host:5432/db, or undefined when the PG* fields are used. */
  connectionString?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
}

export interface Config {
  port: number;
  postgres: PostgresConfig;
  redisUrl: string;
  gitSha: string;
  logLevel: LogLevel;
  /** How long SIGTERM waits for in-flight requests before it gives up and exits 1. */
  shutdownTimeoutMs: number;
  /** Timeout of each readiness check (Postgres, Redis). */
  readyTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  return {
    port: integer(env, 'PORT', 8080, 1, 65535),
    postgres: postgresConfig(env),
    redisUrl: url(
      env,
      'REDIS_URL',
      'redis://localhost:6379/0',
      ['redis:', 'rediss:'],
      'redis://:pass@host:6379/0',
    ),
    gitSha: nonEmpty(env.GIT_SHA) ?? 'unknown',
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    readyTimeoutMs: integer(env, 'READY_TIMEOUT_MS', 1_000, 50, 60_000),
  };
}

function postgresConfig(env: Env): PostgresConfig {
  const connectionString = nonEmpty(env.DATABASE_URL);
  if (connectionString !== undefined) {
    url(env, 'DATABASE_URL', '', ['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/db');
    return { connectionString };
  }
  const config: PostgresConfig = {
    host: nonEmpty(env.PGHOST) ?? 'localhost',
    port: integer(env, 'PGPORT', 5432, 1, 65535),
  };
  const user = nonEmpty(env.PGUSER);
  const password = env.PGPASSWORD;
  const database = nonEmpty(env.PGDATABASE);
  if (user !== undefined) config.user = user;
  if (password !== undefined && password !== '') config.password = password;
  if (database !== undefined) config.database = database;
  return config;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${name}=${JSON.stringify(env[name])} is not valid: expected an integer ${min}..${max}`,
    );
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = nonEmpty(env[name])?.toLowerCase();
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(
      `${name}=${JSON.stringify(env[name])} is not valid: expected one of ${allowed.join(', ')}`,
    );
  }
  return raw as T;
}

function url(env: Env, name: string, fallback: string, protocols: string[], form: string): string {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  let parsed: URL | undefined;
  try {
    parsed = new URL(raw);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !protocols.includes(parsed.protocol) || !parsed.hostname) {
    throw new ConfigError(`${name}=${JSON.stringify(redact(raw))} is not valid: expected a URL like ${form}`);
  }
  return raw;
}

/** Hides the password of a URL-like string so it can go into an error message or a log line. */
export function redact(value: string): string {
  // Greedy up to the last '@' of the authority: a password may itself contain '@'.
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^/?#]*@/i, '$1***@');
}
