/** A real HTTP server on loopback standing in for the backend: it records what it receives. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export type Route = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export class FakeBackend {
  readonly received: Received[] = [];
  readonly routes = new Map<string, Route>();
  private server: Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const route = this.routes.get((req.url ?? '').split('?')[0] ?? '');
      if (route) {
        route(req, res, body);
        return;
      }
      const payload = JSON.stringify({ echo: { method: req.method, url: req.url, body: body.toString() } });
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Git-Sha': 'backend-sha' });
      res.end(payload);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
