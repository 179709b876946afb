import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  assertContract,
  type CheckResult,
  ContractFailure,
  ContractHttpClient,
  type ContractOptions,
  evaluatePath,
  formatReport,
  runContractChecks as runDeclared,
  SmokeModeWriteError,
  stripPrefix,
} from '../../src/contract.js';
import { readDeclaration } from '../../src/declaration.js';
import { type ContractServer, startContractServer, startContractStack } from '../support/contract-server.js';
import { repoRoot } from '../support/tools.js';

// The examples' declared contract (charts/app/values.yaml services.*.checks), run against loopback servers that
// speak the examples' API (test/support/contract-server.ts).
const EXAMPLES = readDeclaration(repoRoot, 'preview', {}).checks;
const CHECK_NAMES = EXAMPLES.map((c) => c.name);
type CheckName = string;

/**
 * The examples' checks against a frontend URL (everything through it, as through an ingress: stage preview, or
 * live in smoke mode), or against each service's own URL (as through forwards: stage ci).
 */
function runContractChecks(
  o: Omit<ContractOptions, 'checks' | 'stage' | 'target'> & { frontendUrl: string; backendUrl?: string },
) {
  const { frontendUrl, backendUrl, ...rest } = o;
  return runDeclared({
    ...rest,
    checks: EXAMPLES,
    stage: o.mode === 'smoke' ? 'live' : backendUrl ? 'ci' : 'preview',
    target: backendUrl ? { services: { backend: backendUrl, frontend: frontendUrl } } : { url: frontendUrl },
  });
}

type Stack = Awaited<ReturnType<typeof startContractStack>>;

/** Short deadlines: every failing case below retries a few times and then gives up. */
const FAST = { deadlineMs: 600, intervalMs: 100 } as const;

function byName(results: CheckResult[]): Record<string, CheckResult> {
  return Object.fromEntries(results.map((r) => [r.name, r]));
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = await startContractServer();
  const port = server.port;
  await server.close();
  return port;
}

describe('runContractChecks against a healthy stack', () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startContractStack({ sha: 'abc123' });
  });
  afterEach(async () => {
    await stack.close();
  });

  test.each([
    { topology: 'backend reached through the frontend URL (ingress-like)', separateBackend: false },
    { topology: 'backend at its own URL', separateBackend: true },
  ])('all checks pass: $topology', async ({ separateBackend }) => {
    const results = await runContractChecks({
      frontendUrl: stack.frontend.url,
      backendUrl: separateBackend ? stack.backend.url : undefined,
      mode: 'full',
      expectedSha: 'abc123',
      ...FAST,
    });
    expect(results.map((r) => r.name)).toEqual([...CHECK_NAMES]);
    for (const r of results) {
      expect(r, r.detail).toMatchObject({ ok: true, attempts: 1 });
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
    }
    const checks = byName(results);
    const apiBase = separateBackend ? stack.backend.url : stack.frontend.url;
    expect(checks['backend-health']?.url).toBe(`${apiBase}/api/healthz`);
    expect(checks['frontend-page']?.url).toBe(`${stack.frontend.url}/`);
    expect(checks['frontend-api']?.detail).toContain('abc123');
    expect(() => assertContract(results)).not.toThrow();

    // The round trip really wrote one item, and read it back under the same id.
    expect(stack.backend.items).toHaveLength(1);
    expect(checks['api-create-item']?.detail).toContain(`saved id ${stack.backend.items[0]?.id}`);
    expect(checks['api-round-trip']?.detail).toContain(`items[*].id includes ${stack.backend.items[0]?.id}`);
    // Without a separate backend URL every request went through the frontend.
    const frontendApiRequests = stack.frontend.requests.filter((r) => r.path.startsWith('/api/'));
    expect(frontendApiRequests.length).toBe(separateBackend ? 1 : 5);
  });

  test('keeps a path prefix of the base URL', async () => {
    const results = await runContractChecks({
      frontendUrl: `${stack.frontend.url}/`,
      mode: 'smoke',
      ...FAST,
    });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(stack.frontend.requests.map((r) => r.path)).toEqual([
      '/api/healthz',
      '/api/readyz',
      '/',
      '/api/version',
    ]);
  });

  test('sends the extra headers with every request', async () => {
    await runContractChecks({
      frontendUrl: stack.frontend.url,
      mode: 'full',
      headers: { 'x-preview-token': 't0ken' },
      ...FAST,
    });
    expect(stack.frontend.requests.length).toBeGreaterThan(0);
    for (const r of stack.frontend.requests) expect(r.headers['x-preview-token']).toBe('t0ken');
  });
});

describe('a single failure fails exactly that check', () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startContractStack({ sha: 'old-sha' });
  });
  afterEach(async () => {
    await stack.close();
  });

  const cases: Array<{
    broken: string;
    check: CheckName;
    breakIt: (s: Stack) => void;
    urlPath: string;
    shows: string[];
    expectedSha?: string;
  }> = [
    {
      broken: 'not ready: redis down',
      check: 'backend-ready',
      breakIt: (s) => {
        s.backend.state.redis = 'down';
      },
      urlPath: '/api/readyz',
      shows: ['503', '"redis":"down"'],
    },
    {
      broken: 'round trip: created item missing from the list',
      check: 'api-round-trip',
      breakIt: (s) => {
        s.backend.state.listsItems = false;
      },
      urlPath: '/api/items',
      shows: ['GET', 'expected items[*].id to include', '{"items":[]}'],
    },
    {
      broken: 'page lacks id="app"',
      check: 'frontend-page',
      breakIt: (s) => {
        s.frontend.state.html = '<!doctype html><html><title>JetScale</title><body>maintenance</body></html>';
      },
      urlPath: '/',
      shows: ['200', 'text/html', 'maintenance'],
    },
    {
      broken: 'wrong sha (old version still live)',
      check: 'frontend-api',
      breakIt: () => {},
      expectedSha: 'new-sha',
      urlPath: '/api/version',
      shows: ['expected sha "new-sha", got "old-sha"', '"sha":"old-sha"'],
    },
  ];

  test.each(cases)('$broken → $check fails', async ({ check, breakIt, urlPath, shows, expectedSha }) => {
    breakIt(stack);
    const results = await runContractChecks({
      frontendUrl: stack.frontend.url,
      mode: 'full',
      expectedSha,
      ...FAST,
    });
    expect(results.map((r) => r.name)).toEqual([...CHECK_NAMES]);
    const failed = results.filter((r) => !r.ok);
    expect(failed.map((r) => r.name)).toEqual([check]);

    const result = failed[0] as CheckResult;
    const url = `${stack.frontend.url}${urlPath}`;
    expect(result.url).toBe(url);
    expect(result.detail).toContain(check);
    expect(result.detail).toContain(url);
    for (const text of shows) expect(result.detail).toContain(text);
    // It retried until the deadline, not just once.
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.durationMs).toBeGreaterThanOrEqual(FAST.deadlineMs - 5);

    let thrown: unknown;
    try {
      assertContract(results);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ContractFailure);
    expect((thrown as ContractFailure).failed.map((r) => r.name)).toEqual([check]);
    expect((thrown as Error).message).toContain(check);
    expect((thrown as Error).message).toContain(url);

    const report = formatReport(results);
    expect(report).toMatch(
      new RegExp(`^${check}\\s+FAIL\\s+\\d+\\s+[\\d.]+s\\s+${url.replace(/[.]/g, '\\.')}$`, 'm'),
    );
    expect(report).toContain('6 check(s): 5 passed, 1 failed');
  });

  test('a POST the backend rejects is reported with its status and body; the check using it does not run', async () => {
    stack.backend.failNext(100, { status: 400, pathPrefix: '/api/items' });
    const results = await runContractChecks({ frontendUrl: stack.frontend.url, mode: 'full', ...FAST });
    const created = byName(results)['api-create-item'];
    expect(created?.ok).toBe(false);
    expect(created?.detail).toContain(`POST ${stack.frontend.url}/api/items → 400`);
    expect(created?.detail).toContain('failing on purpose');
    expect(byName(results)['api-round-trip']).toMatchObject({
      ok: false,
      attempts: 0,
      detail: 'api-round-trip not run: it uses backend/api-create-item, which did not pass',
    });
  });
});

describe('retries', () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startContractStack();
  });
  afterEach(async () => {
    await stack.close();
  });

  test('503 twice then 200 → ok with attempts 3', async () => {
    stack.backend.failNext(2, { pathPrefix: '/api/healthz' });
    const results = await runContractChecks({
      frontendUrl: stack.frontend.url,
      mode: 'smoke',
      deadlineMs: 5000,
      intervalMs: 50,
    });
    const health = byName(results)['backend-health'];
    expect(health).toMatchObject({ ok: true, attempts: 3 });
    expect(stack.backend.requests.filter((r) => r.path === '/api/healthz').map((r) => r.status)).toEqual([
      503, 503, 200,
    ]);
    expect(results.filter((r) => r.name !== 'backend-health').every((r) => r.ok && r.attempts === 1)).toBe(
      true,
    );
  });

  test('503 for a while (every path) → each check waits it out within its deadline', async () => {
    stack.frontend.unavailableFor(400);
    const results = await runContractChecks({
      frontendUrl: stack.frontend.url,
      mode: 'full',
      deadlineMs: 5000,
      intervalMs: 100,
    });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(byName(results)['backend-health']?.attempts).toBeGreaterThan(1);
    expect(byName(results)['backend-health']?.durationMs).toBeGreaterThanOrEqual(300);
  });

  test('a settled target answering the same wrong SHA 3 times in a row fails then, not at its deadline', async () => {
    const results = await runContractChecks({
      frontendUrl: stack.frontend.url,
      mode: 'full',
      expectedSha: 'new-sha',
      deadlineMs: 20_000,
      intervalMs: 50,
      settledAfter: 3,
    });
    const api = byName(results)['frontend-api'];
    expect(api).toMatchObject({ ok: false, attempts: 3 });
    expect(api?.durationMs).toBeLessThan(5_000);
    expect(api?.detail).toContain('the same answer 3 times in a row from a settled target');
    expect(api?.detail).toContain('expected sha "new-sha", got "unknown"');
  });

  test('with settledAfter, a 503 is no certain answer: the check still retries until its deadline', async () => {
    stack.backend.failNext(1_000, { pathPrefix: '/api/healthz' });
    const results = await runContractChecks({
      frontendUrl: stack.frontend.url,
      mode: 'smoke',
      deadlineMs: 600,
      intervalMs: 50,
      settledAfter: 3,
    });
    const health = byName(results)['backend-health'];
    expect(health?.ok).toBe(false);
    expect(health?.attempts).toBeGreaterThan(3);
    expect(health?.durationMs).toBeGreaterThanOrEqual(595);
  });

  test('connection refused until the deadline → every check fails with ECONNREFUSED', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const results = await runContractChecks({
      frontendUrl: base,
      mode: 'full',
      deadlineMs: 500,
      intervalMs: 100,
    });
    expect(results.map((r) => r.name)).toEqual([...CHECK_NAMES]);
    for (const r of results.filter((x) => x.name !== 'api-round-trip')) {
      expect(r.ok).toBe(false);
      expect(r.attempts).toBeGreaterThanOrEqual(3);
      expect(r.durationMs).toBeGreaterThanOrEqual(495);
      expect(r.detail).toContain(r.name);
      expect(r.detail).toContain(`${base}/`);
      expect(r.detail).toContain('ECONNREFUSED');
    }
    expect(() => assertContract(results)).toThrow(
      /backend-health \(.*backend-ready \(.*api-round-trip \(.*frontend-page \(/,
    );
  });

  test('connection refused at first, then the server comes up → ok', async () => {
    const backend = await startContractServer({ role: 'backend' });
    const port = await freePort();
    let late: ContractServer | undefined;
    const timer = setTimeout(() => {
      void startContractServer({ role: 'frontend', port, backendUrl: backend.url }).then((s) => {
        late = s;
      });
    }, 300);
    try {
      const results = await runContractChecks({
        frontendUrl: `http://127.0.0.1:${port}`,
        mode: 'smoke',
        deadlineMs: 5000,
        intervalMs: 100,
      });
      for (const r of results) expect(r.ok, r.detail).toBe(true);
      expect(byName(results)['backend-health']?.attempts).toBeGreaterThan(1);
    } finally {
      clearTimeout(timer);
      await late?.close();
      await backend.close();
    }
  });

  test('a server that never answers → ETIMEDOUT', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createNetServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const results = await runContractChecks({
        frontendUrl: `http://127.0.0.1:${port}`,
        mode: 'smoke',
        deadlineMs: 0,
      });
      const health = byName(results)['backend-health'];
      expect(health?.ok).toBe(false);
      expect(health?.attempts).toBe(1);
      expect(health?.detail).toContain('ETIMEDOUT');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('smoke mode only reads', () => {
  let stack: Stack;
  beforeEach(async () => {
    stack = await startContractStack({ sha: 'live-sha' });
  });
  afterEach(async () => {
    await stack.close();
  });

  test.each([
    { mode: 'smoke', writes: 0, checks: CHECK_NAMES.filter((n) => !n.startsWith('api-')) },
    { mode: 'full', writes: 1, checks: [...CHECK_NAMES] },
  ] as const)('$mode mode sends $writes POST request(s)', async ({ mode, writes, checks }) => {
    const results = await runContractChecks({ frontendUrl: stack.frontend.url, mode, ...FAST });
    expect(results.map((r) => r.name)).toEqual(checks);
    expect(results.every((r) => r.ok)).toBe(true);
    const methods = [...stack.frontend.requests, ...stack.backend.requests].map((r) => r.method);
    expect(methods.filter((m) => m !== 'GET')).toHaveLength(writes * 2); // seen by the frontend and the backend
    expect(stack.backend.items).toHaveLength(writes);
  });

  test('the HTTP client refuses to send a POST in smoke mode, before connecting', async () => {
    const client = new ContractHttpClient({ mode: 'smoke' });
    await expect(client.post(`${stack.frontend.url}/api/items`, { name: 'x' }, 1000)).rejects.toBeInstanceOf(
      SmokeModeWriteError,
    );
    await expect(
      client.request('POST', `${stack.frontend.url}/api/items`, { timeoutMs: 1000 }),
    ).rejects.toThrow(/smoke mode sends GET, HEAD and OPTIONS requests only; refused POST/);
    expect(stack.frontend.requests).toHaveLength(0);
    const res = await client.get(`${stack.frontend.url}/api/version`, 1000);
    expect(res.status).toBe(200);
    expect(stack.frontend.requests.map((r) => r.method)).toEqual(['GET']);
  });
});

describe('resolve (like curl --resolve)', () => {
  const host = 'pr-101.app.jetscale.ai';

  test.each([{ tls: false }, { tls: true }])(
    `reaches ${host} at 127.0.0.1 keeping Host and SNI (tls: $tls)`,
    async ({ tls }) => {
      const stack = await startContractStack({ sha: 'abc', tls });
      try {
        const url = `${tls ? 'https' : 'http'}://${host}:${stack.frontend.port}`;
        const results = await runContractChecks({
          frontendUrl: url,
          mode: 'full',
          resolve: { [host]: '127.0.0.1' },
          insecureTls: tls,
          ...FAST,
        });
        for (const r of results) expect(r.ok, r.detail).toBe(true);
        expect(results[0]?.url).toBe(`${url}/api/healthz`);
        // health, ready, POST + GET items, page, version
        expect(stack.frontend.requests.length).toBe(6);
        for (const r of stack.frontend.requests) {
          expect(r.host).toBe(`${host}:${stack.frontend.port}`);
          expect(r.servername).toBe(tls ? host : undefined);
        }
      } finally {
        await stack.close();
      }
    },
  );

  test('without insecureTls a self-signed certificate fails the check with the TLS error code', async () => {
    const stack = await startContractStack({ tls: true });
    try {
      const results = await runContractChecks({
        frontendUrl: `https://${host}:${stack.frontend.port}`,
        mode: 'smoke',
        resolve: { [host]: '127.0.0.1' },
        deadlineMs: 200,
        intervalMs: 100,
      });
      const health = byName(results)['backend-health'];
      expect(health?.ok).toBe(false);
      expect(health?.detail).toMatch(/SELF_SIGNED/);
      expect(stack.frontend.requests).toHaveLength(0);
    } finally {
      await stack.close();
    }
  });
});

describe('bad options are refused with the input, the value and the accepted form', () => {
  const good: ContractOptions = {
    checks: EXAMPLES,
    stage: 'preview',
    target: { url: 'http://127.0.0.1:1' },
    mode: 'full',
    deadlineMs: 10,
  };
  test.each([
    {
      input: 'url',
      options: { ...good, target: { url: 'ftp://example' } },
      message: /url: got "ftp:\/\/example"; accepted: an absolute http/,
    },
    {
      input: 'url',
      options: { ...good, target: { url: 'pr-101.app.jetscale.ai' } },
      message: /url: got "pr-101/,
    },
    {
      input: 'url of a service',
      options: { ...good, target: { services: { backend: 'http://x/?q=1' } } },
      message: /url of backend: got "http:\/\/x\/\?q=1"/,
    },
    {
      input: 'mode',
      options: { ...good, mode: 'live' as 'full' },
      message: /mode: got "live"; accepted: full or smoke/,
    },
    {
      input: 'deadlineMs',
      options: { ...good, deadlineMs: -1 },
      message: /deadlineMs: got -1; accepted: a number/,
    },
    { input: 'intervalMs', options: { ...good, intervalMs: 0 }, message: /intervalMs: got 0; accepted/ },
    { input: 'expectedSha', options: { ...good, expectedSha: ' ' }, message: /expectedSha: got " "/ },
    {
      input: 'resolve',
      options: { ...good, resolve: { 'pr-1.app.jetscale.ai': 'localhost' } },
      message: /pr-1\.app\.jetscale\.ai → "localhost" is not an IP address; accepted: an IPv4 or IPv6/,
    },
    {
      input: 'resolve',
      options: { ...good, resolve: { 'host:443': '127.0.0.1' } },
      message: /host "host:443" is not a host name/,
    },
  ])('$input: $message', async ({ options, message }) => {
    await expect(runDeclared(options as ContractOptions)).rejects.toThrow(message);
  });
});

describe('reporting', () => {
  const results: CheckResult[] = [
    {
      name: 'backend-health',
      ok: true,
      url: 'http://h/api/healthz',
      durationMs: 12,
      attempts: 1,
      detail: '200 status ok',
    },
    {
      name: 'backend-ready',
      ok: false,
      url: 'http://h/api/readyz',
      durationMs: 30_000,
      attempts: 15,
      detail: 'backend-ready failed after 15 attempt(s) in 30.00s: GET http://h/api/readyz → 503: {}',
    },
  ];

  test('formatReport is a table with a summary and one line per failure', () => {
    expect(formatReport(results)).toBe(
      [
        'CHECK           RESULT  ATTEMPTS  TIME    URL',
        'backend-health  ok      1         0.01s   http://h/api/healthz',
        'backend-ready   FAIL    15        30.00s  http://h/api/readyz',
        '2 check(s): 1 passed, 1 failed',
        'FAIL backend-ready failed after 15 attempt(s) in 30.00s: GET http://h/api/readyz → 503: {}',
      ].join('\n'),
    );
  });

  test('assertContract throws ContractFailure naming each failed check, its URL and what came back', () => {
    expect(() => assertContract(results)).toThrow(ContractFailure);
    expect(() => assertContract(results)).toThrow(
      /^Contract checks failed: backend-ready \(http:\/\/h\/api\/readyz\): backend-ready failed after 15/,
    );
    expect(() => assertContract(results.slice(0, 1))).not.toThrow();
  });
});

describe("a team's own contract", () => {
  test('headers, body and JSON assertions, a saved value used by a later check, a skipped when, a status list', async () => {
    const { createServer } = await import('node:http');
    const seen: Array<{ method?: string; url?: string; auth?: string }> = [];
    const server = createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization });
      if (req.url === '/v1/orders' && req.method === 'POST') {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ order: { id: 'o-17' } }));
      } else if (req.url === '/v1/orders/o-17') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-api': 'v1' });
        res.end(JSON.stringify({ id: 'o-17', lines: [{ sku: 'a' }, { sku: 'b' }] }));
      } else {
        res.writeHead(404);
        res.end('no');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const checks = readDeclaration(repoRoot, 'ci-kind', {
        services: {
          backend: null,
          frontend: null,
          orders: {
            port: 9000,
            image: { repository: 'o', tag: '1' },
            checks: {
              create: {
                stages: ['ci'],
                request: {
                  method: 'POST',
                  path: '/v1/orders',
                  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${…} is the contract's own variable syntax
                  headers: { authorization: 'Bearer ${run.id}' },
                  json: { sku: 'a' },
                },
                expect: { status: [201, 202], json: [{ path: 'order.id', matches: '^o-' }] },
                save: { id: 'order.id' },
              },
              read: {
                stages: ['ci'],
                uses: ['create'],
                // biome-ignore lint/suspicious/noTemplateCurlyInString: ${…} is the contract's own variable syntax
                request: { path: '/v1/orders/${orders/create.id}' },
                expect: {
                  status: 200,
                  headers: { 'x-api': { equals: 'v1' } },
                  body: { contains: '"sku":"b"' },
                  json: [
                    { path: 'lines[*].sku', includes: 'b' },
                    { path: 'lines[1].sku', equals: 'b' },
                    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${…} is the contract's own variable syntax
                    { path: 'id', equals: '${git.sha}', when: 'git.sha' },
                  ],
                },
              },
            },
          },
        },
      }).checks;
      const results = await runDeclared({
        checks,
        stage: 'ci',
        target: { services: { orders: url } },
        mode: 'full',
        deadlineMs: 500,
      });
      expect(results.map((r) => [r.name, r.ok, r.url])).toEqual([
        ['create', true, `${url}/v1/orders`],
        ['read', true, `${url}/v1/orders/o-17`],
      ]);
      expect(seen[0]?.auth).toMatch(/^Bearer [a-z0-9]+-[0-9a-f]{8}$/);
      // the same checks in another stage: none of them runs
      expect(
        await runDeclared({ checks, stage: 'preview', target: { url }, mode: 'full', deadlineMs: 500 }),
      ).toEqual([]);
    } finally {
      server.close();
    }
  });

  test('the small path language: names, indexes, every element', () => {
    const doc = { a: { b: [{ c: 1 }, { c: 2 }] }, items: [{ id: 3 }, { id: 4 }] };
    expect(evaluatePath(doc, 'a.b[1].c')).toEqual([2]);
    expect(evaluatePath(doc, 'items[*].id')).toEqual([3, 4]);
    expect(evaluatePath(doc, 'a.x')).toEqual([]);
    expect(evaluatePath(doc, 'items[9].id')).toEqual([]);
  });
});

// Found by review; each failed before its fix.
describe('the contract runner as a team relies on it', () => {
  async function serve(
    handler: (req: import('node:http').IncomingMessage, body: string) => [number, unknown],
  ) {
    const { createServer } = await import('node:http');
    const seen: Array<{ method?: string; url?: string; host?: string; body: string }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, host: req.headers.host, body });
        const [status, json] = handler(req, body);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
  }
  const declare = (checks: unknown, routes: unknown = { v1: { path: '/v1' } }) =>
    readDeclaration(repoRoot, 'ci-kind', {
      services: {
        backend: null,
        frontend: null,
        api: { port: 9000, image: { repository: 'a', tag: '1' }, routes, checks },
      },
    }).checks;

  test("a route's own host is reached where the stage's URL goes, with only the Host header changed", async () => {
    const s = await serve(() => [200, {}]);
    try {
      const checks = declare(
        { c: { request: { path: '/v1/x', via: { route: 'v1' } }, expect: { status: 200 } } },
        {
          v1: { path: '/v1', host: 'api.example.test' },
        },
      );
      const [r] = await runDeclared({
        checks,
        stage: 'preview',
        target: { url: s.url },
        mode: 'full',
        deadlineMs: 300,
      });
      expect(r?.ok, r?.detail).toBe(true);
      expect(s.seen[0]?.host).toBe(`api.example.test:${new URL(s.url).port}`);
    } finally {
      await s.close();
    }
  });

  test("via a route with stripPrefix: a forward gets the path the ingress would hand on, the stage's URL the full path", async () => {
    const s = await serve(() => [200, {}]);
    const get = (path: string, via: unknown) => ({ request: { path, via }, expect: { status: 200 } });
    try {
      const checks = declare(
        {
          a: get('/py', { route: 'py' }),
          b: get('/py/x?q=1', { route: 'py' }),
          c: get('/keep/y', { route: 'keep' }),
          d: get('/py/z', { service: 'api' }),
        },
        { py: { path: '/py', stripPrefix: true }, keep: { path: '/keep' } },
      );
      const run = (target: ContractOptions['target'], stage: 'ci' | 'preview') =>
        runDeclared({ checks, stage, target, mode: 'full', deadlineMs: 300 });
      const ci = await run({ services: { api: s.url } }, 'ci');
      expect(ci.map((r) => [r.ok, r.url])).toEqual(
        ['/', '/x?q=1', '/keep/y', '/py/z'].map((p) => [true, `${s.url}${p}`]),
      );
      expect(s.seen.map((x) => x.url)).toEqual(['/', '/x?q=1', '/keep/y', '/py/z']);
      s.seen.length = 0;
      await run({ url: s.url }, 'preview');
      expect(s.seen.map((x) => x.url)).toEqual(['/py', '/py/x?q=1', '/keep/y', '/py/z']);
    } finally {
      await s.close();
    }
  });

  test.each([
    ['/py', '/py', '/'],
    ['/py', '/py/', '/'],
    ['/py', '/py/x/y?q=1&r=/py', '/x/y?q=1&r=/py'],
    ['/py', '/py?q=1', '/?q=1'],
    ['/py/', '/py/x', '/x'],
    ['/py', '/pyx', '/pyx'],
    ['/py', '/other', '/other'],
  ])('stripPrefix %s from %s gives %s', (prefix, path, out) => {
    expect(stripPrefix(prefix, path)).toBe(out);
  });

  test('a write that got an answer is sent once, not again until the deadline', async () => {
    const s = await serve(() => [201, { id: 'wrong-shape' }]);
    try {
      const checks = declare({
        w: {
          stages: ['ci'],
          request: { method: 'POST', path: '/v1/x', json: {} },
          expect: { status: 201, json: [{ path: 'id', type: 'number' }] },
        },
      });
      const [r] = await runDeclared({
        checks,
        stage: 'ci',
        target: { services: { api: s.url } },
        mode: 'full',
        deadlineMs: 600,
        intervalMs: 50,
      });
      expect(r?.ok).toBe(false);
      expect(s.seen.filter((x) => x.method === 'POST')).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  test('equals on lists, objects and null; includes over every element; a query in the path; a saved number stays a number', async () => {
    const s = await serve((req) =>
      req.method === 'POST'
        ? [201, { id: 7 }]
        : [
            200,
            {
              tags: ['x', 'y'],
              meta: { a: 1 },
              deleted: null,
              items: [{ tags: ['p'] }, { tags: ['q'] }],
              q: req.url,
            },
          ],
    );
    try {
      const checks = declare({
        make: {
          stages: ['ci'],
          request: { method: 'POST', path: '/v1/n', json: {} },
          expect: { status: 201 },
          save: { id: 'id' },
        },
        read: {
          stages: ['ci'],
          uses: ['make'],
          // biome-ignore lint/suspicious/noTemplateCurlyInString: ${…} is the contract's own variable syntax
          request: { method: 'PUT', path: '/v1/n?limit=1', json: { id: '${api/make.id}' } },
          expect: {
            status: 200,
            json: [
              { path: 'tags', equals: ['x', 'y'] },
              { path: 'meta', equals: { a: 1 } },
              { path: 'deleted', equals: null },
              { path: 'items[*].tags', includes: 'q' },
              { path: 'q', equals: '/v1/n?limit=1' },
            ],
          },
        },
      });
      const results = await runDeclared({
        checks,
        stage: 'ci',
        target: { services: { api: s.url } },
        mode: 'full',
        deadlineMs: 300,
      });
      expect(results.map((r) => [r.name, r.ok, r.detail])).toEqual([
        ['make', true, expect.any(String)],
        ['read', true, expect.any(String)],
      ]);
      expect(JSON.parse(s.seen[1]?.body ?? '')).toEqual({ id: 7 });
    } finally {
      await s.close();
    }
  });

  test('in smoke mode a header that overrides the method is refused before connecting', async () => {
    const client = new ContractHttpClient({ mode: 'smoke' });
    await expect(
      client.request('GET', 'http://127.0.0.1:9/x', {
        timeoutMs: 100,
        headers: { 'X-HTTP-Method-Override': 'DELETE' },
      }),
    ).rejects.toBeInstanceOf(SmokeModeWriteError);
  });
});
