/**
 * The rig cluster (test/rig/up.sh) meets its acceptance points: nodes on Kubernetes v1.34.x are Ready,
 * the NetworkPolicy engine (kube-network-policies) is Ready on every node, a pod of each stand-in image is Ready,
 * a Service name resolves through CoreDNS from another pod (and
 * an unknown one does not), and the PVC is bound to a local-path volume.
 * Skips with the reason when no rig cluster answers; with CI=true and JETSCALE_E2E=1 that is a failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { rigKubeconfig } from '../e2e/rig.js';
import { findTool } from '../support/tools.js';

// jetscale-rig, or the cluster JETSCALE_RIG_NAME names (a scratch cluster of up.sh --name)
const kubeconfig = rigKubeconfig();
const ns = 'rig-check';
const STAND_INS = ['jetscale-rig/postgres:15', 'jetscale-rig/redis:7', 'jetscale-rig/node:24'];

interface Probe {
  kubectl?: string;
  reason?: string;
}

function probe(): Probe {
  const kubectl = findTool('kubectl');
  if (!kubectl) return { reason: 'kubectl not found (build it with: bash test/rig/tools/build.sh kubectl)' };
  if (!existsSync(kubeconfig))
    return { reason: `no rig cluster: ${kubeconfig} is absent (start one with: bash test/rig/up.sh)` };
  const r = spawnSync(
    kubectl,
    ['--kubeconfig', kubeconfig, '--request-timeout=5s', 'get', '--raw', '/readyz'],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0)
    return { reason: `the rig cluster in ${kubeconfig} does not answer: ${(r.stderr || r.stdout).trim()}` };
  return { kubectl };
}

const state = probe();
const mustRun = process.env.CI === 'true' && process.env.JETSCALE_E2E === '1';

function kc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(state.kubectl as string, ['--kubeconfig', kubeconfig, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function kcJson<T>(...args: string[]): T {
  const r = kc(...args, '-o', 'json');
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Condition {
  type: string;
  status: string;
}
interface NodeList {
  items: {
    metadata: { name: string };
    status: { conditions: Condition[]; nodeInfo: { kubeletVersion: string } };
  }[];
}
interface PodList {
  items: {
    metadata: { name: string; labels?: Record<string, string> };
    spec: { containers: { image: string }[]; nodeName?: string };
    status: { phase: string; conditions?: Condition[] };
  }[];
}

const ready = (conditions: Condition[] | undefined) =>
  (conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

if (!state.kubectl && mustRun) {
  test('the rig cluster is up (CI=true, JETSCALE_E2E=1)', () => {
    throw new Error(`${state.reason}; CI with JETSCALE_E2E=1 needs it: run bash test/rig/up.sh first`);
  });
}

describe.skipIf(!state.kubectl)(`rig cluster${state.reason ? ` (skipped: ${state.reason})` : ''}`, () => {
  test('every node runs Kubernetes v1.34.x and is Ready', () => {
    const nodes = kcJson<NodeList>('get', 'nodes');
    expect(nodes.items.length).toBeGreaterThanOrEqual(1);
    for (const node of nodes.items) {
      expect(node.status.nodeInfo.kubeletVersion, node.metadata.name).toMatch(/^v1\.34\.\d+$/);
      expect(ready(node.status.conditions), `${node.metadata.name} Ready`).toBe(true);
    }
  });

  test('CoreDNS and the CNI daemon are Ready (one CNI pod per node)', () => {
    const nodes = kcJson<NodeList>('get', 'nodes').items.length;
    const dns = kcJson<PodList>('-n', 'kube-system', 'get', 'pods', '-l', 'k8s-app=kube-dns');
    expect(dns.items.length).toBeGreaterThanOrEqual(1);
    for (const pod of dns.items) expect(ready(pod.status.conditions), pod.metadata.name).toBe(true);
    const cni = kcJson<PodList>('-n', 'kube-system', 'get', 'pods', '-l', 'app=kindnet');
    expect(cni.items).toHaveLength(nodes);
    for (const pod of cni.items) expect(ready(pod.status.conditions), pod.metadata.name).toBe(true);
  });

  test('the NetworkPolicy engine (kube-network-policies) is Ready on every node', () => {
    const nodes = kcJson<NodeList>('get', 'nodes').items.map((n) => n.metadata.name);
    const pods = kcJson<PodList>('-n', 'kube-system', 'get', 'pods', '-l', 'app=kube-network-policies');
    expect(pods.items.map((p) => p.spec.nodeName).sort()).toEqual([...nodes].sort());
    for (const pod of pods.items) expect(ready(pod.status.conditions), pod.metadata.name).toBe(true);
  });

  test.each(STAND_INS)('a pod running %s is Ready', (image) => {
    const pods = kcJson<PodList>('-n', ns, 'get', 'pods', '-l', 'rig-check=true');
    const running = pods.items.filter((p) =>
      p.spec.containers.some((c) =>
        [image, `docker.io/${image}`, `localhost:5001/${image}`].includes(c.image),
      ),
    );
    expect(running.length, `pods of ${image} in ${ns}`).toBeGreaterThanOrEqual(1);
    expect(running.some((p) => ready(p.status.conditions))).toBe(true);
  });

  test('a Service resolves through CoreDNS from another pod and answers; an unknown name does not resolve', () => {
    const script = `
      const dns = require('node:dns/promises'); const net = require('node:net');
      (async () => {
        const { address } = await dns.lookup('rig-redis.${ns}.svc.cluster.local');
        await new Promise((ok, bad) => { const c = net.connect(6379, address, () => { c.write('PING\\r\\n'); });
          c.on('data', (d) => { console.log(address + ' ' + String(d).trim()); c.end(); ok(); }); c.on('error', bad); });
        try { await dns.lookup('no-such-service.${ns}.svc.cluster.local'); console.log('UNEXPECTED'); }
        catch (e) { console.log('unknown: ' + e.code); }
      })().catch((e) => { console.error(String(e)); process.exit(1); });`;
    const r = kc('-n', ns, 'exec', 'deploy/rig-node', '--', 'node', '-e', script);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [first, second] = r.stdout.trim().split('\n');
    // redis answers an unauthenticated PING with NOAUTH: it is our password-protected stand-in.
    expect(first).toMatch(/^\d+\.\d+\.\d+\.\d+ -NOAUTH/);
    expect(second).toBe('unknown: ENOTFOUND');
  });

  test('the Postgres PVC is Bound to a local-path volume and Postgres stores data on it', () => {
    const pvc = kcJson<{ status: { phase: string }; spec: { volumeName: string; storageClassName: string } }>(
      '-n',
      ns,
      'get',
      'pvc',
      'rig-postgres',
    );
    expect(pvc.status.phase).toBe('Bound');
    expect(pvc.spec.storageClassName).toBe('standard');
    const pv = kcJson<{ spec: { storageClassName: string } }>('get', 'pv', pvc.spec.volumeName);
    expect(pv.spec.storageClassName).toBe('standard');
    const r = kc(
      '-n',
      ns,
      'exec',
      'deploy/rig-postgres',
      '--',
      'sh',
      '-c',
      'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "show data_directory"',
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('/var/lib/postgresql/data/pgdata');
  });
});
