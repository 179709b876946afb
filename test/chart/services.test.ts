/**
 * The services declaration (charts/app values `services`): a stack shaped unlike the examples renders from values
 * alone, and every wrong field fails the render naming the field, the value and the accepted form.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { type DeclarationError, declarationOf, mergeValues, readDeclaration } from '../../src/declaration.js';
import { repoRoot } from '../support/tools.js';
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

  test('routes: longest path first, each to its service; the stripped /py in its own Ingress', async () => {
    const m = await render(four);
    const paths = (name: string) => {
      const rules = find(m, 'Ingress', name).spec.rules;
      expect(rules.map((r: { host: string }) => r.host)).toEqual(['pr-9.app.example.com']);
      return rules[0].http.paths.map((p: { path: string; backend: { service: { name: string } } }) => [
        p.path,
        p.backend.service.name,
      ]);
    };
    expect(paths('four-web')).toEqual([
      ['/v1', 'four-go-api'],
      ['/', 'four-spa'],
    ]);
    expect(paths('four-web-strip')).toEqual([['/py', 'four-py-api']]);
    expect(find(m, 'Ingress', 'four-web').metadata.annotations).toBeUndefined();
    // the default class is traefik, but this render knows no Traefik CRDs: the annotation
    expect(find(m, 'Ingress', 'four-web-strip').metadata.annotations).toEqual({
      'jetscale.dev/strip-prefix': 'true',
    });
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

const migrateJob = (m: Manifest[]) => {
  const jobs = ofKind(m, 'Job');
  expect(jobs).toHaveLength(1);
  return jobs[0] as Manifest;
};
const initOf = (w: Manifest, name: string): Container | undefined =>
  containersOf(w).init.find((c) => c.name === name);

describe.skipIf(helm.skip)('migrations: a Job before the new version, its pods waiting for it', () => {
  test('the Job runs the service image with its env and securityContext, labelled apart from the service', async () => {
    const m = await render(four);
    const job = migrateJob(m);
    expect(job.metadata.name).toMatch(/^four-go-api-migrate-[0-9a-f]{8}$/);
    expect(job.spec.backoffLimit).toBe(3);
    expect(job.spec.activeDeadlineSeconds).toBe(600);
    const pod = job.spec.template;
    expect(pod.metadata.labels).toMatchObject({
      'app.kubernetes.io/name': 'go-api-migrate',
      'app.kubernetes.io/instance': 'four',
      'app.kubernetes.io/component': 'migration',
    });
    // no Service, Deployment or PDB of the release selects a migration pod
    for (const x of m.filter((x) => ['Service', 'Deployment', 'PodDisruptionBudget'].includes(x.kind))) {
      const sel = (x.spec.selector?.matchLabels ?? x.spec.selector) as Record<string, string> | undefined;
      if (!sel) continue;
      const labels = pod.metadata.labels as Record<string, string>;
      expect(
        Object.entries(sel).every(([k, v]) => labels[k] === v),
        `${x.kind}/${x.metadata.name}`,
      ).toBe(false);
    }
    expect(pod.spec.restartPolicy).toBe('Never');
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.serviceAccountName).toBe('four-go-api');
    const migrate = pod.spec.containers[0] as Container;
    const service = main(m, 'four-go-api');
    expect([migrate.name, migrate.image, migrate.command, migrate.args]).toEqual([
      'migrate',
      service.image,
      ['/usr/local/bin/go-api'],
      ['migrate'],
    ]);
    expect([migrate.env, migrate.securityContext, migrate.resources]).toEqual([
      service.env,
      service.securityContext,
      service.resources,
    ]);
    expect(migrate.ports).toBeUndefined();
    expect(migrate.readinessProbe).toBeUndefined();
    // it waits for the in-cluster Postgres first
    expect(initOf(job, 'wait-postgres')?.args).toEqual(['statefulset', 'four-postgres']);
  });

  test('the service waits for the Job of this very migration; only the wait container holds a token', async () => {
    const m = await render(four);
    const job = migrateJob(m);
    const deploy = find(m, 'Deployment', 'four-go-api');
    const wait = initOf(deploy, 'wait-migrations') as Container;
    expect(wait.image).toBe('ghcr.io/jetscale/wait:0.1.0');
    expect(wait.args).toEqual(['job', job.metadata.name]);
    expect(wait.volumeMounts).toEqual([
      { name: 'wait-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ]);
    for (const w of [deploy, job]) {
      const pod = w.spec.template.spec;
      expect(pod.automountServiceAccountToken, w.metadata.name).toBe(false);
      const volume = (pod.volumes as Array<{ name: string; projected?: { sources: object[] } }>).find(
        (v) => v.name === 'wait-api-access',
      );
      expect(volume?.projected?.sources.map((src) => Object.keys(src)[0])).toEqual([
        'serviceAccountToken',
        'configMap',
        'downwardAPI',
      ]);
      const { init, main: containers } = containersOf(w);
      for (const c of [...init, ...containers])
        expect(
          (c.volumeMounts ?? []).some((v: { name: string }) => v.name === 'wait-api-access'),
          `${w.metadata.name}/${c.name}`,
        ).toBe(c.name.startsWith('wait-'));
    }
    // services without a migration are as before: no wait container, no token
    expect(initOf(find(m, 'Deployment', 'four-py-api'), 'wait-migrations')).toBeUndefined();
  });

  test('RBAC: one Role reading Jobs and StatefulSets, bound to the ServiceAccounts of services with migrations', async () => {
    const m = await render(four);
    expect((find(m, 'Role', 'four-wait') as Manifest & { rules: unknown }).rules).toEqual([
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'list', 'watch'] },
    ]);
    const binding = find(m, 'RoleBinding', 'four-wait') as Manifest & { subjects: unknown; roleRef: unknown };
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'four-wait',
    });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'four-go-api', namespace: 'ns-four' }]);
  });

  test('NetworkPolicy: the migration reaches Postgres and the API server; Postgres admits it', async () => {
    const m = await render(four);
    const apiServer = {
      to: [{ ipBlock: { cidr: '0.0.0.0/0' } }],
      ports: [
        { protocol: 'TCP', port: 443 },
        { protocol: 'TCP', port: 6443 },
      ],
    };
    const own = find(m, 'NetworkPolicy', 'four-go-api-migrate');
    expect(own.spec.podSelector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'go-api-migrate',
      'app.kubernetes.io/instance': 'four',
    });
    expect(own.spec.ingress).toBeUndefined();
    expect(own.spec.egress).toContainEqual(apiServer);
    expect(JSON.stringify(own.spec.egress)).toContain('"app.kubernetes.io/name":"postgres"');
    expect(find(m, 'NetworkPolicy', 'four-go-api').spec.egress).toContainEqual(apiServer);
    expect(find(m, 'NetworkPolicy', 'four-py-api').spec.egress).not.toContainEqual(apiServer);
    expect(JSON.stringify(find(m, 'NetworkPolicy', 'four-postgres').spec.ingress)).toContain(
      '"app.kubernetes.io/name":"go-api-migrate"',
    );
    const narrowed = await render({
      ...four,
      set: [
        ...four.set,
        'networkPolicy.apiServer.cidrs={172.18.0.2/32}',
        'networkPolicy.apiServer.ports={6443}',
      ],
    });
    expect(find(narrowed, 'NetworkPolicy', 'four-go-api-migrate').spec.egress).toContainEqual({
      to: [{ ipBlock: { cidr: '172.18.0.2/32' } }],
      ports: [{ protocol: 'TCP', port: 6443 }],
    });
  });

  test('a changed migration gets a new Job name and rolls the Deployment; a replica count does neither', async () => {
    const base = await render(goOnly);
    const name = (m: Manifest[]) => migrateJob(m).metadata.name;
    const podTemplate = (m: Manifest[]) => JSON.stringify(find(m, 'Deployment', 'go-go-api').spec.template);
    for (const set of [
      'services.go-api.image.tag=rig2',
      'services.go-api.migrations.args={migrate,--verbose}',
      'services.go-api.env.EXTRA=1',
    ]) {
      const changed = await render({ ...goOnly, set: [...goOnly.set, set] });
      expect(name(changed), set).not.toBe(name(base));
      expect(podTemplate(changed), set).toContain(name(changed));
    }
    const scaled = await render({ ...goOnly, set: [...goOnly.set, 'services.go-api.replicas=3'] });
    expect(name(scaled)).toBe(name(base));
  });

  test('backoffLimit and activeDeadlineSeconds: declared, else 3 and global.progressDeadlineSeconds', async () => {
    const deadline = await render({ ...goOnly, set: [...goOnly.set, 'global.progressDeadlineSeconds=90'] });
    expect(migrateJob(deadline).spec).toMatchObject({ backoffLimit: 3, activeDeadlineSeconds: 90 });
    const declared = await render({
      ...goOnly,
      set: [
        ...goOnly.set,
        'services.go-api.migrations.backoffLimit=0',
        'services.go-api.migrations.activeDeadlineSeconds=1200',
      ],
    });
    expect(migrateJob(declared).spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 1200 });
  });

  test('with Postgres outside the cluster the migration waits for nothing and needs no API access', async () => {
    const m = await render({
      ...goOnly,
      set: [...goOnly.set, 'postgres.enabled=false', 'global.postgres.existingSecret=pg'],
    });
    const job = migrateJob(m);
    expect(containersOf(job).init).toEqual([]);
    expect(JSON.stringify(job.spec.template.spec.volumes)).not.toContain('wait-api-access');
    expect(JSON.stringify(find(m, 'NetworkPolicy', 'go-go-api-migrate').spec.egress)).not.toContain('6443');
  });
});

const seeded = {
  ...four,
  name: 'four services, seeding',
  set: [
    ...four.set,
    'global.seed=true',
    'services.go-api.seed.command={/usr/local/bin/go-api}',
    'services.go-api.seed.args={seed}',
    'services.py-api.seed.command={python3,-m,pyapi.seed}',
  ],
};
const jobsOf = (m: Manifest[], component: string) =>
  ofKind(m, 'Job').filter((j) => j.metadata.labels?.['app.kubernetes.io/component'] === component);

describe.skipIf(helm.skip)('seed: a Job when the deployer asks (global.seed), after the migrations', () => {
  test('the seed Job runs the service image after its migration Job, labelled apart from the service', async () => {
    const m = await render(seeded);
    const [migration] = jobsOf(m, 'migration');
    const job = find(
      m,
      'Job',
      jobsOf(m, 'seed').find((j) => j.metadata.name.startsWith('four-go-api-seed-'))?.metadata.name ?? '',
    );
    expect(job.metadata.name).toMatch(/^four-go-api-seed-[0-9a-f]{8}$/);
    expect(job.metadata.annotations?.['helm.sh/hook']).toBeUndefined();
    expect(job.spec).toMatchObject({ backoffLimit: 3, activeDeadlineSeconds: 600 });
    const pod = job.spec.template;
    expect(pod.metadata.labels).toMatchObject({
      'app.kubernetes.io/name': 'go-api-seed',
      'app.kubernetes.io/instance': 'four',
      'app.kubernetes.io/component': 'seed',
    });
    const seed = pod.spec.containers[0] as Container;
    const service = main(m, 'four-go-api');
    expect([seed.name, seed.image, seed.command, seed.args, seed.env]).toEqual([
      'seed',
      service.image,
      ['/usr/local/bin/go-api'],
      ['seed'],
      service.env,
    ]);
    expect(pod.spec.restartPolicy).toBe('Never');
    // after the migrations: it waits for this very migration Job
    expect(initOf(job, 'wait-migrations')?.args).toEqual(['job', migration?.metadata.name]);
    // a service without migrations waits for the in-cluster Postgres instead
    const py = jobsOf(m, 'seed').find((j) => j.metadata.name.startsWith('four-py-api-seed-')) as Manifest;
    expect(initOf(py, 'wait-postgres')?.args).toEqual(['statefulset', 'four-postgres']);
  });

  test('its pods reach Postgres and the API server, and may read Jobs (RBAC), like a migration', async () => {
    const m = await render(seeded);
    const own = find(m, 'NetworkPolicy', 'four-py-api-seed');
    expect(own.spec.podSelector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'py-api-seed',
      'app.kubernetes.io/instance': 'four',
    });
    expect(own.metadata.labels?.['app.kubernetes.io/component']).toBe('seed');
    expect(JSON.stringify(own.spec.egress)).toContain('6443');
    expect(JSON.stringify(find(m, 'NetworkPolicy', 'four-go-api-seed').spec.egress)).toContain('6443');
    const postgres = JSON.stringify(find(m, 'NetworkPolicy', 'four-postgres').spec.ingress);
    for (const peer of ['go-api-seed', 'py-api-seed'])
      expect(postgres).toContain(`"app.kubernetes.io/name":"${peer}"`);
    const binding = find(m, 'RoleBinding', 'four-wait') as Manifest & { subjects: unknown };
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'four-go-api', namespace: 'ns-four' },
      { kind: 'ServiceAccount', name: 'four-py-api', namespace: 'ns-four' },
    ]);
  });

  test('none without global.seed, none in a stage it does not list; stages opt ci in', async () => {
    const off = await render({ ...seeded, set: seeded.set.filter((x) => x !== 'global.seed=true') });
    expect(jobsOf(off, 'seed')).toEqual([]);
    expect(ofKind(off, 'NetworkPolicy').map((p) => p.metadata.name)).not.toContain('four-go-api-seed');
    const ci = await render({ ...seeded, set: [...seeded.set, 'global.environment=ci'] });
    expect(jobsOf(ci, 'seed')).toEqual([]);
    const optedIn = await render({
      ...seeded,
      set: [...seeded.set, 'global.environment=ci', 'services.go-api.seed.stages={ci}'],
    });
    expect(jobsOf(optedIn, 'seed').map((j) => j.metadata.name)).toEqual([
      expect.stringMatching(/^four-go-api-seed-/),
    ]);
  });

  test('the example backend seeds a new preview with node dist/seed.js; the default render has no seed', async () => {
    const preview = {
      name: 'examples, preview, seeding',
      release: 'pr-461',
      files: [values('values.preview.yaml')],
      set: ['ingress.host=pr-461.app.example.com', 'global.seed=true'],
    };
    const m = await render(preview);
    const jobs = jobsOf(m, 'seed');
    expect(jobs).toHaveLength(1);
    const job = jobs[0] as Manifest;
    expect(job.metadata.name).toMatch(/^pr-461-backend-seed-[0-9a-f]{8}$/);
    expect((job.spec.template.spec.containers[0] as Container).command).toEqual(['node', 'dist/seed.js']);
    expect(initOf(job, 'wait-postgres')?.args).toEqual(['statefulset', 'pr-461-postgres']);
    const plain = await render({ ...preview, set: ['ingress.host=pr-461.app.example.com'] });
    expect(jobsOf(plain, 'seed')).toEqual([]);
  });

  test('refused in live: global.seed, naming the field', async () => {
    const r = await runHelm(
      templateArgs({
        name: 'live seed',
        release: 'jetscale',
        files: [values('values.live.yaml')],
        set: ['ingress.host=app.example.com', 'global.seed=true'],
      }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'global.seed is true with global.environment=live: a seed writes data, so it never runs in live; accepted: false',
    );
  });
});

async function renderWith(vals: unknown, extra: string[] = []): Promise<Manifest[]> {
  const dir = mkdtempSync(join(tmpdir(), 'jetscale-services-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, stringify(vals));
  const r = await runHelm(templateArgs({ name: 'ok', release: 'app', files: [file] }, extra));
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

describe.skipIf(helm.skip)('stripPrefix: the service sees the path without the route', () => {
  const stripApi = { services: { backend: { routes: { api: { stripPrefix: true } } } } };
  const ingress = (m: Manifest[], name: string) => {
    const ing = find(m, 'Ingress', name);
    return {
      className: ing.spec.ingressClassName,
      tls: ing.spec.tls,
      paths: ing.spec.rules.flatMap((r: { host?: string; http: { paths: Array<{ path: string }> } }) =>
        r.http.paths.map((p) => `${r.host ?? '*'} ${p.path}`),
      ),
      annotations: ing.metadata.annotations,
    };
  };

  test('annotation (the default for a class other than traefik): a second Ingress with the same class, hosts and TLS, marked for the rig', async () => {
    const m = await renderWith({
      ...stripApi,
      ingress: {
        className: 'jetscale-rig',
        host: 'app.example.com',
        annotations: { team: 'a' },
        tls: { enabled: true, secretName: 'app-tls' },
      },
    });
    const tls = [{ hosts: ['app.example.com'], secretName: 'app-tls' }];
    expect(ingress(m, 'app-web')).toEqual({
      className: 'jetscale-rig',
      tls,
      paths: ['app.example.com /'],
      annotations: { team: 'a' },
    });
    expect(ingress(m, 'app-web-strip')).toEqual({
      className: 'jetscale-rig',
      tls,
      paths: ['app.example.com /api'],
      annotations: { team: 'a', 'jetscale.dev/strip-prefix': 'true' },
    });
    expect(ofKind(m, 'Middleware')).toEqual([]);
  });

  test('traefik: a Middleware stripping every such path (longest first) and its router annotation', async () => {
    const m = await renderWith({
      ingress: { stripPrefix: 'traefik' },
      services: {
        backend: { routes: { api: { stripPrefix: true }, deep: { path: '/api/v2/', stripPrefix: true } } },
      },
    });
    expect(ingress(m, 'app-web-strip').annotations).toEqual({
      'traefik.ingress.kubernetes.io/router.middlewares': 'ns-app-app-web-strip@kubernetescrd',
    });
    expect(ingress(m, 'app-web-strip').paths).toEqual(['* /api/v2/', '* /api']);
    expect(ingress(m, 'app-web').annotations).toBeUndefined();
    const mw = find(m, 'Middleware', 'app-web-strip');
    expect(mw.apiVersion).toBe('traefik.io/v1alpha1');
    expect(mw.spec).toEqual({ stripPrefix: { prefixes: ['/api/v2', '/api'] } });
  });

  test.each([
    ['traefik', 'serving Traefik Middlewares', true, 'the Middleware and its router annotation', true],
    ['traefik', 'without Traefik CRDs (a CI Kind cluster)', false, 'the annotation', false],
    ['jetscale-rig', 'serving Traefik Middlewares', true, 'the annotation the rig reads', false],
  ])('unset, class %s on a cluster %s: %s', async (className, _cluster, crds, _what, middleware) => {
    const m = await renderWith(
      { ...stripApi, ingress: { className } },
      crds ? ['--api-versions', 'traefik.io/v1alpha1/Middleware'] : [],
    );
    const annotations = ingress(m, 'app-web-strip').annotations ?? {};
    expect(ofKind(m, 'Middleware').length > 0).toBe(middleware);
    expect('traefik.ingress.kubernetes.io/router.middlewares' in annotations).toBe(middleware);
    expect('jetscale.dev/strip-prefix' in annotations).toBe(!middleware);
  });

  test('no stripPrefix: one Ingress and no Middleware, even with traefik', async () => {
    const m = await renderWith({ ingress: { stripPrefix: 'traefik' } });
    expect(ofKind(m, 'Ingress').map((i) => i.metadata.name)).toEqual(['app-web']);
    expect(ofKind(m, 'Middleware')).toEqual([]);
  });

  test("HTTPRoute: Gateway API's URLRewrite replaces the matched prefix with /, on that rule only", async () => {
    const m = await renderWith({ ...stripApi, gateway: { enabled: true, parentRefs: [{ name: 'gw' }] } });
    const rules = find(m, 'HTTPRoute', 'app-web').spec.rules;
    expect(rules.map((r: { filters?: unknown }) => r.filters)).toEqual([
      [
        {
          type: 'URLRewrite',
          urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } },
        },
      ],
      undefined,
    ]);
    expect(rules[0].matches).toEqual([{ path: { type: 'PathPrefix', value: '/api' } }]);
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
    'stripPrefix on an Exact route',
    { services: { backend: { routes: { api: { pathType: 'Exact', stripPrefix: true } } } } },
    [
      'services.backend.routes.api.stripPrefix is true with pathType Exact; accepted: stripPrefix only on a Prefix route',
    ],
  ],
  [
    'stripPrefix on /',
    { services: { frontend: { routes: { web: { stripPrefix: true } } } } },
    [
      'services.frontend.routes.web.stripPrefix is true on path "/"; accepted: stripPrefix only on a path below /, e.g. /py',
    ],
  ],
  [
    'stripPrefix that is not a boolean',
    { services: { backend: { routes: { api: { stripPrefix: 'sure' } } } } },
    ["at '/services/backend/routes/api/stripPrefix'", 'got string, want boolean'],
  ],
  [
    'an ingress strip mechanism the chart does not know',
    { ingress: { stripPrefix: 'nginx' } },
    [
      'ingress.stripPrefix is "nginx"; accepted: annotation (jetscale.dev/strip-prefix on the Ingress, which the rig\'s controller reads), traefik (a Traefik Middleware) or "" (traefik when ingress.className is traefik and the cluster serves Traefik Middlewares, else annotation)',
    ],
  ],
  [
    'an ingress strip left unset with a class of unknown controller (nginx)',
    { ingress: { className: 'nginx' }, services: { backend: { routes: { api: { stripPrefix: true } } } } },
    [
      'ingress.stripPrefix is unset and ingress.className is "nginx", a class whose controller may not read the jetscale.dev/strip-prefix annotation, so a route with stripPrefix would reach its service unstripped; set ingress.stripPrefix: traefik (a Traefik Middleware) or annotation (your controller reads jetscale.dev/strip-prefix), or drop stripPrefix from the routes',
    ],
  ],
  [
    'an env name the chart keeps for itself',
    { services: { backend: { env: { JETSCALE_DATABASE_URL: 'x' } } } },
    ["invalid propertyName 'JETSCALE_DATABASE_URL'"],
  ],
  [
    'a migration without a command',
    { services: { backend: { migrations: { args: ['migrate'] } } } },
    ["at '/services/backend/migrations'", 'command'],
  ],
  [
    'a migration with an empty command',
    { services: { backend: { migrations: { command: [] } } } },
    ["at '/services/backend/migrations/command'", 'minItems'],
  ],
  [
    'a migration with an unknown key',
    { services: { backend: { migrations: { command: ['m'], retries: 2 } } } },
    ["additional properties 'retries' not allowed"],
  ],
  [
    'a seed without a command',
    { services: { frontend: { seed: { stages: ['preview'] } } } },
    [
      'services.frontend.seed has no command: give command, a non-empty list such as [npm, run, seed], or set seed: {} for none',
    ],
  ],
  [
    'a seed in live',
    { services: { frontend: { seed: { command: ['s'], stages: ['preview', 'live'] } } } },
    [
      'services.frontend.seed.stages has "live": a seed writes data, so it never runs in live; accepted: local, ci, preview (default [preview])',
    ],
  ],
  [
    "a service named like another's seed",
    { services: { 'backend-seed': svc({}) } },
    [
      "services.backend-seed: the name is taken by services.backend.seed (its Job's pods and NetworkPolicy are named backend-seed); accepted: a service name other than backend-seed while backend declares a seed",
    ],
  ],
  ['a service named like the wait Role', { services: { wait: svc({}) } }, ["invalid propertyName 'wait'"]],
  [
    "a service named like another's migration (review)",
    {
      services: {
        backend: { migrations: { command: ['m'] } },
        'backend-migrate': svc({}),
      },
    },
    [
      "services.backend-migrate: the name is taken by services.backend.migrations (its Job's pods and NetworkPolicy are named backend-migrate); accepted: a service name other than backend-migrate while backend declares migrations",
    ],
  ],
];

describe.skipIf(helm.skip)('a wrong services declaration fails the render, naming the field', () => {
  test.each(refused)('%s', async (_what, vals, fragments) => {
    const stderr = await renderError(vals);
    for (const f of fragments) expect(stderr).toContain(f);
  });

  // src/declaration.ts refuses these before anything runs; the render must say the same
  test.each(
    refused.filter(
      ([what]) =>
        what.startsWith('stripPrefix on') ||
        what.startsWith('an ingress strip') ||
        what.startsWith('a service named like another') ||
        what.startsWith('a seed'),
    ),
  )('the action gives the same message: %s', async (_what, vals) => {
    let ours = '';
    try {
      readDeclaration(repoRoot, 'ci-kind', vals as Record<string, unknown>);
    } catch (e) {
      ours = (e as DeclarationError).problems.join('\n');
    }
    expect(ours).not.toBe('');
    expect(await renderError(vals)).toContain(ours);
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

  test('a release and service name that make the migration Job name over 63 characters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jetscale-services-'));
    const file = join(dir, 'values.yaml');
    writeFileSync(file, stringify({ services: { backend: { migrations: { command: ['m'] } } } }));
    const release = 'r'.repeat(39);
    const r = await runHelm(templateArgs({ name: 'long', release, files: [file] }));
    expect(r.stderr).toContain(
      `services.backend.migrations: the Job name ${release}-backend-migrate-xxxxxxxx is over 63 characters; shorten the service name or the release`,
    );
    // one character less fits
    const ok = await runHelm(templateArgs({ name: 'fits', release: 'r'.repeat(38), files: [file] }));
    expect(ok.code, ok.stderr).toBe(0);
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
