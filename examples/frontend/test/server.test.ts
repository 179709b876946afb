/**
 * The frontend server in process, on loopback, in front of a fake backend (a real HTTP server that
 * records what reaches it). Static files come from a real build of the page (scripts/build-web.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildWeb } from '../scripts/build-web.js';
import type { Config } from '../src/server/config.js';
import { createLogger } from '../src/server/logger.js';
import { type Running, start } from '../src/server/server.js';
import { ApiError, createApi } from '../src/web/api.js';
import { FakeBackend } from './support/fake-backend.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** A request with the path sent exactly as given (fetch would normalise "/../"). */
async function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('frontend server', () => {
  const backend = new FakeBackend();
  const lines: Record<string, unknown>[] = [];
  let publicDir: string;
  let running: Running;
  let base: string;

  function config(overrides: Partial<Config> = {}): Config {
    return {
      port: 0,
      backendUrl: new URL(backend.url),
      gitSha: 'front-sha',
      logLevel: 'info',
      proxyTimeoutMs: 1_000,
      shutdownTimeoutMs: 5_000,
      staticDir: publicDir,
      dev: false,
      ...overrides,
    };
  }
  const logger = createLogger('info', { service: 'frontend' }, (line) => lines.push(JSON.parse(line)));

  beforeAll(async () => {
    await backend.start();
    publicDir = mkdtempSync(join(tmpdir(), 'jetscale-public-'));
    await buildWeb(join(root, 'src', 'web'), publicDir);
    running = await start(config(), logger);
    base = `http://127.0.0.1:${running.port}`;
  });

  afterAll(async () => {
    await running?.shutdown('test');
    await backend.stop();
    rmSync(publicDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    backend.received.length = 0;
    backend.routes.clear();
    lines.length = 0;
  });

  it('GET / is the built page: text/html with id="app" and <title>JetScale</title>', async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await response.text();
    expect(html).toContain('id="app"');
    expect(html).toContain('<title>JetScale</title>');
    expect(html).not.toContain('__dev');
  });

  it('serves the bundled script and the stylesheet with their types', async () => {
    const script = await fetch(`${base}/main.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const code = await script.text();
    expect(code).toContain('/api');
    expect(code).not.toMatch(/^import /m);
    const css = await fetch(`${base}/style.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers If-None-Match with 304, and HEAD without a body', async () => {
    const first = await fetch(`${base}/index.html`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${base}/index.html`, { headers: { 'If-None-Match': etag ?? '' } });
    expect(again.status).toBe(304);
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await head.text()).toBe('');
  });

  it.each(['/nope.html', '/../package.json', '/%2e%2e/package.json', '/main.ts', '/apiary'])(
    'GET %s is 404 and never reaches the backend',
    async (path) => {
      const response = await rawGet(running.port, path);
      expect(response.status).toBe(404);
      expect(backend.received).toEqual([]);
    },
  );

  it('POST / is 405', async () => {
    const response = await fetch(`${base}/`, { method: 'POST', body: 'x' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
  });

  it('GET /healthz is 200 without asking the backend', async () => {
    const response = await fetch(`${base}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
    expect(backend.received).toEqual([]);
  });

  it.each([
    ['GET', '/api/items?limit=5&q=a%20b'],
    ['GET', '/api'],
    ['GET', '/api/'],
    ['DELETE', '/api/items/7'],
    ['GET', '/api/healthz'],
  ])('%s %s reaches the backend unchanged', async (method, path) => {
    const response = await fetch(`${base}${path}`, { method });
    expect(response.status).toBe(200);
    expect(backend.received).toHaveLength(1);
    expect(backend.received[0]).toMatchObject({ method, url: path });
  });

  it('forwards the body, its type and the forwarding headers; passes the answer back as is', async () => {
    backend.routes.set('/api/items', (_req, res, body) => {
      res.writeHead(201, {
        'Content-Type': 'application/json',
        'X-Git-Sha': 'backend-sha',
        'X-Extra': 'yes',
      });
      res.end(
        JSON.stringify({
          id: 1,
          name: JSON.parse(body.toString()).name,
          createdAt: '2026-01-01T00:00:00.000Z',
        }),
      );
    });
    const response = await fetch(`${base}/api/items`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: 'session=1', Connection: 'keep-alive' },
      body: JSON.stringify({ name: 'milk' }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-git-sha')).toBe('backend-sha');
    expect(response.headers.get('x-extra')).toBe('yes');
    expect(await response.json()).toEqual({ id: 1, name: 'milk', createdAt: '2026-01-01T00:00:00.000Z' });
    const seen = backend.received[0];
    expect(seen?.body.toString()).toBe('{"name":"milk"}');
    expect(seen?.headers).toMatchObject({
      'content-type': 'application/json',
      cookie: 'session=1',
      host: `127.0.0.1:${backend.port}`,
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-host': `127.0.0.1:${running.port}`,
      'x-forwarded-proto': 'http',
    });
  });

  it('streams a 2 MiB body both ways intact', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 'abcdefgh');
    backend.routes.set('/api/echo', (_req, res, body) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.end(body);
    });
    const response = await fetch(`${base}/api/echo`, { method: 'PUT', body: big });
    expect(Buffer.from(await response.arrayBuffer()).equals(big)).toBe(true);
  });

  it('backend status codes pass through (404, 503)', async () => {
    backend.routes.set('/api/readyz', (_req, res) => {
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end('{"status":"not ready","postgres":"ok","redis":"down"}');
    });
    expect((await fetch(`${base}/api/readyz`)).status).toBe(503);
  });

  it('the page API client works through the proxy, and reports backend errors', async () => {
    backend.routes.set('/api/version', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"sha":"abc","service":"backend"}');
    });
    backend.routes.set('/api/items', (_req, res) => {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end('{"error":"name must be a string of 1..200 characters"}');
    });
    const api = createApi(base);
    expect(await api.version()).toEqual({ sha: 'abc', service: 'backend' });
    const failure = await api.createItem('').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure).toMatchObject({ status: 400, message: 'name must be a string of 1..200 characters' });
    expect(backend.received.at(-1)?.headers['content-type']).toBe('application/json');
  });

  it('logs one JSON line per request, proxied ones included', async () => {
    await fetch(`${base}/api/items`);
    await fetch(`${base}/healthz`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests).toEqual([
      expect.objectContaining({ method: 'GET', path: '/api/items', status: 200, ms: expect.any(Number) }),
      expect.objectContaining({ method: 'GET', path: '/healthz', status: 200, ms: expect.any(Number) }),
    ]);
  });

  it('backend refusing connections → 502 naming the backend', async () => {
    const down = new FakeBackend();
    await down.start();
    await down.stop();
    const other = await start(config({ port: 0, backendUrl: new URL(down.url) }), logger);
    try {
      const response = await fetch(`http://127.0.0.1:${other.port}/api/items`);
      expect(response.status).toBe(502);
      expect(((await response.json()) as { error: string }).error).toContain(
        `backend ${down.url} unavailable`,
      );
    } finally {
      await other.shutdown('test');
    }
  });

  it('backend slower than PROXY_TIMEOUT_MS → 504', async () => {
    backend.routes.set('/api/slow', (_req, res) => {
      setTimeout(() => res.end('late'), 3_000).unref();
    });
    const response = await fetch(`${base}/api/slow`);
    expect(response.status).toBe(504);
  });

  it('shutdown: refuses new connections, lets an in-flight proxied request finish', async () => {
    const other = await start(config({ port: 0 }), logger);
    let release: () => void = () => {};
    backend.routes.set('/api/wait', (_req, res) => {
      release = () => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('finished');
      };
    });
    const inflight = fetch(`http://127.0.0.1:${other.port}/api/wait`);
    while (backend.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const stopped = other.shutdown('SIGTERM');
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(other.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
    release();
    const response = await inflight;
    expect(await response.text()).toBe('finished');
    expect(await stopped).toBe(0);
  });

  it('refuses to start without a built page', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'jetscale-empty-'));
    writeFileSync(join(empty, 'main.js'), '');
    await expect(start(config({ port: 0, staticDir: empty }), logger)).rejects.toThrow(
      /has no index\.html: build the page first/,
    );
    rmSync(empty, { recursive: true, force: true });
  });
});
