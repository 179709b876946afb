/**
 * A real HTTP server on 127.0.0.1 (random port) that serves release assets built by a test, and can be told
 * to misbehave the way download sites do: 404, 5xx a number of times, reset the connection, cut the body
 * short (Content-Length larger than what is sent), or send other bytes than the real asset. Every request
 * is recorded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  /** Answer with this status (and a short text body). */
  | { type: 'status'; status: number }
  /** Reset the TCP connection before any response byte. */
  | { type: 'reset' }
  /** Send headers with the full Content-Length, then half the body, then close the connection. */
  | { type: 'truncate' }
  /** Send headers with the full Content-Length and half the body, then nothing more (connection kept open). */
  | { type: 'stall' }
  /** Send these bytes instead of the asset (correct Content-Length for them). */
  | { type: 'body'; body: Buffer };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

interface FaultEntry {
  fault: Fault;
  remaining: number;
}

export class DownloadServer {
  readonly requests: RecordedRequest[] = [];
  private readonly routes = new Map<string, Buffer>();
  private readonly faults = new Map<string, FaultEntry[]>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<DownloadServer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const instance = new DownloadServer(server, `http://127.0.0.1:${port}`);
    server.on('connection', (socket) => {
      instance.sockets.add(socket);
      socket.on('close', () => instance.sockets.delete(socket));
    });
    server.on('request', (req, res) => instance.handle(req, res));
    return instance;
  }

  /** Serve `body` at `path` (e.g. "/kind/v0.30.0/kind-linux-amd64"). */
  serve(path: string, body: Buffer): void {
    this.routes.set(path, body);
  }

  /** Misbehave on `path` for the next `times` requests (default: every request), then behave. */
  fail(path: string, fault: Fault, times = Number.POSITIVE_INFINITY): void {
    const list = this.faults.get(path) ?? [];
    list.push({ fault, remaining: times });
    this.faults.set(path, list);
  }

  /** Number of requests recorded, for one path or for all. */
  requestCount(path?: string): number {
    return path === undefined ? this.requests.length : this.requests.filter((r) => r.path === path).length;
  }

  /** Forget routes, faults and recorded requests. */
  clear(): void {
    this.routes.clear();
    this.faults.clear();
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private nextFault(path: string): Fault | undefined {
    const list = this.faults.get(path);
    const entry = list?.find((e) => e.remaining > 0);
    if (!entry) return undefined;
    entry.remaining -= 1;
    return entry.fault;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', this.url).pathname;
    this.requests.push({ method: req.method ?? 'GET', path, headers: req.headers });
    const fault = this.nextFault(path);
    const body = this.routes.get(path);
    if (fault?.type === 'reset') {
      const socket = req.socket as Socket & { resetAndDestroy?: () => void };
      if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
      else socket.destroy();
      return;
    }
    if (fault?.type === 'status') {
      res.writeHead(fault.status, { 'Content-Type': 'text/plain' });
      res.end(`status ${fault.status} from the test download server\n`);
      return;
    }
    if (body === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('Not Found\n');
      return;
    }
    if (fault?.type === 'truncate') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
        // Give the bytes a moment to leave, then drop the connection with the body incomplete.
        setTimeout(() => req.socket.destroy(), 20);
      });
      return;
    }
    if (fault?.type === 'stall') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      return;
    }
    const payload = fault?.type === 'body' ? fault.body : body;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': payload.length });
    res.end(payload);
  }
}
