/**
 * Routes: GET /healthz; everything under /api (and /api itself) proxied to the backend unchanged;
 * everything else from the static source ("/" is index.html).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, type Logger } from './logger.js';
import type { ApiProxy } from './proxy.js';
import { filePath, type StaticSource } from './static.js';

export interface AppDeps {
  source: StaticSource;
  proxy: ApiProxy;
  logger: Logger;
  gitSha: string;
  /** Dev mode's extra routes (live reload); returns true when it answered. */
  extra?: (req: IncomingMessage, res: ServerResponse, pathname: string) => boolean;
}

export function isApiPath(pathname: string): boolean {
  return pathname === '/api' || pathname.startsWith('/api/');
}

/** The path and query exactly as the client sent them (origin-form), also for absolute-form requests. */
export function originForm(url: string | undefined): string {
  if (!url) return '/';
  if (url.startsWith('/')) return url;
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  } catch {
    return '/';
  }
}

function pathnameOf(requestUrl: string): string {
  const end = requestUrl.search(/[?#]/);
  return end === -1 ? requestUrl : requestUrl.slice(0, end);
}

function sendText(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
) {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...extra,
  });
  res.end(body);
}

export function createApp(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = process.hrtime.bigint();
    const requestUrl = originForm(req.url);
    const pathname = pathnameOf(requestUrl);
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

    if (isApiPath(pathname)) {
      deps.proxy.forward(req, res, requestUrl);
      return;
    }
    res.setHeader('X-Git-Sha', deps.gitSha);
    if (deps.extra?.(req, res, pathname)) return;
    const readOnly = req.method === 'GET' || req.method === 'HEAD';
    if (!readOnly) {
      sendText(
        res,
        405,
        'application/json; charset=utf-8',
        JSON.stringify({ error: `${req.method} is not allowed` }),
        {
          Allow: 'GET, HEAD',
        },
      );
      return;
    }
    if (pathname === '/healthz') {
      sendText(res, 200, 'application/json; charset=utf-8', '{"status":"ok"}');
      return;
    }
    serveStatic(req, res, pathname, deps).catch((error: unknown) => {
      deps.logger.error('static file failed', { path: pathname, error: errorMessage(error) });
      if (!res.headersSent) sendText(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  };
}

async function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string, deps: AppDeps) {
  const path = filePath(pathname);
  const file = path === undefined ? undefined : await deps.source.get(path);
  if (!file) {
    sendText(res, 404, 'text/plain; charset=utf-8', `not found: ${pathname}\n`);
    return;
  }
  const headers = {
    'Content-Type': file.type,
    ETag: file.etag,
    // File names carry no content hash, so browsers revalidate (cheap: ETag → 304).
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  };
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Length': file.body.length });
  res.end(req.method === 'HEAD' ? undefined : file.body);
}
