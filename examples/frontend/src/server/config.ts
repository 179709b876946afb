/**
 * Configuration comes from the environment only (plus the --dev flag of the dev command). Every bad
 * value is reported with the variable's name, the value found and the accepted form.
 */
import { fileURLToPath } from 'node:url';
import type { LogLevel } from './logger.js';

export interface Config {
  port: number;
  /** Where /api/* goes, e.g. http://app-backend:80 (a path prefix, if any, is kept). */
  backendUrl: URL;
  gitSha: string;
  logLevel: LogLevel;
  proxyTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** Built page (dist/public) in production; the sources (src/web) in dev mode. */
  staticDir: string;
  dev: boolean;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** dist/server/config.js → dist/public; src/server/config.ts → src/web (dev). */
export function defaultStaticDir(dev: boolean): string {
  return fileURLToPath(new URL(dev ? '../web' : '../public', import.meta.url));
}

export function loadConfig(env: Env = process.env, argv: readonly string[] = process.argv.slice(2)): Config {
  const unknown = argv.filter((arg) => arg !== '--dev');
  if (unknown.length > 0)
    throw new ConfigError(`unknown argument ${JSON.stringify(unknown[0])}: the only flag is --dev`);
  const dev = argv.includes('--dev');
  return {
    port: integer(env, 'PORT', 8080, 1, 65535),
    backendUrl: backendUrl(env.BACKEND_URL),
    gitSha: env.GIT_SHA?.trim() || 'unknown',
    logLevel: logLevel(env.LOG_LEVEL),
    proxyTimeoutMs: integer(env, 'PROXY_TIMEOUT_MS', 30_000, 100, 600_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    staticDir: env.STATIC_DIR?.trim() || defaultStaticDir(dev),
    dev,
  };
}

function backendUrl(raw: string | undefined): URL {
  const form = 'an http(s) URL like http://app-backend:80';
  if (!raw?.trim()) throw new ConfigError(`BACKEND_URL is required: ${form}`);
  let url: URL | undefined;
  try {
    url = new URL(raw.trim());
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash || url.username) {
    throw new ConfigError(
      `BACKEND_URL=${JSON.stringify(raw)} is not valid: expected ${form}, without query or credentials`,
    );
  }
  return url;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(
      `${name}=${JSON.stringify(env[name])} is not valid: expected an integer ${min}..${max}`,
    );
  }
  return value;
}

function logLevel(raw: string | undefined): LogLevel {
  const value = raw?.trim().toLowerCase();
  if (!value) return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError(
      `LOG_LEVEL=${JSON.stringify(raw)} is not valid: expected one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  return value as LogLevel;
}
