/** Forwards a request unchanged (method, path, query, body) to the backend and streams the answer back. */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { errorMessage } from './logger.js';

/** Headers that describe one hop, not the message (RFC 9110 section 7.6.1); never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export function forwardableHeaders(headers: IncomingMessage['headers']): Record<string, string | string[]> {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** The backend URL for a request path: base origin + base path prefix + the path and query as sent. */
export function targetUrl(backend: URL, requestUrl: string): URL {
  const prefix = backend.pathname.replace(/\/+$/, '');
  return new URL(`${backend.origin}${prefix}${requestUrl}`);
}

export interface ApiProxy {
  forward(req: IncomingMessage, res: ServerResponse, requestUrl: string): void;
  close(): void;
}

export function createProxy(backend: URL, timeoutMs: number, onError: (message: string) => void): ApiProxy {
  const https = backend.protocol === 'https:';
  const agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const send = https ? httpsRequest : httpRequest;

  const fail = (res: ServerResponse, status: number, message: string): void => {
    onError(message);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = JSON.stringify({ error: message });
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(body);
  };

  return {
    forward(req, res, requestUrl) {
      const target = targetUrl(backend, requestUrl);
      const headers = forwardableHeaders(req.headers);
      // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; forward the plain IPv4 form.
      const remote = (req.socket.remoteAddress ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
      const forwardedFor = req.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${remote}` : remote;
      headers['x-forwarded-host'] ??= req.headers.host ?? '';
      headers['x-forwarded-proto'] ??= 'http';
      headers.host = target.host;

      const upstream = send(target, { method: req.method, headers, agent, timeout: timeoutMs });
      upstream.on('response', (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardableHeaders(answer.headers));
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      });
      upstream.on('timeout', () => {
        upstream.destroy(new Error(`no answer within ${timeoutMs} ms`));
      });
      upstream.on('error', (error) => {
        const timedOut = errorMessage(error).startsWith('no answer within');
        fail(res, timedOut ? 504 : 502, `backend ${target.origin} unavailable: ${errorMessage(error)}`);
      });
      // The client went away: stop the backend request too.
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      req.pipe(upstream);
    },
    close() {
      agent.destroy();
    },
  };
}
