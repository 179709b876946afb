/**
 * The HTTP layer over in-memory stores, served on loopback. The same routes run against the real
 * Postgres and Redis in test/integration.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, BODY_LIMIT_BYTES, createApp, LIST_LIMIT, routeKey } from '../../src/app.js';
import type { Counter } from '../../src/counter.js';
import { createLogger } from '../../src/logger.js';
import type { Item, ItemStore } from '../../src/store.js';

class MemoryStore implements ItemStore {
  items: Item[] = [];
  failure: Error | undefined;
  async create(name: string): Promise<Item> {
    if (this.failure) throw this.failure;
    const item = { id: this.items.length + 1, name, createdAt: new Date().toISOString() };
    this.items.push(item);
    return item;
  }
  async list(limit: number): Promise<Item[]> {
    if (this.failure) throw this.failure;
    return [...this.items].reverse().slice(0, limit);
  }
  async ping(): Promise<void> {
    if (this.failure) throw this.failure;
  }
  async close(): Promise<void> {}
}

class MemoryCounter implements Counter {
  value = 0;
  failure: Error | undefined;
  async increment(): Promise<number> {
    if (this.failure) throw this.failure;
    return ++this.value;
  }
  async get(): Promise<number> {
    if (this.failure) throw this.failure;
    return this.value;
  }
  async ping(): Promise<void> {
    if (this.failure) throw this.failure;
  }
  async close(): Promise<void> {}
}

describe('routeKey', () => {
  it.each([
    ['/api/items', '/items'],
    ['/items', '/items'],
    ['/api/items/', '/items'],
    ['/api', '/'],
    ['/apiary', '/apiary'],
    ['/', '/'],
  ])('%s → %s', (path, key) => {
    expect(routeKey(path)).toBe(key);
  });
});

describe('HTTP API over in-memory stores', () => {
  const store = new MemoryStore();
  const counter = new MemoryCounter();
  const lines: Record<string, unknown>[] = [];
  let blocker: string | undefined;
  let stopping = false;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const deps: AppDeps = {
      store,
      counter,
      logger: createLogger('info', { service: 'backend' }, (line) => lines.push(JSON.parse(line))),
      gitSha: 'cafe123',
      readyTimeoutMs: 200,
      postgresBlocker: () => blocker,
      shuttingDown: () => stopping,
    };
    server = createServer(createApp(deps));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    store.items = [];
    store.failure = undefined;
    counter.value = 0;
    counter.failure = undefined;
    blocker = undefined;
    stopping = false;
    lines.length = 0;
  });

  const post = (path: string, body: string, type = 'application/json') =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': type }, body });

  it.each(['/healthz', '/api/healthz', '/api/healthz/'])('GET %s → 200 ok', async (path) => {
    const response = await fetch(`${base}${path}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('healthz stays 200 while the dependencies are down', async () => {
    store.failure = new Error('pg down');
    counter.failure = new Error('redis down');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it.each([
    ['both up', undefined, undefined, undefined, 200, { status: 'ready', postgres: 'ok', redis: 'ok' }],
    [
      'redis down',
      undefined,
      undefined,
      'ECONNREFUSED',
      503,
      { status: 'not ready', postgres: 'ok', redis: 'ECONNREFUSED' },
    ],
    [
      'postgres down',
      undefined,
      'timeout',
      undefined,
      503,
      { status: 'not ready', postgres: 'timeout', redis: 'ok' },
    ],
    [
      'migrations pending',
      'migrations pending',
      undefined,
      undefined,
      503,
      { status: 'not ready', postgres: 'migrations pending', redis: 'ok' },
    ],
  ])('readyz with %s', async (_label, pending, pgError, redisError, status, body) => {
    blocker = pending;
    store.failure = pgError ? new Error(pgError) : undefined;
    counter.failure = redisError ? new Error(redisError) : undefined;
    const response = await fetch(`${base}/api/readyz`);
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual(body);
  });

  it('readyz is 503 once shutting down, and asks clients to close', async () => {
    stopping = true;
    const response = await fetch(`${base}/readyz`);
    expect(response.status).toBe(503);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({ status: 'shutting down', postgres: 'ok', redis: 'ok' });
  });

  it('version and X-Git-Sha on every answer, errors included', async () => {
    const response = await fetch(`${base}/api/version`);
    expect(await response.json()).toEqual({ sha: 'cafe123', service: 'backend' });
    for (const path of ['/api/version', '/version', '/nope', '/api/items']) {
      expect((await fetch(`${base}${path}`)).headers.get('x-git-sha')).toBe('cafe123');
    }
  });

  it('unknown path → 404, wrong method → 405 with Allow', async () => {
    const missing = await fetch(`${base}/api/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'no route for /api/nothing' });
    const wrong = await fetch(`${base}/api/items`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, POST');
  });

  it('create → 201 with the item, counts it; list is newest first', async () => {
    const first = await post('/api/items', '{"name":"one"}');
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ id: 1, name: 'one', createdAt: expect.any(String) });
    await post('/items', '{"name":"two"}');
    const list = (await (await fetch(`${base}/api/items`)).json()) as { items: Item[] };
    expect(list.items.map((i) => i.name)).toEqual(['two', 'one']);
    expect(await (await fetch(`${base}/api/stats`)).json()).toEqual({ itemsCreated: 2 });
  });

  it(`list is capped at ${LIST_LIMIT}`, async () => {
    for (let i = 0; i < LIST_LIMIT + 3; i++) await store.create(`n${i}`);
    const list = (await (await fetch(`${base}/api/items`)).json()) as { items: Item[] };
    expect(list.items).toHaveLength(LIST_LIMIT);
    expect(list.items[0]?.name).toBe(`n${LIST_LIMIT + 2}`);
  });

  it.each([
    ['{"name":""}', 'application/json', 400],
    ['{"name":', 'application/json', 400],
    ['{"name":"x"}', 'text/plain', 415],
    ['{"name":"x"}', 'application/vnd.api+json', 201],
    [JSON.stringify({ name: 'x'.repeat(BODY_LIMIT_BYTES) }), 'application/json', 413],
  ])('POST %s as %s → %i', async (body, type, status) => {
    const response = await post('/api/items', body, type);
    expect(response.status).toBe(status);
    expect(store.items).toHaveLength(status === 201 ? 1 : 0);
  });

  it('Postgres down: items → 503 naming postgres; Redis down: create still 201, stats 503', async () => {
    store.failure = new Error('connection refused');
    const list = await fetch(`${base}/api/items`);
    expect(list.status).toBe(503);
    expect(await list.json()).toEqual({ error: 'postgres unavailable: connection refused' });
    store.failure = undefined;
    counter.failure = new Error('offline');
    expect((await post('/api/items', '{"name":"x"}')).status).toBe(201);
    expect((await fetch(`${base}/api/stats`)).status).toBe(503);
    expect(lines.some((l) => l.msg === 'counter increment failed' && l.error === 'offline')).toBe(true);
  });

  it('items → 503 while migrations are pending', async () => {
    blocker = 'migrations pending: database "app" does not exist';
    const response = await post('/api/items', '{"name":"x"}');
    expect(response.status).toBe(503);
    expect(store.items).toHaveLength(0);
  });

  it('logs one JSON line per request: method, path, status, ms', async () => {
    await fetch(`${base}/api/items?x=1`);
    await fetch(`${base}/nope`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests).toEqual([
      expect.objectContaining({
        level: 'info',
        service: 'backend',
        method: 'GET',
        path: '/api/items',
        status: 200,
      }),
      expect.objectContaining({ method: 'GET', path: '/nope', status: 404 }),
    ]);
    for (const line of requests) expect(line.ms).toEqual(expect.any(Number));
  });
});
