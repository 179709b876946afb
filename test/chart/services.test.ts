/**
 * The services declaration (charts/app values `services`): a stack shaped unlike the examples renders from values
 * alone, and every wrong field fails the render naming the field, the value and the accepted form.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { declarationOf, mergeValues } from '../../src/declaration.js';
import {
  type Container,
  containersOf,
  find,
  helm,
  type Manifest,
  ofKind,
  parseManifests,
  render,
  runHelm,
  templateArgs,
  values,
} from './render.js';

const stack = (name: string) => join('test', 'chart', 'stacks', `${name}.yaml`);
const four = {
  name: 'four services',
  release: 'four',
  files: [values('values.preview.yaml'), stack('four')],
  set: ['ingress.host=pr-9.app.example.com'],
};
const goOnly = {
  name: 'the Go API alone',
  release: 'go',
  files: [values('values.preview.yaml'), stack('go-only')],
  set: ['ingress.host=pr-9.app.example.com'],
};

const main = (m: Manifest[], name: string): Container =>
  containersOf(find(m, 'Deployment', name)).main[0] as Container;
const envMap = (c: Container) =>
  Object.fromEntries(
    (c.env as Array<{ name: string; value?: string; valueFrom?: unknown }>).map((e) => [
      e.name,
      e.value ?? e.valueFrom,
    ]),
  );

describe.skipIf(helm.skip)('a stack of four services unlike the examples, from values alone', () => {
  test('each service runs with its own port, command, working directory and probes', async () => {
    const m = await render(four);
    expect(
      ofKind(m, 'Deployment')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(['four-go-api', 'four-py-api', 'four-spa', 'four-worker']);
    const go = main(m, 'four-go-api');
    expect(go.ports).toEqual([{ name: 'http', containerPort: 9000, protocol: 'TCP' }]);
    expect([go.command, go.args]).toEqual([['/usr/local/bin/go-api'], ['serve']]);
    expect(go.startupProbe).toEqual({
      httpGet: { path: '/health', port: 'http' },
      periodSeconds: 2,
      failureThreshold: 30,
    });
    expect(go.readinessProbe).toEqual({ httpGet: { path: '/health', port: 'http' } });
    expect(go.livenessProbe).toBeUndefined();
    const py = main(m, 'four-py-api');
    expect(py.workingDir).toBe('/srv');
    expect(py.livenessProbe).toEqual({ tcpSocket: { port: 'http' } });
    const spa = main(m, 'four-spa');
    // no probes declared: a TCP readiness probe on its port, nothing else
    expect([spa.startupProbe, spa.livenessProbe]).toEqual([undefined, undefined]);
    expect(spa.readinessProbe).toMatchObject({ tcpSocket: { port: 'http' } });
    const worker = main(m, 'four-worker');
    expect(worker.ports).toBeUndefined();
    expect(worker.readinessProbe).toBeUndefined();
    expect(worker.livenessProbe).toEqual({
      exec: { command: ['python3', '/srv/worker.py', '--check'] },
      periodSeconds: 15,
    });
    expect(
      ofKind(m, 'Service')
        .map((s) => s.metadata.name)
        .sort(),
    ).toEqual(['four-go-api', 'four-postgres', 'four-py-api', 'four-redis', 'four-spa']);
    expect(find(m, 'Service', 'four-go-api').spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
    ]);
  });

  test('env: a platform DSN under the name the service reads, with a query; service URLs; plain text stays text', async () => {
    const m = await render(four);
    const go = envMap(main(m, 'four-go-api'));
    expect(go.JETSCALE_DATABASE_URL).toEqual({
      secretKeyRef: { name: 'four-postgres', key: 'DATABASE_URL' },
    });
    expect(go.GOAPI_DB).toBe('$(JETSCALE_DATABASE_URL)?sslmode=disable');
    // the hidden variable comes first: Kubernetes expands $(VAR) only from variables defined before it
    const names = (main(m, 'four-go-api').env as Array<{ name: string }>).map((e) => e.name);
    expect(names.indexOf('JETSCALE_DATABASE_URL')).toBeLessThan(names.indexOf('GOAPI_DB'));
    expect(go.PORT).toBe('9000');
    const py = envMap(main(m, 'four-py-api'));
    expect(py.DATABASE_URL).toEqual({ secretKeyRef: { name: 'four-postgres', key: 'DATABASE_URL' } });
    expect(py.GREETING).toBe('costs $$(5) today');
    expect(envMap(main(m, 'four-spa')).API_UPSTREAM).toBe('http://four-go-api:80');
    const worker = main(m, 'four-worker');
    expect(envMap(worker).REDIS_URL).toEqual({ secretKeyRef: { name: 'four-redis', key: 'REDIS_URL' } });
    expect(envMap(worker).PORT).toBeUndefined();
    // no envFrom declared: no connection Secret mounted whole
    for (const d of ['four-go-api', 'four-py-api', 'four-spa', 'four-worker'])
      expect(main(m, d).envFrom, d).toBeUndefined();
  });

  test('routes: one Ingress, longest path first, each to its service', async () => {
    const m = await render(four);
    const rules = ofKind(m, 'Ingress')[0]?.spec.rules;
    expect(rules).toHaveLength(1);
    expect(rules[0].host).toBe('pr-9.app.example.com');
    expect(
      rules[0].http.paths.map((p: { path: string; backend: { service: { name: string } } }) => [
        p.path,
        p.backend.service.name,
      ]),
    ).toEqual([
      ['/py', 'four-py-api'],
      ['/v1', 'four-go-api'],
      ['/', 'four-spa'],
    ]);
  });

  test('needs drive the network: the Python API reaches Postgres and not Redis; Redis admits only the worker', async () => {
    const m = await render(four);
    const egressOf = (name: string) => JSON.stringify(find(m, 'NetworkPolicy', name).spec.egress);
    expect(egressOf('four-py-api')).toContain('"app.kubernetes.io/name":"postgres"');
    expect(egressOf('four-py-api')).not.toContain('redis');
    expect(egressOf('four-spa')).toContain('"app.kubernetes.io/name":"go-api"');
    expect(egressOf('four-spa')).toContain('"port":9000');
    const redisFrom = JSON.stringify(find(m, 'NetworkPolicy', 'four-redis').spec.ingress);
    expect(redisFrom).toContain('"app.kubernetes.io/name":"worker"');
    expect(redisFrom).not.toContain('go-api');
    const postgresFrom = JSON.stringify(find(m, 'NetworkPolicy', 'four-postgres').spec.ingress);
    expect(postgresFrom).toContain('"app.kubernetes.io/name":"go-api"');
    expect(postgresFrom).toContain('"app.kubernetes.io/name":"py-api"');
    // the Go API is called by the SPA and routed by the ingress; the worker takes no traffic at all
    expect(JSON.stringify(find(m, 'NetworkPolicy', 'four-go-api').spec.ingress)).toContain(
      '"app.kubernetes.io/name":"spa"',
    );
    expect(find(m, 'NetworkPolicy', 'four-worker').spec.ingress).toBeUndefined();
  });

  test('the Go API alone renders with no Redis and no Redis Secret', async () => {
    const m = await render(goOnly);
    expect(m.filter((x) => x.metadata.name.includes('redis'))).toEqual([]);
    expect(ofKind(m, 'Deployment').map((d) => d.metadata.name)).toEqual(['go-go-api']);
  });
});

async function renderWith(vals: unknown): Promise<Manifest[]> {
  const dir = mkdtempSync(join(tmpdir(), 'jetscale-services-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, stringify(vals));
  const r = await runHelm(templateArgs({ name: 'ok', release: 'app', files: [file] }));
  expect(r.code, r.stderr).toBe(0);
  return parseManifests(r.stdout);
}

// Found by review; each failed before its fix.
describe.skipIf(helm.skip)('what a declaration says reaches the pods as written', () => {
  test('env text keeps every "$" (Kubernetes reads $$ as $) and whole numbers stay whole', async () => {
    const m = await renderWith({
      services: { backend: { env: { PASS: 'pa$$word', REF: 'x$(HOME)', BIG: 10485760, RATE: 0.5 } } },
    });
    const env = envMap(main(m, 'app-backend'));
    expect([env.PASS, env.REF, env.BIG, env.RATE]).toEqual(['pa$$$$word', 'x$$(HOME)', '10485760', '0.5']);
  });

  test('null deletes a default of a service a values file adds, as it does for the defaults', async () => {
    const base = { image: { repository: 'x', tag: '1' }, port: 9000 };
    const m = await renderWith({
      services: {
        api: {
          ...base,
          probes: { readiness: { httpGet: null, tcpSocket: {} } },
          env: { DROP: null, KEEP: 'k' },
        },
      },
    });
    const api = main(m, 'app-api');
    expect(api.readinessProbe).toEqual({ tcpSocket: { port: 'http' } });
    expect(envMap(api).DROP).toBeUndefined();
    expect(envMap(api).KEEP).toBe('k');
  });

  test('two query entries on one platform URL read the Secret into one hidden variable', async () => {
    const m = await renderWith({
      services: {
        backend: {
          env: {
            A_DSN: { platform: 'postgres.url', query: { sslmode: 'disable' } },
            B_DSN: { platform: 'postgres.url', query: { sslmode: 'require' } },
          },
        },
      },
    });
    const names = (main(m, 'app-backend').env as Array<{ name: string }>).map((e) => e.name);
    expect(names.filter((n) => n === 'JETSCALE_DATABASE_URL')).toHaveLength(1);
  });

  test('one path may go to two services when one matches it exactly', async () => {
    const m = await renderWith({
      services: { backend: { routes: { root: { path: '/', pathType: 'Exact' } } } },
    });
    const paths = ofKind(m, 'Ingress')[0]?.spec.rules[0].http.paths.map(
      (p: { path: string; pathType: string }) => `${p.path} ${p.pathType}`,
    );
    expect(paths).toEqual(expect.arrayContaining(['/ Exact', '/ Prefix']));
  });
});

async function renderError(vals: unknown): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'jetscale-services-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, stringify(vals));
  const r = await runHelm(templateArgs({ name: 'bad', release: 'app', files: [file] }));
  expect(r.code, `helm template should have failed; it rendered:\n${r.stdout.slice(0, 300)}`).not.toBe(0);
  return r.stderr;
}

const svc = (extra: Record<string, unknown>) => ({
  image: { repository: 'x', tag: '1' },
  port: 9000,
  ...extra,
});

// [what is wrong, values, what the error must say]
const refused: Array<[string, unknown, string[]]> = [
  [
    'a misspelt key',
    { services: { backend: { prot: 9000 } } },
    ["at '/services/backend'", "additional properties 'prot' not allowed"],
  ],
  [
    'a port out of range',
    { services: { backend: { port: 70000 } } },
    ["at '/services/backend/port'", 'maximum: got 70,000, want 65,535'],
  ],
  [
    'a port given as text',
    { services: { backend: { port: '80' } } },
    ["at '/services/backend/port'", 'got string, want null or integer'],
  ],
  [
    'a probe path without a leading slash',
    { services: { backend: { probes: { readiness: { httpGet: { path: 'readyz' } } } } } },
    ["at '/services/backend/probes/readiness/httpGet/path'", "does not match pattern '^/'"],
  ],
  [
    'a route path without a leading slash',
    { services: { backend: { routes: { api: { path: 'api' } } } } },
    ["at '/services/backend/routes/api/path'"],
  ],
  [
    'a service name that is not a DNS label',
    { services: { Go_API: svc({}) } },
    ["invalid propertyName 'Go_API'", "'Go_API' does not match pattern '^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$'"],
  ],
  [
    'two probe handlers',
    { services: { backend: { probes: { readiness: { tcpSocket: {} } } } } },
    [
      'services.backend.probes.readiness has httpGet and tcpSocket: give exactly one of httpGet, tcpSocket, exec, grpc',
    ],
  ],
  [
    'needs an undeclared service',
    { services: { frontend: { needs: ['api'] } } },
    [
      'services.frontend.needs has "api": not an enabled service; accepted: postgres, redis, or one of [backend, frontend]',
    ],
  ],
  [
    'a service URL of a service it does not need',
    { services: { backend: { env: { PEER: { serviceURL: 'frontend' } } } } },
    ['services.backend.env.PEER.serviceURL is "frontend", which is not in services.backend.needs'],
  ],
  [
    'a platform setting without the need',
    { services: { frontend: { env: { DB: { platform: 'postgres.url' } } } } },
    ['services.frontend.env.DB.platform is "postgres.url", but services.frontend.needs has no postgres'],
  ],
  [
    'an unknown platform setting',
    { services: { backend: { env: { DB: { platform: 'mysql.url' } } } } },
    ["at '/services/backend/env/DB'"],
  ],
  [
    'routes on a worker',
    { services: { worker: { ...svc({ routes: { w: { path: '/w' } } }), port: null } } },
    ['services.worker.routes: the service has no port (a worker)'],
  ],
  [
    'two services on one path',
    { services: { other: svc({ routes: { api: { path: '/api' } } }) } },
    [
      'services.other.routes.api: host and path "* /api (Prefix)" are already routed by services.backend.routes.api',
    ],
  ],
  [
    'a new service without an image',
    { services: { api: { port: 9000 } } },
    ['services.api.image.repository is required'],
  ],
  [
    'the old top-level backend block',
    { backend: { replicaCount: 2 } },
    ['backend: moved to services.backend (replicaCount is now replicas'],
  ],
  ['a service declared empty', { services: { extra: {} } }, ['services.extra.image.repository is required']],
  [
    'the port of a worker',
    { services: { worker: { ...svc({ env: { LISTEN: { platform: 'port' } } }), port: null } } },
    ['services.worker.env.LISTEN.platform is "port", but the service has no port (a worker)'],
  ],
  [
    'a query on a platform setting that is no URL',
    { services: { backend: { env: { H: { platform: 'postgres.host', query: { a: 'b' } } } } } },
    [
      'services.backend.env.H.query is set on platform "postgres.host"; accepted: query only on postgres.url or redis.url',
    ],
  ],
  [
    'an env name the chart keeps for itself',
    { services: { backend: { env: { JETSCALE_DATABASE_URL: 'x' } } } },
    ["invalid propertyName 'JETSCALE_DATABASE_URL'"],
  ],
];

describe.skipIf(helm.skip)('a wrong services declaration fails the render, naming the field', () => {
  test.each(refused)('%s', async (_what, vals, fragments) => {
    const stderr = await renderError(vals);
    for (const f of fragments) expect(stderr).toContain(f);
  });

  test('a release and service name over 63 characters together (names are never cut)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jetscale-services-'));
    const file = join(dir, 'values.yaml');
    writeFileSync(file, stringify({ services: { 'notifications-worker-aaaaaa': svc({}) } }));
    const r = await runHelm(templateArgs({ name: 'long', release: 'r'.repeat(40), files: [file] }));
    expect(r.stderr).toContain(
      `services.notifications-worker-aaaaaa: the name ${'r'.repeat(40)}-notifications-worker-aaaaaa is over 63 characters`,
    );
  });

  test('live generates no credentials for an enabled Redis that no service needs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jetscale-services-'));
    const file = join(dir, 'values.yaml');
    writeFileSync(
      file,
      stringify({
        global: { postgres: { existingSecret: 'pg' }, redis: { existingSecret: '' } },
        ingress: { host: 'app.example.com', tls: { secretName: 'app-tls' } },
        redis: { enabled: true },
        services: { backend: { envFrom: [{ platform: 'postgres' }], needs: ['postgres'] } },
      }),
    );
    const r = await runHelm(
      templateArgs({ name: 'live', release: 'app', files: [values('values.live.yaml'), file] }),
    );
    expect(r.stderr).toContain('global.redis.existingSecret is required when global.environment=live');
  });
});

describe('the proof stacks declare their own contracts (test/services/check.sh runs the same endpoints)', () => {
  const read = (p: string) => parse(readFileSync(p, 'utf8'));
  const contractOf = (name: string) =>
    declarationOf(
      mergeValues(
        mergeValues(read(values('values.yaml')), read(values('values.preview.yaml'))),
        read(stack(name)),
      ),
    ).checks.map((c) => [c.id, c.method, c.path, c.stages.join(',')].join(' '));

  test.each([
    [
      'four',
      [
        'go-api/go-api-version GET /v1/version local,ci,preview,live',
        'go-api/go-api-note-create POST /v1/notes ci,preview',
        'go-api/go-api-note-read GET /v1/notes ci,preview',
        'py-api/py-api-hello GET /py/hello local,ci,preview,live',
        'py-api/py-api-ready GET /py/-/ready local,ci,preview,live',
        'spa/spa-api GET /api/version local,ci,preview,live',
        'spa/spa-page GET / local,ci,preview,live',
      ],
    ],
    [
      'go-only',
      [
        'go-api/go-api-version GET /v1/version local,ci,preview,live',
        'go-api/go-api-note-create POST /v1/notes ci,preview',
        'go-api/go-api-note-read GET /v1/notes ci,preview',
      ],
    ],
  ])('%s: its checks, the writes kept out of live', (name, expected) => {
    expect(contractOf(name).sort()).toEqual(expected.sort());
  });
});

describe.skipIf(helm.skip)('the SPA runs read-only with its declared writable paths', () => {
  test("nginx's temp files, pid and generated server block are emptyDirs copied from the image", async () => {
    const m = await render(four);
    const spa = main(m, 'four-spa');
    const mounts = (spa.volumeMounts as Array<{ mountPath: string }>).map((v) => v.mountPath).sort();
    expect(mounts).toEqual(['/etc/nginx/conf.d', '/run/nginx', '/tmp', '/var/lib/nginx']);
    expect(spa.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true });
    expect(containersOf(find(m, 'Deployment', 'four-spa')).init.map((c) => c.name)).toEqual([
      'copy-writable-paths',
    ]);
  });
});
