/**
 * The real backend process against real Postgres and Redis servers (Debian's packages), over loopback.
 * test/support/global-setup.ts installs (as root) or requires the servers and starts them: nothing here skips.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@redis/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { COUNTER_KEY } from '../../src/counter.js';
import { SEED_ITEMS } from '../../src/seed-items.js';
import { MIGRATIONS, PostgresItemStore } from '../../src/store.js';
import { BackendProcess, backendRoot } from '../support/backend.js';
import { freePort, PostgresServer, RedisServer, refusesConnections } from '../support/services.js';

const execFileAsync = promisify(execFile);
const tscBin = createRequire(import.meta.url).resolve('typescript/bin/tsc');

const GIT_SHA = '0123456789abcdef0123456789abcdef01234567';

interface Item {
  id: number;
  name: string;
  createdAt: string;
}

async function post(url: string, body: string, contentType = 'application/json'): Promise<Response> {
  return await fetch(url, { method: 'POST', headers: { 'Content-Type': contentType }, body });
}

/** Sends a request with `Expect: 100-continue` and holds the body back until `finish` is called. */
async function slowPost(port: number, path: string, body: string) {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
  );
  // The server answers 100 Continue once it parsed the headers: from then on the request is in flight.
  for (let i = 0; !received.includes('100 Continue'); i++) {
    if (i > 200) throw new Error(`no 100 Continue; got ${JSON.stringify(received)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    finish: async (): Promise<{ status: number; headers: string; body: string }> => {
      // Not end(): a half-closed client socket may make the server drop the answer.
      socket.write(body);
      await closed;
      const final = received.slice(received.indexOf('\r\n\r\n') + 4);
      const [head = '', payload = ''] = final.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]);
      if (!status) throw new Error(`no final answer; received ${JSON.stringify(received)}`);
      return { status, headers: head.toLowerCase(), body: payload };
    },
    abort: () => socket.destroy(),
  };
}

describe('backend with real Postgres and Redis', () => {
  let postgres: PostgresServer;
  let redis: RedisServer;
  let backend: BackendProcess;
  const backends: BackendProcess[] = [];

  async function createDatabase(name: string): Promise<string> {
    const admin = new pg.Client({ connectionString: postgres.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    return postgres.url(name);
  }

  async function spawnBackend(env: Record<string, string>, entry?: string[]): Promise<BackendProcess> {
    const defaults = { REDIS_URL: redis.url(), GIT_SHA, LOG_LEVEL: 'info' };
    const started = await BackendProcess.start({ ...defaults, ...env }, entry);
    backends.push(started);
    return started;
  }

  beforeAll(async () => {
    const services = inject('services');
    if (!services)
      throw new Error(
        'no test services: run this file through vitest.config.ts (its global setup starts them)',
      );
    postgres = PostgresServer.attach(services.postgres);
    redis = RedisServer.attach(services.redis);
    backend = await spawnBackend({ DATABASE_URL: await createDatabase('app') });
    await backend.waitForStatus('/readyz', 200);
  });

  afterAll(async () => {
    await Promise.all(backends.map((b) => b.kill()));
  });

  it.each(['/healthz', '/api/healthz'])('GET %s is 200 {"status":"ok"}', async (path) => {
    const response = await fetch(`${backend.url}${path}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it.each(['/readyz', '/api/readyz'])('GET %s is 200 with both dependencies ok', async (path) => {
    const response = await fetch(`${backend.url}${path}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', postgres: 'ok', redis: 'ok' });
  });

  it('GET /api/version gives GIT_SHA, and every response carries X-Git-Sha', async () => {
    const response = await fetch(`${backend.url}/api/version`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sha: GIT_SHA, service: 'backend' });
    for (const path of ['/api/version', '/healthz', '/api/items', '/api/nope']) {
      const r = await fetch(`${backend.url}${path}`);
      expect(r.headers.get('x-git-sha'), path).toBe(GIT_SHA);
    }
  });

  it('POST /api/items stores the item in Postgres and counts it in Redis', async () => {
    const before = (await (await fetch(`${backend.url}/api/stats`)).json()) as { itemsCreated: number };
    const response = await post(`${backend.url}/api/items`, JSON.stringify({ name: 'milk ü 🥛' }));
    expect(response.status).toBe(201);
    const item = (await response.json()) as Item;
    expect(item).toEqual({ id: expect.any(Number), name: 'milk ü 🥛', createdAt: expect.any(String) });
    expect(new Date(item.createdAt).toISOString()).toBe(item.createdAt);

    const db = new pg.Client({ connectionString: postgres.url('app') });
    await db.connect();
    const rows = await db.query('SELECT name FROM items WHERE id = $1', [item.id]);
    await db.end();
    expect(rows.rows).toEqual([{ name: 'milk ü 🥛' }]);

    const after = (await (await fetch(`${backend.url}/api/stats`)).json()) as { itemsCreated: number };
    expect(after.itemsCreated).toBe(before.itemsCreated + 1);
    const client = createClient({ url: redis.url() });
    await client.connect();
    expect(await client.get(COUNTER_KEY)).toBe(String(after.itemsCreated));
    await client.close();
  });

  it.each([
    ['no name', 400, '{}'],
    ['empty name', 400, '{"name":""}'],
    ['blank name', 400, '{"name":"   "}'],
    ['name too long', 400, JSON.stringify({ name: 'x'.repeat(201) })],
    ['number name', 400, '{"name":42}'],
    ['array body', 400, '["milk"]'],
    ['broken JSON', 400, '{"name":'],
    ['empty body', 400, ''],
    ['body over 16 KiB', 413, JSON.stringify({ name: 'x'.repeat(17_000) })],
  ])('POST /api/items with %s is %i and stores nothing', async (_label, status, body) => {
    const before = ((await (await fetch(`${backend.url}/api/items`)).json()) as { items: Item[] }).items;
    const response = await post(`${backend.url}/api/items`, body);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: string }).error).toMatch(/name|body/);
    const after = ((await (await fetch(`${backend.url}/api/items`)).json()) as { items: Item[] }).items;
    expect(after).toEqual(before);
  });

  it('POST /items with a text body is 415', async () => {
    const response = await post(`${backend.url}/items`, 'name=milk', 'text/plain');
    expect(response.status).toBe(415);
  });

  it('POST accepts 200 characters', async () => {
    const response = await post(`${backend.url}/api/items`, JSON.stringify({ name: 'é'.repeat(200) }));
    expect(response.status).toBe(201);
  });

  it('GET /api/items lists the newest 100 first', async () => {
    const created: Item[] = [];
    for (let i = 0; i < 105; i++) {
      const response = await post(`${backend.url}/api/items`, JSON.stringify({ name: `item ${i}` }));
      created.push((await response.json()) as Item);
    }
    const response = await fetch(`${backend.url}/api/items`);
    expect(response.status).toBe(200);
    const { items } = (await response.json()) as { items: Item[] };
    expect(items).toHaveLength(100);
    expect(items.slice(0, 100)).toEqual(created.slice(5).reverse());
    const bare = (await (await fetch(`${backend.url}/items`)).json()) as { items: Item[] };
    expect(bare.items).toEqual(items);
  });

  it('logs one JSON line per request with method, path, status and ms', async () => {
    await fetch(`${backend.url}/api/items?probe=log-check`);
    const line = await backend.waitForLog(
      (l) => l.msg === 'request' && l.path === '/api/items' && l.status === 200,
    );
    expect(line).toMatchObject({ level: 'info', method: 'GET', path: '/api/items', status: 200 });
    expect(typeof line.ms).toBe('number');
    expect(backend.stray).toEqual([]);
  });

  it('readiness turns 503 while Redis is down, and back to 200 when it returns', async () => {
    await redis.stop();
    const down = await backend.waitForStatus('/readyz', 503);
    const body = (await down.json()) as { status: string; postgres: string; redis: string };
    expect(body.postgres).toBe('ok');
    expect(body.redis).not.toBe('ok');
    expect((await fetch(`${backend.url}/api/stats`)).status).toBe(503);
    // Items live in Postgres: creating one still works, only the counter misses it.
    expect((await post(`${backend.url}/api/items`, '{"name":"during redis outage"}')).status).toBe(201);

    await redis.resume();
    const up = await backend.waitForStatus('/readyz', 200);
    expect(await up.json()).toEqual({ status: 'ready', postgres: 'ok', redis: 'ok' });
    expect((await fetch(`${backend.url}/api/stats`)).status).toBe(200);
  });

  it('readiness turns 503 while Postgres is down, and back to 200 when it returns', async () => {
    await postgres.stop();
    const down = await backend.waitForStatus('/readyz', 503);
    const body = (await down.json()) as { status: string; postgres: string; redis: string };
    expect(body.postgres).not.toBe('ok');
    expect(body.redis).toBe('ok');
    expect((await fetch(`${backend.url}/api/items`)).status).toBe(503);

    await postgres.resume();
    await backend.waitForStatus('/readyz', 200);
    expect((await fetch(`${backend.url}/api/items`)).status).toBe(200);
  });

  it('three replicas starting at once migrate a fresh database exactly once', async () => {
    const url = await createDatabase('replicas');
    const replicas = await Promise.all([1, 2, 3].map(() => spawnBackend({ DATABASE_URL: url })));
    await Promise.all(replicas.map((r) => r.waitForStatus('/readyz', 200)));
    const applied = await Promise.all(
      replicas.map(async (r) => (await r.waitForLog((l) => l.msg === 'migrations done')).applied as number),
    );
    expect(applied.reduce((a, b) => a + b, 0)).toBe(MIGRATIONS.length);

    const store = new PostgresItemStore({ connectionString: url }, () => {});
    expect(await store.migrate()).toBe(0);
    const versions = await store.pool.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.rows.map((row) => row.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    await store.close();
    await Promise.all(replicas.map((r) => r.kill()));
  });

  it('connects with PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE when DATABASE_URL is unset', async () => {
    const pgEnv = await spawnBackend({
      PGHOST: '127.0.0.1',
      PGPORT: String(postgres.port),
      PGUSER: postgres.user,
      PGPASSWORD: postgres.password,
      PGDATABASE: 'app',
    });
    await pgEnv.waitForStatus('/readyz', 200);
    const listed = (await (await fetch(`${pgEnv.url}/api/items`)).json()) as { items: Item[] };
    const direct = (await (await fetch(`${backend.url}/api/items`)).json()) as { items: Item[] };
    expect(listed.items).toEqual(direct.items);
    await pgEnv.kill();
  });

  it('starts before Postgres exists, reports it unready, and migrates once it appears', async () => {
    const late = await spawnBackend({ DATABASE_URL: postgres.url('late') });
    const down = await late.waitForStatus('/readyz', 503);
    expect(((await down.json()) as { postgres: string }).postgres).toMatch(/migrations pending/);
    await createDatabase('late');
    await late.waitForStatus('/readyz', 200);
    await late.kill();
  });

  it('SIGTERM: refuses new connections, finishes the in-flight request, closes pools, exits 0', async () => {
    const victim = await spawnBackend({ DATABASE_URL: postgres.url('app'), SHUTDOWN_TIMEOUT_MS: '20000' });
    await victim.waitForStatus('/readyz', 200);
    const inflight = await slowPost(victim.port, '/api/items', JSON.stringify({ name: 'in flight' }));
    victim.child.kill('SIGTERM');
    await victim.waitForLog((l) => l.msg === 'shutting down');
    for (let i = 0; !(await refusesConnections(victim.port)); i++) {
      if (i > 100) throw new Error('the backend still accepts connections after SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(victim.child.exitCode).toBeNull();

    const answer = await inflight.finish();
    expect(answer.status).toBe(201);
    expect(answer.headers).toContain('connection: close');
    expect(JSON.parse(answer.body)).toMatchObject({ name: 'in flight' });
    expect(await victim.exited).toBe(0);
    expect(victim.logs.at(-1)).toMatchObject({ msg: 'stopped', outcome: 'closed' });
  });

  it('SIGTERM with a request that never finishes: gives up after SHUTDOWN_TIMEOUT_MS and exits 1', async () => {
    const victim = await spawnBackend({ DATABASE_URL: postgres.url('app'), SHUTDOWN_TIMEOUT_MS: '300' });
    await victim.waitForStatus('/readyz', 200);
    const stuck = await slowPost(victim.port, '/api/items', JSON.stringify({ name: 'never sent' }));
    victim.child.kill('SIGTERM');
    expect(await victim.exited).toBe(1);
    expect(victim.logs.map((l) => l.msg)).toContain(
      'in-flight requests did not finish in time; closing them',
    );
    stuck.abort();
  });

  it('the tsc build (what the prod image runs) works under plain node', async () => {
    // Inside node_modules so that the build resolves pg and @redis/client like /app/dist does in the image.
    const outDir = join(backendRoot, 'node_modules', '.cache', 'jetscale-test-dist');
    rmSync(outDir, { recursive: true, force: true });
    await execFileAsync(process.execPath, [tscBin, '-p', 'tsconfig.build.json', '--outDir', outDir], {
      cwd: backendRoot,
    });
    writeFileSync(join(outDir, 'package.json'), '{"type":"module"}\n');
    const built = await spawnBackend({ DATABASE_URL: postgres.url('app') }, [join(outDir, 'main.js')]);
    const ready = await built.waitForStatus('/api/readyz', 200);
    expect(await ready.json()).toEqual({ status: 'ready', postgres: 'ok', redis: 'ok' });
    const created = await post(`${built.url}/api/items`, '{"name":"from the build"}');
    expect(created.status).toBe(201);
    built.child.kill('SIGTERM');
    expect(await built.exited).toBe(0);
    rmSync(outDir, { recursive: true, force: true });
  });

  it('dev mode (scripts/dev.mjs, the dev image command) restarts when a synced source file changes', async () => {
    // A copy laid out like /app in the dev image; the runner watches the entry's directory (src).
    const devRoot = mkdtempSync(join(tmpdir(), 'jetscale-dev-'));
    cpSync(join(backendRoot, 'src'), join(devRoot, 'src'), { recursive: true });
    symlinkSync(join(backendRoot, 'node_modules'), join(devRoot, 'node_modules'));
    writeFileSync(join(devRoot, 'package.json'), '{"type":"module"}\n');
    const dev = await spawnBackend({ DATABASE_URL: postgres.url('app') }, [
      join(backendRoot, 'scripts', 'dev.mjs'),
      join(devRoot, 'src', 'main.ts'),
    ]);
    await dev.waitForStatus('/api/version', 200);
    const appTs = join(devRoot, 'src', 'app.ts');
    writeFileSync(
      appTs,
      readFileSync(appTs, 'utf8').replace("service: 'backend'", "service: 'backend-edited'"),
    );
    const deadline = Date.now() + 30_000;
    let service = '';
    while (service !== 'backend-edited' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      service = await fetch(`${dev.url}/api/version`)
        .then(async (r) => ((await r.json()) as { service: string }).service)
        .catch(() => '');
    }
    expect(service).toBe('backend-edited');
    dev.child.kill('SIGTERM');
    expect(await dev.exited).toBe(0);
    rmSync(devRoot, { recursive: true, force: true });
  });

  it('the seed migrates a new database and inserts its items once: two at once, and again, add nothing twice', async () => {
    const url = await createDatabase('seeded');
    const seedEntry = ['--import', 'tsx', 'src/seed.ts'];
    const first = await Promise.all([1, 2].map(() => spawnBackend({ DATABASE_URL: url }, seedEntry)));
    expect(await Promise.all(first.map((r) => r.exited))).toEqual([0, 0]);
    const inserted = first.map((r) => Number(r.logs.find((l) => l.msg === 'seeded')?.inserted));
    expect(inserted.reduce((a, b) => a + b, 0)).toBe(SEED_ITEMS.length);
    const again = await spawnBackend({ DATABASE_URL: url }, seedEntry);
    expect(await again.exited).toBe(0);
    expect(again.logs.find((l) => l.msg === 'seeded')).toMatchObject({ inserted: 0, migrated: 0 });

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const rows = await client.query<{ name: string; n: number }>(
        'SELECT name, count(*)::int AS n FROM items GROUP BY name ORDER BY name',
      );
      expect(rows.rows).toEqual([...SEED_ITEMS].sort().map((name) => ({ name, n: 1 })));
    } finally {
      await client.end();
    }
    // What a new preview shows: the backend on the seeded database lists them.
    const served = await spawnBackend({ DATABASE_URL: url });
    await served.waitForStatus('/readyz', 200);
    const list = (await (await fetch(`${served.url}/api/items`)).json()) as { items: Item[] };
    expect(list.items.map((i) => i.name).sort()).toEqual([...SEED_ITEMS].sort());
  });

  it('a seed that cannot reach Postgres exits 1 and logs why', async () => {
    const closed = await spawnBackend(
      { DATABASE_URL: `postgres://nobody@127.0.0.1:${await freePort()}/none` },
      ['--import', 'tsx', 'src/seed.ts'],
    );
    expect(await closed.exited).toBe(1);
    expect(closed.logs.find((l) => l.msg === 'seed failed')?.error).toMatch(/ECONNREFUSED|connect/);
  });

  it('bad configuration exits 2 naming the variable, the value and the accepted form', async () => {
    const bad = await spawnBackend({ DATABASE_URL: postgres.url('app'), PORT: '0', REDIS_URL: 'http://x' });
    expect(await bad.exited).toBe(2);
    const line = bad.logs.find((l) => l.msg === 'invalid configuration');
    expect(line?.error).toMatch(/PORT="0" is not valid: expected an integer 1\.\.65535/);
  });
});
