/**
 * The frontend as the images run it: the production build under plain node, and the dev command
 * (scripts/dev.mjs … --dev, the dev image command) with live reload. Both in front of a fake backend on loopback.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../scripts/build-web.js';
import { FakeBackend } from './support/fake-backend.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const execFileAsync = promisify(execFile);

async function freePort(): Promise<number> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

class Child {
  output = '';
  readonly exited: Promise<number | null>;
  constructor(readonly process: ChildProcess) {
    process.stdout?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    process.stderr?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    this.exited = new Promise((resolve) => process.once('exit', (code) => resolve(code)));
  }
  static spawn(args: string[], env: Record<string, string>): Child {
    return new Child(
      spawn(globalThis.process.execPath, args, {
        cwd: root,
        env: { PATH: globalThis.process.env.PATH ?? '', HOME: tmpdir(), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
  }
  async waitFor(url: string): Promise<Response> {
    for (let i = 0; ; i++) {
      try {
        return await fetch(url);
      } catch (error) {
        if (this.process.exitCode !== null || i > 300) throw new Error(`${url}: ${error}\n${this.output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

describe('frontend processes', () => {
  const backend = new FakeBackend();
  const children: Child[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    await backend.start();
  });

  afterAll(async () => {
    for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL');
    await backend.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('production build: node dist/server/main.js serves the page, proxies /api, stops on SIGTERM', async () => {
    const out = mkdtempSync(join(tmpdir(), 'jetscale-frontend-dist-'));
    dirs.push(out);
    await execFileAsync(
      globalThis.process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(out, 'server')],
      { cwd: root },
    );
    await buildWeb(join(root, 'src', 'web'), join(out, 'public'));
    writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');

    const port = await freePort();
    const child = Child.spawn([join(out, 'server', 'main.js')], {
      PORT: String(port),
      BACKEND_URL: backend.url,
      GIT_SHA: 'f00d',
    });
    children.push(child);
    const page = await child.waitFor(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('x-git-sha')).toBe('f00d');
    const html = await page.text();
    expect(html).toContain('id="app"');
    expect(html).toContain('<title>JetScale</title>');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const proxied = await fetch(`http://127.0.0.1:${port}/api/version?x=1`);
    expect(await proxied.json()).toEqual({ echo: { method: 'GET', url: '/api/version?x=1', body: '' } });

    child.process.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    const logs = child.output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs.filter((l) => l.msg === 'request').map((l) => l.path)).toEqual([
      '/',
      '/healthz',
      '/api/version',
    ]);
    expect(logs.at(-1)).toMatchObject({ msg: 'stopped', outcome: 'closed' });
  });

  it('exits 2 with a clear message when BACKEND_URL is missing', async () => {
    const child = Child.spawn([require.resolve('tsx/cli'), 'src/server/main.ts'], {
      PORT: String(await freePort()),
    });
    children.push(child);
    expect(await child.exited).toBe(2);
    expect(child.output).toContain('BACKEND_URL is required: an http(s) URL like http://app-backend:80');
  });

  it('dev mode: bundles main.ts per request and tells open pages to reload when a web file changes', async () => {
    const web = mkdtempSync(join(tmpdir(), 'jetscale-web-'));
    dirs.push(web);
    cpSync(join(root, 'src', 'web'), web, { recursive: true });
    const port = await freePort();
    const child = Child.spawn([join(root, 'scripts', 'dev.mjs'), 'src/server/main.ts', '--dev'], {
      PORT: String(port),
      BACKEND_URL: backend.url,
      STATIC_DIR: web,
    });
    children.push(child);
    const base = `http://127.0.0.1:${port}`;
    const page = await (await child.waitFor(`${base}/`)).text();
    expect(page).toContain('<title>JetScale</title>');
    expect(page).toContain("new EventSource('/__dev/events')");

    const script = await fetch(`${base}/main.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toContain('function createApi(');

    const events = await new Promise<{ text: () => string; close: () => void }>((resolve, reject) => {
      let text = '';
      const req = get(`${base}/__dev/events`, (res) => {
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        resolve({ text: () => text, close: () => req.destroy() });
      });
      req.on('error', reject);
    });
    const mainTs = join(web, 'main.ts');
    writeFileSync(mainTs, readFileSync(mainTs, 'utf8').replace('JetScale items', 'JetScale edited items'));
    for (let i = 0; !events.text().includes('event: reload'); i++) {
      if (i > 200) throw new Error(`no reload event; got ${JSON.stringify(events.text())}\n${child.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    events.close();
    expect(await (await fetch(`${base}/main.js`)).text()).toContain('JetScale edited items');

    child.process.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });
});
