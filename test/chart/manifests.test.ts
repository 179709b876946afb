// What the rendered manifests promise, stage by stage: restricted pods, probes, pinned images, requests
// and limits, network policies and the wiring every stage shares; then what only live, preview and local do.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import YAML from 'yaml';
import {
  type Container,
  containersOf,
  find,
  helm,
  type Manifest,
  ofKind,
  render,
  type Scenario,
  stages,
  values,
  workloads,
} from './render.js';

const everyStage: Scenario[] = [
  ...Object.values(stages),
  { name: 'ci/external-services', release: 'app', files: [values('ci/external-services-values.yaml')] },
  { name: 'ci/persistent', release: 'app', files: [values('ci/persistent-values.yaml')] },
  { name: 'ci/gateway', release: 'app', files: [values('ci/gateway-values.yaml')] },
  { name: 'ci/preview-seed', release: 'app', files: [values('ci/preview-seed-values.yaml')] },
];

const stageRows = everyStage.map((s) => [s.name, s] as const);

// Volume types the Restricted Pod Security Standard allows.
const restrictedVolumeTypes = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);

function allContainers(manifests: Manifest[]): Array<{ owner: string; container: Container; init: boolean }> {
  return workloads(manifests).flatMap((w) => {
    const { init, main } = containersOf(w);
    const owner = `${w.kind}/${w.metadata.name}`;
    return [
      ...init.map((container) => ({ owner, container, init: true })),
      ...main.map((container) => ({ owner, container, init: false })),
    ];
  });
}

/** Pods a Deployment runs at least: its HPA's minReplicas when it has one, else spec.replicas. */
function minimumPods(manifests: Manifest[], deployment: Manifest): number {
  const hpa = ofKind(manifests, 'HorizontalPodAutoscaler').find(
    (h) =>
      h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === deployment.metadata.name,
  );
  if (hpa) {
    // without a cluster to look up, the first install starts at the HPA's minimum
    expect(deployment.spec.replicas, `${deployment.metadata.name}: first-install replicas`).toBe(
      hpa.spec.minReplicas,
    );
    return hpa.spec.minReplicas as number;
  }
  return deployment.spec.replicas as number;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

describe.skipIf(helm.skip)('every stage', () => {
  test.each(stageRows)('%s: pods meet the Restricted Pod Security Standard', async (_name, scenario) => {
    const manifests = await render(scenario);
    expect(workloads(manifests).length).toBeGreaterThan(0);
    for (const w of workloads(manifests)) {
      const pod = w.spec.template.spec;
      const where = `${w.kind}/${w.metadata.name}`;
      expect(pod.securityContext.runAsNonRoot, where).toBe(true);
      expect(Number.isInteger(pod.securityContext.runAsUser), where).toBe(true);
      expect(pod.securityContext.runAsUser, where).toBeGreaterThan(0);
      expect(pod.securityContext.seccompProfile, where).toEqual({ type: 'RuntimeDefault' });
      expect(pod.hostNetwork ?? false, where).toBe(false);
      expect(pod.hostPID ?? false, where).toBe(false);
      expect(pod.automountServiceAccountToken, where).toBe(false);
      for (const volume of pod.volumes ?? []) {
        const types = Object.keys(volume).filter((k) => k !== 'name');
        expect(
          types.every((t) => restrictedVolumeTypes.has(t)),
          `${where} volume ${volume.name}`,
        ).toBe(true);
      }
    }
    for (const { owner, container } of allContainers(manifests)) {
      const where = `${owner} container ${container.name}`;
      const sc = container.securityContext;
      expect(sc.allowPrivilegeEscalation, where).toBe(false);
      expect(sc.capabilities.drop, where).toEqual(['ALL']);
      expect(sc.capabilities.add, where).toBeUndefined();
      expect(sc.privileged, where).toBe(false);
      expect(sc.runAsNonRoot, where).toBe(true);
      expect(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, where).toBe(true);
      expect(sc.seccompProfile, where).toEqual({ type: 'RuntimeDefault' });
      expect(sc.readOnlyRootFilesystem, where).toBe(true);
      // a read-only root needs a writable /tmp (not the wait program: it only polls the API)
      const mounts = (container.volumeMounts ?? []).map((m: { mountPath: string }) => m.mountPath);
      if (!/^(copy|wait)-/.test(container.name)) expect(mounts, where).toContain('/tmp');
    }
  });

  test.each(stageRows)(
    '%s: every container has requests and limits for cpu and memory',
    async (_n, scenario) => {
      for (const { owner, container } of allContainers(await render(scenario))) {
        const where = `${owner} container ${container.name}`;
        for (const kind of ['requests', 'limits']) {
          expect(container.resources?.[kind]?.cpu, `${where} ${kind}.cpu`).toBeDefined();
          expect(container.resources?.[kind]?.memory, `${where} ${kind}.memory`).toBeDefined();
        }
      }
    },
  );

  test.each(stageRows)(
    '%s: long-running containers have startup, liveness, readiness probes',
    async (_n, s) => {
      const manifests = await render(s);
      for (const { owner, container, init } of allContainers(manifests)) {
        // a Job's pod (a migration, a seed) runs to completion: nothing to probe
        if (init || owner.startsWith('Job/')) continue;
        const where = `${owner} container ${container.name}`;
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
          expect(container[probe], `${where} ${probe}`).toBeDefined();
        }
      }
      const backend = containersOf(find(manifests, 'Deployment', `${s.release}-backend`)).main[0];
      expect(backend?.startupProbe.httpGet.path).toBe('/healthz');
      expect(backend?.livenessProbe.httpGet.path).toBe('/healthz');
      expect(backend?.readinessProbe.httpGet.path).toBe('/readyz');
      const frontend = containersOf(find(manifests, 'Deployment', `${s.release}-frontend`)).main[0];
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        expect(frontend?.[probe].httpGet.path, `frontend ${probe}`).toBe('/healthz');
      }
    },
  );

  test.each(stageRows)(
    '%s: images are pinned (a tag that is not latest, or a digest)',
    async (_n, scenario) => {
      for (const { owner, container } of allContainers(await render(scenario))) {
        const image = container.image as string;
        const lastSegment = image.slice(image.lastIndexOf('/') + 1);
        expect(lastSegment.includes(':') || image.includes('@sha256:'), `${owner}: ${image} has no tag`).toBe(
          true,
        );
        expect(image.endsWith(':latest'), `${owner}: ${image}`).toBe(false);
      }
    },
  );

  test.each(stageRows)('%s: default deny plus one NetworkPolicy per component', async (_n, scenario) => {
    const manifests = await render(scenario);
    const policies = ofKind(manifests, 'NetworkPolicy');
    const deny = find(manifests, 'NetworkPolicy', `${scenario.release}-default-deny`);
    expect(deny.spec.podSelector.matchLabels).toEqual({ 'app.kubernetes.io/instance': scenario.release });
    expect(deny.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(deny.spec.ingress).toBeUndefined();
    expect(deny.spec.egress).toBeUndefined();
    // every pod of the release is covered by an allow policy of its own
    for (const w of workloads(manifests)) {
      const labels = w.spec.template.metadata.labels as Record<string, string>;
      const own = policies.filter(
        (p) => p !== deny && selects(p.spec.podSelector.matchLabels as Record<string, string>, labels),
      );
      expect(own.length, `${w.metadata.name} has its NetworkPolicy`).toBe(1);
    }
    const backend = find(manifests, 'NetworkPolicy', `${scenario.release}-backend`);
    const egressPorts = (backend.spec.egress as Array<{ ports: Array<{ port: number; protocol: string }> }>)
      .flatMap((rule) => rule.ports)
      .map((p) => `${p.protocol}/${p.port}`);
    expect(egressPorts).toEqual(expect.arrayContaining(['TCP/5432', 'TCP/6379', 'UDP/53', 'TCP/53']));
    const frontend = find(manifests, 'NetworkPolicy', `${scenario.release}-frontend`);
    const frontendEgress = JSON.stringify(frontend.spec.egress);
    expect(frontendEgress).toContain('"app.kubernetes.io/name":"backend"');
    expect(frontendEgress).not.toContain('5432');
  });

  test.each(stageRows)('%s: services and wiring follow the shared contract', async (_n, scenario) => {
    const manifests = await render(scenario);
    const r = scenario.release;
    for (const name of ['backend', 'frontend']) {
      const service = find(manifests, 'Service', `${r}-${name}`);
      expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
      const container = containersOf(find(manifests, 'Deployment', `${r}-${name}`)).main[0];
      expect(container?.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    }
    const backend = containersOf(find(manifests, 'Deployment', `${r}-backend`)).main[0] as Container;
    const env = Object.fromEntries(
      (backend.env as Array<{ name: string; value: string }>).map((e) => [e.name, e.value]),
    );
    expect(env.PORT).toBe('8080');
    const sha = scenario.set?.find((s) => s.startsWith('global.gitSha='))?.split('=')[1];
    expect(env.GIT_SHA).toBe(sha ?? 'unknown');
    const secrets = (backend.envFrom as Array<{ secretRef: { name: string } }>).map((e) => e.secretRef.name);
    expect(secrets).toHaveLength(2);
    const frontend = containersOf(find(manifests, 'Deployment', `${r}-frontend`)).main[0] as Container;
    expect(frontend.env).toContainEqual({ name: 'BACKEND_URL', value: `http://${r}-backend:80` });
    for (const ingress of ofKind(manifests, 'Ingress')) {
      const paths = ingress.spec.rules[0].http.paths as Array<{
        path: string;
        backend: { service: { name: string } };
      }>;
      expect(paths.map((p) => [p.path, p.backend.service.name])).toEqual([
        ['/api', `${r}-backend`],
        ['/', `${r}-frontend`],
      ]);
    }
  });
});

describe.skipIf(helm.skip)('image references', () => {
  const digest = `sha256:${'ab'.repeat(32)}`;
  test.each([
    ['a tag', '1.2.3', 'ghcr.io/jetscale/backend:1.2.3'],
    ["skaffold's tag@digest", `1.2.3@${digest}`, `ghcr.io/jetscale/backend:1.2.3@${digest}`],
    ["skaffold's tag@ without a digest", 'abc123@', 'ghcr.io/jetscale/backend:abc123'],
  ])('%s', async (_name, tag, image) => {
    const manifests = await render({
      name: `tag ${tag}`,
      release: 'app',
      files: [],
      set: [`services.backend.image.tag=${tag}`],
    });
    expect(containersOf(find(manifests, 'Deployment', 'app-backend')).main[0]?.image).toBe(image);
  });
});

describe.skipIf(helm.skip)('network policy settings', () => {
  test('extra ingress-controller peers (e.g. a controller on hostNetwork) reach frontend and backend', async () => {
    const manifests = await render({
      name: 'extra peers',
      release: 'app',
      files: [],
      set: ['networkPolicy.ingressController.extraPeers[0].ipBlock.cidr=172.18.0.0/16'],
    });
    for (const name of ['app-frontend', 'app-backend']) {
      const from = find(manifests, 'NetworkPolicy', name).spec.ingress[0].from;
      expect(from, name).toContainEqual({
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'traefik' } },
      });
      expect(from, name).toContainEqual({ ipBlock: { cidr: '172.18.0.0/16' } });
    }
  });

  test('networkPolicy.enabled=false renders no NetworkPolicy', async () => {
    const manifests = await render({
      name: 'no netpol',
      release: 'app',
      files: [],
      set: ['networkPolicy.enabled=false'],
    });
    expect(ofKind(manifests, 'NetworkPolicy')).toEqual([]);
  });
});

describe.skipIf(helm.skip)('in-cluster Postgres and Redis', () => {
  test('generated Secrets hold the connection the backend reads, with matching Service names', async () => {
    const manifests = await render(stages.local);
    const pg = find(manifests, 'Secret', 'app-postgres').stringData as Record<string, string>;
    expect(pg.PGHOST).toBe('app-postgres');
    expect(pg.PGPASSWORD).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(pg.DATABASE_URL).toBe(
      `postgres://${pg.PGUSER}:${pg.PGPASSWORD}@app-postgres:5432/${pg.PGDATABASE}`,
    );
    const redis = find(manifests, 'Secret', 'app-redis').stringData as Record<string, string>;
    expect(redis.REDIS_URL).toBe(`redis://:${redis.REDIS_PASSWORD}@app-redis:6379/0`);
    expect(find(manifests, 'Service', 'app-postgres').spec.ports[0].port).toBe(5432);
    expect(find(manifests, 'Service', 'app-redis').spec.ports[0].port).toBe(6379);
    const backend = containersOf(find(manifests, 'Deployment', 'app-backend')).main[0] as Container;
    expect(backend.envFrom).toEqual([
      { secretRef: { name: 'app-postgres' } },
      { secretRef: { name: 'app-redis' } },
    ]);
    // Postgres needs a writable PGDATA and socket directory under the read-only root
    const postgres = containersOf(find(manifests, 'StatefulSet', 'app-postgres')).main[0] as Container;
    const mounts = (postgres.volumeMounts as Array<{ mountPath: string }>).map((m) => m.mountPath);
    expect(mounts).toEqual(
      expect.arrayContaining(['/var/lib/postgresql/data', '/var/run/postgresql', '/tmp']),
    );
  });

  test('a password is generated per render, never taken from a values file', async () => {
    const [a, b] = await Promise.all([
      render({ ...stages.local, name: 'local (first)' }),
      render({ ...stages.local, name: 'local (second)' }),
    ]);
    const password = (m: Manifest[]) => find(m, 'Secret', 'app-postgres').stringData?.PGPASSWORD;
    expect(password(a)).not.toBe(password(b));
  });
});

describe.skipIf(helm.skip)('live', () => {
  test('backend and frontend run at least 3 pods, spread over nodes and zones, with an HPA', async () => {
    const manifests = await render(stages.live);
    const deployments = ofKind(manifests, 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['jetscale-backend', 'jetscale-frontend']);
    for (const d of deployments) {
      expect(minimumPods(manifests, d), d.metadata.name).toBeGreaterThanOrEqual(3);
      const keys = (d.spec.template.spec.topologySpreadConstraints as Array<{ topologyKey: string }>).map(
        (c) => c.topologyKey,
      );
      expect(keys, d.metadata.name).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    }
    expect(ofKind(manifests, 'HorizontalPodAutoscaler')).toHaveLength(2);
  });

  test('a PodDisruptionBudget per Deployment, selecting its pods', async () => {
    const manifests = await render(stages.live);
    const pdbs = ofKind(manifests, 'PodDisruptionBudget');
    for (const d of ofKind(manifests, 'Deployment')) {
      const labels = d.spec.template.metadata.labels as Record<string, string>;
      const matching = pdbs.filter((p) => selects(p.spec.selector.matchLabels, labels));
      expect(matching, d.metadata.name).toHaveLength(1);
      expect(matching[0]?.spec.maxUnavailable).toBe(1);
    }
  });

  test('what a drain or a pod kill under load needs: no pod taken before its replacement is ready, a preStop sleep within the grace period, readiness probes, spread that leaves a cordoned node out', async () => {
    const manifests = await render(stages.live);
    for (const d of ofKind(manifests, 'Deployment')) {
      const name = d.metadata.name;
      expect(d.spec.strategy.rollingUpdate, name).toEqual({ maxUnavailable: 0, maxSurge: 1 });
      const pod = d.spec.template.spec;
      const main = containersOf(d).main[0] as Container & {
        lifecycle?: { preStop?: { sleep?: { seconds: number } } };
        readinessProbe?: unknown;
      };
      expect(main.readinessProbe, name).toBeDefined();
      const preStop = main.lifecycle?.preStop?.sleep?.seconds ?? 0;
      expect(preStop, `${name} preStop sleep`).toBeGreaterThanOrEqual(2);
      expect(preStop, name).toBeLessThan(pod.terminationGracePeriodSeconds);
      // With the default (Ignore) a drained node, cordoned with a NoSchedule taint, still counts as a domain with no
      // pods: maxSkew 1 over the others is then unsatisfiable and the evicted pod stays Pending until uncordon.
      for (const c of pod.topologySpreadConstraints as Array<{
        topologyKey: string;
        nodeTaintsPolicy: string;
      }>)
        expect(c.nodeTaintsPolicy, `${name} ${c.topologyKey}`).toBe('Honor');
    }
  });

  test('HTTPS only: TLS on the Ingress with a cert-manager issuer', async () => {
    const ingress = ofKind(await render(stages.live), 'Ingress')[0] as Manifest;
    expect(ingress.spec.tls).toEqual([{ hosts: ['jetscale.example.com'], secretName: 'jetscale-tls' }]);
    expect(ingress.spec.rules[0].host).toBe('jetscale.example.com');
    expect(ingress.metadata.annotations?.['cert-manager.io/cluster-issuer']).toBe('letsencrypt-prod');
  });

  test('credentials only from existing Secrets: live generates none', async () => {
    const manifests = await render(stages.live);
    expect(ofKind(manifests, 'Secret')).toEqual([]);
    const backend = containersOf(find(manifests, 'Deployment', 'jetscale-backend')).main[0] as Container;
    expect(backend.envFrom).toEqual([
      { secretRef: { name: 'jetscale-postgres' } },
      { secretRef: { name: 'jetscale-redis' } },
    ]);
    // managed services: the backend may leave the cluster on their ports only
    const policy = find(manifests, 'NetworkPolicy', 'jetscale-backend');
    expect(JSON.stringify(policy.spec.egress)).toContain('"ipBlock":{"cidr":"0.0.0.0/0"}');
  });

  test('in-cluster Postgres/Redis (the rig) sit on persistent volumes that outlive helm uninstall', async () => {
    const manifests = await render(stages.liveInCluster);
    const claims = ofKind(manifests, 'PersistentVolumeClaim');
    expect(claims.map((c) => c.metadata.name).sort()).toEqual([
      'jetscale-postgres-data',
      'jetscale-redis-data',
    ]);
    for (const claim of claims) {
      expect(claim.metadata.annotations?.['helm.sh/resource-policy'], claim.metadata.name).toBe('keep');
    }
    for (const name of ['jetscale-postgres', 'jetscale-redis']) {
      const volumes = find(manifests, 'StatefulSet', name).spec.template.spec.volumes as Array<{
        name: string;
        persistentVolumeClaim?: { claimName: string };
      }>;
      expect(volumes.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName).toBe(`${name}-data`);
      const secretRef = JSON.stringify(
        find(manifests, 'StatefulSet', name).spec.template.spec.containers[0].env,
      );
      expect(secretRef).toContain(`"name":"${name}"`); // the existing Secret, named in ci/live-values.yaml
    }
    const redisArgs = find(manifests, 'StatefulSet', 'jetscale-redis').spec.template.spec.containers[0].args;
    expect(redisArgs.join(' ')).toContain('--appendonly yes');
  });

  test('generated credentials are kept with the volumes they unlock (persistence outside live)', async () => {
    const manifests = await render({
      name: 'persistent',
      release: 'app',
      files: [values('ci/persistent-values.yaml')],
    });
    for (const name of ['app-postgres', 'app-redis']) {
      expect(find(manifests, 'Secret', name).metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
      expect(find(manifests, 'PersistentVolumeClaim', `${name}-data`).metadata.annotations).toEqual({
        'helm.sh/resource-policy': 'keep',
      });
    }
  });
});

describe.skipIf(helm.skip)('preview', () => {
  test('one replica each, Postgres and Redis on emptyDir, no PersistentVolumeClaim anywhere', async () => {
    const manifests = await render(stages.preview);
    for (const w of workloads(manifests)) {
      expect(w.spec.replicas, w.metadata.name).toBe(1);
      expect(w.spec.volumeClaimTemplates, w.metadata.name).toBeUndefined();
    }
    expect(ofKind(manifests, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(ofKind(manifests, 'PersistentVolumeClaim')).toEqual([]);
    const data = (name: string) =>
      (
        find(manifests, 'StatefulSet', name).spec.template.spec.volumes as Array<Record<string, unknown>>
      ).find((v) => v.name === 'data');
    expect(data('pr-42-postgres')).toEqual({ name: 'data', emptyDir: { sizeLimit: '512Mi' } });
    expect(data('pr-42-redis')).toEqual({ name: 'data', emptyDir: { sizeLimit: '128Mi' } });
  });

  test('helm uninstall leaves nothing: no object is kept', async () => {
    for (const m of await render(stages.preview)) {
      expect(
        m.metadata.annotations?.['helm.sh/resource-policy'],
        `${m.kind}/${m.metadata.name}`,
      ).toBeUndefined();
    }
  });

  test('lean requests and the per-PR host from the deployer', async () => {
    const manifests = await render(stages.preview);
    const backend = containersOf(find(manifests, 'Deployment', 'pr-42-backend')).main[0] as Container;
    expect(backend.resources.requests).toEqual({ cpu: '25m', memory: '64Mi' });
    const ingress = ofKind(manifests, 'Ingress')[0] as Manifest;
    expect(ingress.spec.rules[0].host).toBe('pr-42.preview.example.com');
  });
});

describe.skipIf(helm.skip)('progress deadline', () => {
  test("every Deployment gives up after global.progressDeadlineSeconds (600, Kubernetes' default, unless set)", async () => {
    for (const [set, want] of [
      [[], 600],
      [['global.progressDeadlineSeconds=90'], 90],
    ] as const) {
      const deployments = ofKind(
        await render({ ...stages.preview, set: [...(stages.preview.set ?? []), ...set] }),
        'Deployment',
      );
      expect(deployments.length).toBeGreaterThan(0);
      for (const d of deployments)
        expect(d.spec.progressDeadlineSeconds, `${d.metadata.name} ${set}`).toBe(want);
    }
  });
});

describe.skipIf(helm.skip)('owner labels', () => {
  test("global.ownerLabels go on every object of every stage, and on no selector (a preview's PR and repository)", async () => {
    const owner = { 'jetscale.ai/pr': '101', 'jetscale.ai/repo': 'frontend-ea5f768e' };
    // As the action hands them: a values file (YAML keeps "101" a string).
    const file = join(mkdtempSync(join(tmpdir(), 'owner-')), 'owner.yaml');
    writeFileSync(file, YAML.stringify({ global: { ownerLabels: owner } }));
    for (const [stage, scenario] of Object.entries(stages)) {
      const manifests = await render({ ...scenario, files: [...scenario.files, file] });
      expect(manifests.length, stage).toBeGreaterThan(5);
      for (const m of manifests) {
        expect(m.metadata.labels, `${stage} ${m.kind}/${m.metadata.name}`).toMatchObject(owner);
        for (const selector of [
          m.spec?.selector?.matchLabels,
          m.spec?.selector,
          m.spec?.podSelector?.matchLabels,
        ])
          if (selector && typeof selector === 'object')
            for (const key of Object.keys(owner))
              expect(selector, `${stage} ${m.kind}/${m.metadata.name} selector`).not.toHaveProperty([key]);
      }
    }
  });
});

describe.skipIf(helm.skip)('local', () => {
  test('one replica, the app on localhost, sources writable for hot reload under a read-only root', async () => {
    const manifests = await render(stages.local);
    for (const w of workloads(manifests)) expect(w.spec.replicas, w.metadata.name).toBe(1);
    expect((ofKind(manifests, 'Ingress')[0] as Manifest).spec.rules[0].host).toBe('localhost');
    for (const name of ['app-backend', 'app-frontend']) {
      const { init, main } = containersOf(find(manifests, 'Deployment', name));
      expect(init.map((c) => c.name)).toEqual(['copy-writable-paths']);
      expect(init[0]?.image).toBe(main[0]?.image);
      const appMount = ((main[0]?.volumeMounts ?? []) as Array<{ name: string; mountPath: string }>).find(
        (m) => m.mountPath === '/app',
      );
      expect(appMount?.name).toBe('writable-0');
      expect(main[0]?.imagePullPolicy).toBe('IfNotPresent');
    }
  });
});
