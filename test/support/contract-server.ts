/**
 * A real loopback HTTP(S) server speaking the example services contract (see /work/notes/common.md and
 * examples/backend, examples/frontend), held in memory, with knobs to break it in the ways contract checks
 * must notice. For unit tests of src/contract.ts and for e2e tests that need a stand-in stack.
 *
 *   role 'backend':  /api/healthz, /api/readyz, /api/version, /api/items (GET, POST), /api/stats
 *                    (each also without the /api prefix), header X-Git-Sha on every response.
 *   role 'frontend': GET / → HTML with id="app"; GET /healthz; every /api/* path proxied unchanged to
 *                    backendUrl (like the example frontend, or an ingress sending /api to the backend).
 *
 * Every request is recorded (method, path, Host header, TLS SNI) in `requests`.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * Self-signed certificate (valid until 2126) for *.app.jetscale.ai, app.jetscale.ai, localhost and
 * 127.0.0.1. Test-only key material; it protects nothing.
 */
export const TEST_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIB2DCCAX2gAwIBAgIUYLDSfZnEFh5hSf9JRj6uDDJMoDAwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUY29udHJhY3Qtc2VydmVyLnRlc3QwIBcNMjYxMTI2MDE1MjIz
WhgPMjEyNjExMDIwMTUyMjNaMB8xHTAbBgNVBAMMFGNvbnRyYWN0LXNlcnZlci50
ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEs7UUZUm7zSU4No+w5m18qLDa
8R0EVzvL+al0gUe0TebisByh5cf1U4mWAYXmzOWpGrhvS1gqJwg7TiW3yjdkr6OB
lDCBkTAdBgNVHQ4EFgQUIYZQ5NKa5jIB1LGxz8gnXkV9zcIwHwYDVR0jBBgwFoAU
IYZQ5NKa5jIB1LGxz8gnXkV9zcIwDwYDVR0TAQH/BAUwAwEB/zA+BgNVHREENzA1
ghEqLmFwcC5qZXRzY2FsZS5haYIPYXBwLmpldHNjYWxlLmFpgglsb2NhbGhvc3SH
BH8AAAEwCgYIKoZIzj0EAwIDSQAwRgIhANVwupZTqzdiJFkSTD48RdB1awe5Xeob
OK7K8T7kOVx+AiEArKGEq0vriUQfNfkhpJZmaIXf+bQUyLMOVErL9t5JGlY=
-----END CERTIFICATE-----
`;

const TEST_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSrZc4GZ25OybYjwr
dH/PvUWfBDAXsnTlc5Qbuqb3DWqhRANCAASztRRlSbvNJTg2j7DmbXyosNrxHQRX
O8v5qXSBR7RN5uKwHKHlx/VTiZYBhebM5akauG9LWConCDtOJbfKN2Sv
-----END PRIVATE KEY-----
`;

export const DEFAULT_FRONTEND_HTML =
  '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>JetScale</title></head>\n' +
  '<body><div id="app"></div><script type="module" src="/app.js"></script></body>\n</html>\n';

export type ContractServerRole = 'backend' | 'frontend';

export interface ContractServerOptions {
  /** Default 'backend'. */
  role?: ContractServerRole;
  /** Frontend only (required): where /api/* is proxied, e.g. the backend server's url. */
  backendUrl?: string;
  /** Backend: the SHA reported by /api/version (default 'unknown', like the example without GIT_SHA). */
  sha?: string;
  /** Serve HTTPS with TEST_TLS_CERT. */
  tls?: boolean;
  /** Listen on this port (default: a free one). */
  port?: number;
  /** Listen address (default 127.0.0.1). */
  host?: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  /** The Host header as received. */
  host: string | undefined;
  headers: http.IncomingHttpHeaders;
  /** TLS server name (SNI) the client sent; undefined over plain HTTP. */
  servername: string | undefined;
  /** What this server answered with (set when the response is finished). */
  status?: number;
}

export interface Item {
  id: number;
  name: string;
  createdAt: string;
}

/** Mutable knobs; change them between or during requests. */
export interface ContractServerState {
  /** Backend: SHA in /api/version and X-Git-Sha. */
  sha: string;
  /** Backend: readiness of the dependencies; anything but 'ok' makes /readyz answer 503. */
  postgres: string;
  redis: string;
  /** Backend: while false, POST /api/items answers 201 but GET /api/items leaves the items so created out. */
  listsItems: boolean;
  /** Frontend: the page served at GET /. */
  html: string;
  /** Answer `failStatus` to the next N requests (whose path starts with failPathPrefix, if set). */
  failNext: number;
  failStatus: number;
  failPathPrefix: string | undefined;
  /** Answer 503 to every request until this time (epoch milliseconds). */
  unavailableUntil: number;
}

export interface ContractServer {
  readonly role: ContractServerRole;
  /** Base URL, e.g. http://127.0.0.1:43123 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly state: ContractServerState;
  readonly requests: RequestRecord[];
  /** Backend: every item created, newest first. */
  readonly items: Item[];
  /** Fail the next `count` requests (optionally only those under pathPrefix) with `status` (default 503). */
  failNext(count: number, options?: { status?: number; pathPrefix?: string }): void;
  /** Answer 503 to everything for the next `ms` milliseconds. */
  unavailableFor(ms: number): void;
  close(): Promise<void>;
}

export async function startContractServer(options: ContractServerOptions = {}): Promise<ContractServer> {
  const role = options.role ?? 'backend';
  if (role === 'frontend' && !options.backendUrl) {
    throw new TypeError('startContractServer: role "frontend" needs backendUrl (where /api/* is proxied)');
  }
  const state: ContractServerState = {
    sha: options.sha ?? 'unknown',
    postgres: 'ok',
    redis: 'ok',
    listsItems: true,
    html: DEFAULT_FRONTEND_HTML,
    failNext: 0,
    failStatus: 503,
    failPathPrefix: undefined,
    unavailableUntil: 0,
  };
  const requests: RequestRecord[] = [];
  const items: Item[] = [];
  const hidden = new Set<number>(); // items created while listsItems was false
  let nextId = 1;
  let itemsCreated = 0;

  const handler: http.RequestListener = (req, res) => {
    const record: RequestRecord = {
      method: req.method ?? '',
      path: req.url ?? '',
      host: req.headers.host,
      headers: req.headers,
      servername: (req.socket as Partial<TLSSocket>).servername || undefined,
    };
    requests.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    const path = (req.url ?? '/').split('?')[0] ?? '/';

    if (Date.now() < state.unavailableUntil) return sendJson(res, 503, { error: 'unavailable (test knob)' });
    if (state.failNext > 0 && (!state.failPathPrefix || path.startsWith(state.failPathPrefix))) {
      state.failNext--;
      return sendJson(res, state.failStatus, {
        error: `failing on purpose (test knob), ${state.failNext} left`,
      });
    }

    if (role === 'frontend') return frontend(req, res, path);
    res.setHeader('X-Git-Sha', state.sha);
    return backend(req, res, path);
  };

  function frontend(req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    if (path === '/api' || path.startsWith('/api/')) return proxy(req, res, options.backendUrl as string);
    if (req.method === 'GET' && path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(state.html);
      return;
    }
    sendJson(res, 404, { error: `not found: ${req.method} ${path}` });
  }

  function backend(req: http.IncomingMessage, res: http.ServerResponse, fullPath: string) {
    const path = fullPath.startsWith('/api/') ? fullPath.slice(4) : fullPath;
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'GET /healthz':
        return sendJson(res, 200, { status: 'ok' });
      case 'GET /readyz': {
        const ready = state.postgres === 'ok' && state.redis === 'ok';
        return sendJson(res, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not ready',
          postgres: state.postgres,
          redis: state.redis,
        });
      }
      case 'GET /version':
        return sendJson(res, 200, { sha: state.sha, service: 'backend' });
      case 'GET /stats':
        return sendJson(res, 200, { itemsCreated });
      case 'GET /items': {
        const visible = items.filter((item) => !hidden.has(item.id));
        return sendJson(res, 200, { items: visible.slice(0, 100) });
      }
      case 'POST /items':
        readBody(req).then(
          (raw) => {
            let body: unknown;
            try {
              body = JSON.parse(raw);
            } catch {
              return sendJson(res, 400, { error: 'body must be JSON {"name": string of 1..200 characters}' });
            }
            const name = (body as { name?: unknown } | null)?.name;
            if (typeof name !== 'string' || name.length < 1 || name.length > 200) {
              return sendJson(res, 400, { error: 'name must be a string of 1..200 characters' });
            }
            const item: Item = { id: nextId++, name, createdAt: new Date().toISOString() };
            if (!state.listsItems) hidden.add(item.id);
            items.unshift(item);
            itemsCreated++;
            sendJson(res, 201, item);
          },
          () => sendJson(res, 400, { error: 'could not read body' }),
        );
        return;
      default:
        return sendJson(res, 404, { error: `not found: ${route}` });
    }
  }

  const server = options.tls
    ? https.createServer({ cert: TEST_TLS_CERT, key: TEST_TLS_KEY }, handler)
    : http.createServer(handler);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    role,
    url: `${options.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    port,
    state,
    requests,
    items,
    failNext(count, opts = {}) {
      state.failNext = count;
      state.failStatus = opts.status ?? 503;
      state.failPathPrefix = opts.pathPrefix;
    },
    unavailableFor(ms) {
      state.unavailableUntil = Date.now() + ms;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** A backend plus a frontend proxying /api to it: `frontend.url` stands for an ingress host. */
export async function startContractStack(
  options: { sha?: string; tls?: boolean } = {},
): Promise<{ backend: ContractServer; frontend: ContractServer; close(): Promise<void> }> {
  const backend = await startContractServer({ role: 'backend', sha: options.sha });
  const frontend = await startContractServer({ role: 'frontend', backendUrl: backend.url, tls: options.tls });
  return {
    backend,
    frontend,
    async close() {
      await frontend.close();
      await backend.close();
    },
  };
}

function proxy(req: http.IncomingMessage, res: http.ServerResponse, backendUrl: string): void {
  const target = new URL(req.url ?? '/', backendUrl);
  const upstream = (target.protocol === 'https:' ? https : http).request(
    target,
    {
      method: req.method,
      headers: { ...req.headers, host: target.host },
      agent: false,
      rejectUnauthorized: false,
    },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    if (!res.headersSent)
      sendJson(res, 502, { error: `proxy to ${backendUrl} failed: ${error.code ?? error.message}` });
    else res.destroy();
  });
  req.pipe(upstream);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
