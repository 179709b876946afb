/**
 * The HTTP API. Every route answers under /api and, for probes and port-forwards, without that prefix.
 * Dependencies come in through AppDeps so tests can run the handler over fakes or the real stores.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter } from './counter.js';
import { errorMessage, type Logger } from './logger.js';
import type { ItemStore } from './store.js';
import { parseNewItem } from './validate.js';

export interface AppDeps {
  store: ItemStore;
  counter: Counter;
  logger: Logger;
  gitSha: string;
  readyTimeoutMs: number;
  /** Why Postgres is not usable yet (e.g. migrations pending), or undefined once it is. */
  postgresBlocker: () => string | undefined;
  /** True once SIGTERM arrived: readiness fails so no new traffic is routed here. */
  shuttingDown: () => boolean;
}

export const BODY_LIMIT_BYTES = 16 * 1024;
export const LIST_LIMIT = 100;

type Handler = (req: IncomingMessage, res: ServerResponse, deps: AppDeps) => Promise<void>;

const routes: Record<string, Partial<Record<'GET' | 'POST', Handler>>> = {
  '/healthz': { GET: healthz },
  '/readyz': { GET: readyz },
  '/version': { GET: version },
  '/items': { GET: listItems, POST: createItem },
  '/stats': { GET: stats },
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Maps a request path to a route key: "/api/items" and "/items" both give "/items". */
export function routeKey(pathname: string): string {
  const path = pathname === '/api' ? '/' : pathname.startsWith('/api/') ? pathname.slice(4) : pathname;
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

export function createApp(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = process.hrtime.bigint();
    const pathname = safePathname(req.url);
    res.setHeader('X-Git-Sha', deps.gitSha);
    res.once('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      deps.logger.info('request', {
        method: req.method,
        path: pathname,
        status: res.statusCode,
        ms: Math.round(ms * 10) / 10,
        ...(res.writableFinished ? {} : { aborted: true }),
      });
    });
    dispatch(req, res, deps, pathname).catch((error: unknown) => {
      if (error instanceof HttpError) {
        // An unread request body cannot be skipped safely on a kept-alive connection.
        if (error.status === 413) res.setHeader('Connection', 'close');
        sendJson(res, error.status, { error: error.message }, deps);
        return;
      }
      deps.logger.error('request failed', { method: req.method, path: pathname, error: errorMessage(error) });
      sendJson(res, 500, { error: 'internal error' }, deps);
    });
  };
}

async function dispatch(req: IncomingMessage, res: ServerResponse, deps: AppDeps, pathname: string) {
  const route = routes[routeKey(pathname)];
  if (!route) throw new HttpError(404, `no route for ${pathname}`);
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const handler = method === 'GET' || method === 'POST' ? route[method] : undefined;
  if (!handler) {
    res.setHeader('Allow', Object.keys(route).join(', '));
    throw new HttpError(
      405,
      `${req.method} is not allowed on ${pathname}; allowed: ${Object.keys(route).join(', ')}`,
    );
  }
  await handler(req, res, deps);
}

function safePathname(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return '/';
  }
}

/** Writes a JSON answer; once shutting down, it asks the client to close the connection. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  state?: Pick<AppDeps, 'shuttingDown'>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(body);
  if (state?.shuttingDown()) res.setHeader('Connection', 'close');
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    'Cache-Control': 'no-store',
  });
  res.end(payload);
}

async function healthz(_req: IncomingMessage, res: ServerResponse, deps: AppDeps): Promise<void> {
  sendJson(res, 200, { status: 'ok' }, deps);
}

async function readyz(_req: IncomingMessage, res: ServerResponse, deps: AppDeps): Promise<void> {
  const check = async (ping: () => Promise<void>, blocker?: string): Promise<string> => {
    if (blocker) return blocker;
    try {
      await ping();
      return 'ok';
    } catch (error) {
      return errorMessage(error);
    }
  };
  const [postgres, redis] = await Promise.all([
    check(() => deps.store.ping(deps.readyTimeoutMs), deps.postgresBlocker()),
    check(() => deps.counter.ping(deps.readyTimeoutMs)),
  ]);
  const shuttingDown = deps.shuttingDown();
  const ready = postgres === 'ok' && redis === 'ok' && !shuttingDown;
  const status = ready ? 'ready' : shuttingDown ? 'shutting down' : 'not ready';
  sendJson(res, ready ? 200 : 503, { status, postgres, redis }, deps);
}

async function version(_req: IncomingMessage, res: ServerResponse, deps: AppDeps): Promise<void> {
  sendJson(res, 200, { sha: deps.gitSha, service: 'backend' }, deps);
}

async function listItems(_req: IncomingMessage, res: ServerResponse, deps: AppDeps): Promise<void> {
  requirePostgres(deps);
  const items = await unavailableOnError('postgres', () => deps.store.list(LIST_LIMIT));
  sendJson(res, 200, { items }, deps);
}

async function createItem(req: IncomingMessage, res: ServerResponse, deps: AppDeps): Promise<void> {
  const body = await readJson(req);
  const parsed = parseNewItem(body);
  if (!parsed.ok) throw new HttpError(400, parsed.error);
  requirePostgres(deps);
  const item = await unavailableOnError('postgres', () => deps.store.create(parsed.value.name));
  try {
    await deps.counter.increment();
  } catch (error) {
    // The item is stored; the counter is a statistic, so its outage does not fail the request.
    deps.logger.warn('counter increment failed', { error: errorMessage(error) });
  }
  sendJson(res, 201, item, deps);
}

async function stats(_req: IncomingMessage, res: ServerResponse, deps: AppDeps): Promise<void> {
  const itemsCreated = await unavailableOnError('redis', () => deps.counter.get());
  sendJson(res, 200, { itemsCreated }, deps);
}

function requirePostgres(deps: AppDeps): void {
  const blocker = deps.postgresBlocker();
  if (blocker) throw new HttpError(503, `postgres unavailable: ${blocker}`);
}

async function unavailableOnError<T>(what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw new HttpError(503, `${what} unavailable: ${errorMessage(error)}`);
  }
}

/** Reads a JSON body of at most BODY_LIMIT_BYTES. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new HttpError(415, `Content-Type must be application/json, got ${JSON.stringify(type)}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > BODY_LIMIT_BYTES) {
      throw new HttpError(413, `body must be at most ${BODY_LIMIT_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '')
    throw new HttpError(400, 'body must be a JSON object like {"name":"milk"}, got nothing');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `body is not valid JSON: ${errorMessage(error)}`);
  }
}
