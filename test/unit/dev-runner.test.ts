// The examples' dev runner (examples/*/scripts/dev.mjs), run for real on a small project in a temp directory:
// files are replaced the way Tilt's sync replaces them (a tar unpacked over the old file).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, get as httpGet } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');
const runner = join(root, 'examples/backend/scripts/dev.mjs');

interface Answer {
  value: number;
  pid: number;
  argv: string[];
}

let dir: string;
let staging: string;
let child: ChildProcess | undefined;
let output = '';
let port = 0;
const pids = new Set<number>();

async function freePort(): Promise<number> {
  return await new Promise((done) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** As Tilt's live update: tar the file from a staging copy and unpack it over the project's. */
function replace(path: string, text: string): void {
  mkdirSync(dirname(join(staging, path)), { recursive: true });
  writeFileSync(join(staging, path), text);
  const tar = spawnSync('tar', ['-c', '-C', staging, path]);
  expect(tar.status).toBe(0);
  const x = spawnSync('tar', ['-x', '-C', dir], { input: tar.stdout });
  expect(x.status).toBe(0);
}

async function answer(): Promise<Answer | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as Answer;
    pids.add(body.pid);
    return body;
  } catch {
    return undefined;
  }
}

async function until(
  check: (a: Answer) => boolean,
  what: string,
  seen?: (a: Answer) => void,
): Promise<Answer> {
  const started = Date.now();
  for (;;) {
    const a = await answer();
    if (a) seen?.(a);
    if (a && check(a)) return a;
    if (Date.now() - started > 15_000)
      throw new Error(`${what}: not seen in 15 s; runner output:\n${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function start(): void {
  child = spawn(process.execPath, [runner, 'src/main.mjs', '--flag'], {
    cwd: dir,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dev-runner-'));
  staging = mkdtempSync(join(tmpdir(), 'dev-runner-staging-'));
  output = '';
  port = await freePort();
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src/value.mjs'), 'export const value = 0;\n');
  writeFileSync(
    join(dir, 'src/main.mjs'),
    `import { createServer } from 'node:http';
import { value } from './value.mjs';
const answer = (res) => res.end(JSON.stringify({ value, pid: process.pid, argv: process.argv.slice(2) }));
createServer((req, res) => (req.url === '/slow' ? setTimeout(() => answer(res), 1500) : answer(res)))
  .listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => { console.log('graceful stop'); process.exit(7); });
`,
  );
});

afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  pids.clear();
  rmSync(dir, { recursive: true, force: true });
  rmSync(staging, { recursive: true, force: true });
});

describe('examples dev runner', () => {
  it('is the same file in both examples', () => {
    expect(readFileSync(join(root, 'examples/frontend/scripts/dev.mjs'), 'utf8')).toBe(
      readFileSync(runner, 'utf8'),
    );
  });

  it('serves each tar-replaced edit, in order, with the entry run as if directly', async () => {
    start();
    const first = await until((a) => a.value === 0, 'the first start');
    expect(first.argv).toEqual(['--flag']);
    let newest = 0;
    for (let i = 1; i <= 10; i++) {
      replace('src/value.mjs', `export const value = ${i};\n`);
      await until(
        (a) => a.value === i,
        `edit ${i}`,
        (a) => {
          expect(a.value, 'an older edit answered after a newer one').toBeGreaterThanOrEqual(newest);
          newest = a.value;
        },
      );
    }
  }, 60_000);

  it('across 10 restarts, a client connecting every few ms is never refused and never sees an older edit after a newer one', async () => {
    // What Kubernetes' port-forward needs (Tilt's): a refused or reset connection drops the whole forward.
    start();
    await until((a) => a.value === 0, 'the first start');
    const refused: string[] = [];
    let newest = 0;
    let older = '';
    let answered = 0;
    let closedEmpty = 0;
    let polling = true;
    // A fresh connection per request, raw, so a reset (RST) is told apart from a close without an answer (FIN).
    const once = () =>
      new Promise<void>((done) => {
        const socket = connect({ host: '127.0.0.1', port });
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => {
          text += d;
        });
        socket.once('error', (error: NodeJS.ErrnoException) => {
          refused.push(error.code ?? error.message);
          done();
        });
        socket.once('end', () => {
          const body = text.slice(text.indexOf('\r\n\r\n') + 4);
          if (!text) closedEmpty++;
          else {
            const a = JSON.parse(body) as Answer;
            pids.add(a.pid);
            answered++;
            if (a.value < newest) older ||= `${a.value} after ${newest}`;
            newest = Math.max(newest, a.value);
          }
          socket.end();
          done();
        });
        socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
    const clients = [0, 1].map(async () => {
      while (polling) {
        await once();
        await new Promise((r) => setTimeout(r, 3));
      }
    });
    try {
      for (let i = 1; i <= 10; i++) {
        replace('src/value.mjs', `export const value = ${i};\n`);
        const started = Date.now();
        while (newest < i) {
          if (Date.now() - started > 15_000)
            throw new Error(`edit ${i}: not seen in 15 s; runner output:\n${output}`);
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    } finally {
      polling = false;
      await Promise.all(clients);
    }
    expect(refused, `connections refused or reset (${answered} answered)`).toEqual([]);
    expect(older, 'an older edit answered after a newer one').toBe('');
    expect(closedEmpty, 'connections closed without an answer').toBeLessThan(answered);
  }, 90_000);

  it('a kept-alive connection carries its next request to the restarted server (no reconnect)', async () => {
    start();
    await until((a) => a.value === 0, 'the first start');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ value: number; reused: boolean; socket: unknown }>((resolve, reject) => {
        const req = httpGet({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () =>
            resolve({
              value: (JSON.parse(body) as Answer).value,
              reused: req.reusedSocket,
              socket: req.socket,
            }),
          );
        });
        req.on('error', reject);
      });
    try {
      const first = await get();
      expect(first.value).toBe(0);
      replace('src/value.mjs', 'export const value = 1;\n');
      await until((a) => a.value === 1, 'the edit'); // on other connections: the old server has been killed
      const second = await get();
      expect(second).toMatchObject({ value: 1, reused: true });
      expect(second.socket).toBe(first.socket);
    } finally {
      agent.destroy();
    }
  });

  it('a GET the killed server had not begun to answer is answered by the new server, on the same connection', async () => {
    start();
    await until((a) => a.value === 0, 'the first start');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ value: number; socket: unknown }>((resolve, reject) => {
        const req = httpGet({ host: '127.0.0.1', port, path, agent }, (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve({ value: (JSON.parse(body) as Answer).value, socket: req.socket }));
        });
        req.on('error', reject);
      });
    try {
      const first = await get('/');
      // the old server holds this one for 1.5 s; the edit restarts it meanwhile
      const slow = get('/slow');
      await new Promise((r) => setTimeout(r, 100));
      replace('src/value.mjs', 'export const value = 1;\n');
      const answered = await slow;
      expect(answered.value).toBe(1);
      expect(answered.socket).toBe(first.socket);
    } finally {
      agent.destroy();
    }
  });

  it('serves the last of a burst of edits that land while it restarts', async () => {
    start();
    await until((a) => a.value === 0, 'the first start');
    for (let i = 1; i <= 6; i++) {
      replace('src/value.mjs', `export const value = ${i};\n`);
      await new Promise((r) => setTimeout(r, 10 * i)); // some inside the debounce, some during the restart
    }
    await until((a) => a.value === 6, 'the last edit of the burst');
  }, 30_000);

  it('restarts when package.json changes, and passes SIGTERM on for a graceful stop', async () => {
    start();
    const before = await until((a) => a.value === 0, 'the first start');
    replace('package.json', '{"type":"module","name":"changed"}\n');
    await until((a) => a.pid !== before.pid, 'a restart after package.json changed');
    const exited = new Promise<number | null>((done) => child?.once('exit', (code) => done(code)));
    child?.kill('SIGTERM');
    expect(await exited).toBe(7);
    expect(output).toContain('graceful stop');
  }, 30_000);

  it('stops the server when the runner itself is killed, so nothing is left holding the port', async () => {
    start();
    await until((a) => a.value === 0, 'the first start');
    child?.kill('SIGKILL');
    const started = Date.now();
    while ((await answer()) !== undefined) {
      if (Date.now() - started > 10_000)
        throw new Error(`the server still answers 10 s after the runner died`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(output).toContain('graceful stop');
  }, 30_000);
});
