// charts/app against a real kube-apiserver (no nodes; see control-plane.ts): every stage's objects pass
// strict server-side validation, their pods pass Pod Security "restricted" admission, generated Secrets
// survive upgrades (lookup), persistent data and its Secret survive uninstall, previews leave nothing.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ControlPlane, requireControlPlane } from './control-plane.js';
import {
  chartDir,
  helm,
  type Manifest,
  parseManifests,
  runHelm,
  type Scenario,
  stages,
  values,
  workloads,
} from './render.js';

const binaries = requireControlPlane();

const plurals: Record<string, string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  Service: 'services',
  ServiceAccount: 'serviceaccounts',
  Secret: 'secrets',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  NetworkPolicy: 'networkpolicies',
  Ingress: 'ingresses',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Job: 'jobs',
  Role: 'roles',
  RoleBinding: 'rolebindings',
};

function collection(m: Manifest, namespace: string): string {
  const plural = plurals[m.kind];
  if (!plural) throw new Error(`no API path known for kind ${m.kind}: add it to the table`);
  const group = m.apiVersion.includes('/') ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
  return `${group}/namespaces/${namespace}/${plural}`;
}

// what a release leaves in its namespace, by kind
const namespacedKinds = [
  ['api/v1', 'secrets'],
  ['api/v1', 'services'],
  ['api/v1', 'serviceaccounts'],
  ['api/v1', 'persistentvolumeclaims'],
  ['apis/apps/v1', 'deployments'],
  ['apis/apps/v1', 'statefulsets'],
  ['apis/networking.k8s.io/v1', 'networkpolicies'],
  ['apis/networking.k8s.io/v1', 'ingresses'],
  ['apis/autoscaling/v2', 'horizontalpodautoscalers'],
  ['apis/policy/v1', 'poddisruptionbudgets'],
  ['apis/batch/v1', 'jobs'],
  ['apis/rbac.authorization.k8s.io/v1', 'roles'],
  ['apis/rbac.authorization.k8s.io/v1', 'rolebindings'],
] as const;

describe.skipIf(helm.skip || binaries.skip)('charts/app on a real kube-apiserver', () => {
  let plane: ControlPlane;

  beforeAll(async () => {
    if (!binaries.etcd) return;
    plane = await ControlPlane.start(binaries);
  }, 120_000);

  afterAll(async () => {
    await plane?.stop();
  });

  const kube = (args: string[]) => runHelm([...args, '--kubeconfig', plane.kubeconfig]);

  async function createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    const res = await plane.api('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }

  async function install(scenario: Scenario, namespace: string, verb = 'install'): Promise<void> {
    const args = [verb, scenario.release, chartDir, '--namespace', namespace];
    for (const file of scenario.files) args.push('-f', file);
    for (const set of scenario.set ?? []) args.push('--set', set);
    const result = await kube(args);
    expect(result.code, `helm ${verb} ${scenario.name}: ${result.stderr}`).toBe(0);
  }

  async function secretValue(namespace: string, name: string, key: string): Promise<string> {
    const res = await plane.api('GET', `/api/v1/namespaces/${namespace}/secrets/${name}`);
    expect(res.status, `Secret ${namespace}/${name}`).toBe(200);
    return Buffer.from(res.body.data[key] as string, 'base64').toString();
  }

  async function leftovers(namespace: string): Promise<string[]> {
    const names: string[] = [];
    for (const [group, plural] of namespacedKinds) {
      const res = await plane.api('GET', `/${group}/namespaces/${namespace}/${plural}`);
      expect(res.status, `list ${plural}`).toBe(200);
      for (const item of res.body.items as Manifest[]) names.push(`${plural}/${item.metadata.name}`);
    }
    return names.sort();
  }

  // a migration: its Job, the wait containers with their projected token, the Role and its binding
  const fourStack: Scenario = {
    name: 'the four-service stack (a migration)',
    release: 'four',
    files: [values('values.preview.yaml'), 'test/chart/stacks/four.yaml'],
    set: ['ingress.host=pr-9.app.example.com'],
  };
  const stageRows: Array<readonly [string, string, Scenario]> = [
    ...Object.entries(stages).map(([key, s]) => [s.name, key, s] as const),
    [fourStack.name, 'four', fourStack],
  ];

  test.each(stageRows)(
    '%s: strict validation, restricted Pod Security admission, helm install',
    async (_name, key, scenario) => {
      const namespace = `stage-${key.toLowerCase()}`;
      await createNamespace(namespace, {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/warn': 'restricted',
      });
      const args = ['template', scenario.release, chartDir, '--namespace', namespace];
      for (const file of scenario.files) args.push('-f', file);
      for (const set of scenario.set ?? []) args.push('--set', set);
      const rendered = await runHelm(args);
      expect(rendered.code, rendered.stderr).toBe(0);
      const manifests = parseManifests(rendered.stdout);

      // every object as the API server sees it: unknown or misplaced fields fail, Pod Security warns
      for (const m of manifests) {
        const res = await plane.api(
          'POST',
          `${collection(m, namespace)}?dryRun=All&fieldValidation=Strict`,
          m,
        );
        expect(res.status, `${m.kind}/${m.metadata.name}: ${JSON.stringify(res.body.message)}`).toBe(201);
        expect(res.warnings, `${m.kind}/${m.metadata.name}`).toEqual([]);
      }

      await install(scenario, namespace);

      // the pods the workloads would create, through Pod Security admission in enforce mode
      for (const w of workloads(manifests)) {
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { ...w.spec.template.metadata, name: `${w.metadata.name}-admission-check` },
          spec: w.spec.template.spec,
        };
        const res = await plane.api('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All`, pod);
        expect(res.status, `${w.kind}/${w.metadata.name}: ${JSON.stringify(res.body.message)}`).toBe(201);
      }
    },
  );

  test('generated Secrets keep their password across upgrades (lookup)', async () => {
    const namespace = 'lookup';
    await createNamespace(namespace);
    await install(stages.local, namespace);
    const pg = await secretValue(namespace, 'app-postgres', 'PGPASSWORD');
    const redis = await secretValue(namespace, 'app-redis', 'REDIS_PASSWORD');
    expect(pg).toMatch(/^[A-Za-z0-9]{32}$/);
    await install({ ...stages.local, set: ['services.backend.replicas=2'] }, namespace, 'upgrade');
    expect(await secretValue(namespace, 'app-postgres', 'PGPASSWORD')).toBe(pg);
    expect(await secretValue(namespace, 'app-redis', 'REDIS_PASSWORD')).toBe(redis);
    const url = await secretValue(namespace, 'app-postgres', 'DATABASE_URL');
    expect(url).toBe(`postgres://jetscale:${pg}@app-postgres:5432/jetscale`);
  });

  test('live: the first install starts at the HPA minimum; upgrades keep what the HPA chose', async () => {
    const namespace = 'live-hpa';
    await createNamespace(namespace);
    await install(stages.live, namespace);
    const path = `/apis/apps/v1/namespaces/${namespace}/deployments/jetscale-backend`;
    expect((await plane.api('GET', path)).body.spec.replicas).toBe(3);
    // what the HPA does when it scales: write spec.replicas through the scale subresource
    const scaled = await plane.api('PUT', `${path}/scale`, {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: 'jetscale-backend', namespace },
      spec: { replicas: 5 },
    });
    expect(scaled.status, JSON.stringify(scaled.body)).toBe(200);
    await install(stages.live, namespace, 'upgrade');
    expect((await plane.api('GET', path)).body.spec.replicas).toBe(5);
  });

  test('preview: helm uninstall leaves nothing in the namespace', async () => {
    const namespace = 'jetscale-pr-7';
    await createNamespace(namespace);
    const preview: Scenario = {
      ...stages.preview,
      release: 'pr-7',
      set: ['ingress.host=pr-7.preview.example.com'],
    };
    await install(preview, namespace);
    const installed = await leftovers(namespace);
    expect(installed).toEqual(
      expect.arrayContaining(['deployments/pr-7-backend', 'statefulsets/pr-7-postgres']),
    );
    const result = await kube(['uninstall', 'pr-7', '--namespace', namespace]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('kept due to the resource policy');
    expect(await leftovers(namespace)).toEqual([]);
  });

  test('persistent data: uninstall keeps the volumes and their Secret; a reinstall finds the same password', async () => {
    const namespace = 'keep';
    await createNamespace(namespace);
    const persistent: Scenario = {
      name: 'persistent',
      release: 'app',
      files: [values('ci/persistent-values.yaml')],
    };
    await install(persistent, namespace);
    const pg = await secretValue(namespace, 'app-postgres', 'PGPASSWORD');
    const result = await kube(['uninstall', 'app', '--namespace', namespace]);
    expect(result.code, result.stderr).toBe(0);
    expect(await leftovers(namespace)).toEqual([
      'persistentvolumeclaims/app-postgres-data',
      'persistentvolumeclaims/app-redis-data',
      'secrets/app-postgres',
      'secrets/app-redis',
    ]);
    await install(persistent, namespace);
    expect(await secretValue(namespace, 'app-postgres', 'PGPASSWORD')).toBe(pg);
  });
});
