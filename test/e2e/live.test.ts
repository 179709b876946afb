/**
 * Live end to end on a live-like cluster: a 1+3-node rig cluster (kind/cluster.multinode.yaml, one zone per
 * worker) of its own, `jetscale-live`. The chart is deployed the way a developer deploys live, through the CLI
 * (`stack deploy live --context … --url … --confirm`, Skaffold's live profile, values.live.yaml plus the
 * settings live leaves to the deployer), and must run as live: 3 replicas of each service on 3 different
 * workers, PodDisruptionBudgets, HPAs, bound kept PVCs, an HTTPS Ingress with its own certificate. Then the
 * action's live loop runs as a runner runs it (node dist/index.js, INPUT_LOOP=live) through the rig's ingress
 * controller: its smoke checks pass, and it changes nothing — every object of the release namespace (all
 * listable kinds) and every cluster-scoped object of the release keeps its resourceVersion, and the app's
 * data is untouched. A live run against a host no Ingress serves, or without trusting the CA, fails.
 *
 * The TLS Secret named by ingress.tls.secretName is what cert-manager writes on a real cluster; here the test
 * writes it (as the platform team would), with a certificate for app.jetscale.ai signed by the rig CA, and
 * checks that the controller serves exactly that certificate rather than its default one.
 *
 * The cluster is the live-stage files' shared one (liveClusterUp in rig.ts: created on first use, removed by the
 * e2e global teardown). Figures (cluster up, deploy, live loop) are printed, not asserted.
 */
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import { join } from 'node:path';
import type * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseCommandFile, runBundle, runnerEnv } from '../support/runner.js';
import { findTool } from '../support/tools.js';
import {
  cliDeployLive,
  LIVE,
  LIVE_CLUSTER,
  LIVE_REGISTRY,
  liveClusterUp,
  liveKubectl,
  livePlatform,
  networkPolicyPaths,
  type ProcessResult,
  type RigIngress,
  rigIngress,
  rigKubeconfig,
  rigSkipReason,
} from './rig.js';

const skip = rigSkipReason();

const CLUSTER = LIVE_CLUSTER;
const NS = LIVE.namespace;
const RELEASE = LIVE.release;
const HOST = LIVE.host;
const LIVE_URL = LIVE.url;
const SHA = LIVE.sha;
const REGISTRY = LIVE.registry;
const SMOKE_CHECKS = ['backend-health', 'backend-ready', 'frontend-page', 'frontend-api'];

const kubeconfig = rigKubeconfig(CLUSTER);
const kubectl = liveKubectl;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: parsed Kubernetes JSON, checked field by field below
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: parsed Kubernetes JSON, checked field by field below
  status?: any;
}

async function getJson(args: string[]): Promise<K8sObject[]> {
  return (JSON.parse(await kubectl([...args, '-o', 'json'])) as { items: K8sObject[] }).items;
}

/**
 * Every object of the release namespace, of every kind the API server can list there, and every cluster-scoped
 * object of the release (helm-owned, the namespace itself, the PersistentVolumes bound to its claims, the
 * Services' IPAddresses), keyed by apiVersion, kind, namespace and name, valued by resourceVersion.
 * Events are left out: they are the controllers' log, not the state of an object (on the rig the HPA controller,
 * finding no metrics API, records FailedGetResourceMetric every 15 s whatever anyone else does).
 */
async function snapshot(): Promise<Map<string, string>> {
  const kinds = async (namespaced: boolean) =>
    (await kubectl(['api-resources', '--verbs=list', `--namespaced=${namespaced}`, '-o', 'name']))
      .split('\n')
      .filter((k) => k && k !== 'events' && k !== 'events.events.k8s.io');
  const inNamespace = await getJson(['get', (await kinds(true)).join(','), '-n', NS]);
  const clusterScoped = (await getJson(['get', (await kinds(false)).join(',')])).filter(
    (o) =>
      o.metadata.labels?.['app.kubernetes.io/instance'] === RELEASE ||
      o.metadata.annotations?.['meta.helm.sh/release-name'] === RELEASE ||
      (o.kind === 'Namespace' && o.metadata.name === NS) ||
      (o.kind === 'PersistentVolume' && o.spec?.claimRef?.namespace === NS) ||
      (o.kind === 'IPAddress' && o.spec?.parentRef?.namespace === NS),
  );
  const snap = new Map<string, string>();
  for (const o of [...inNamespace, ...clusterScoped])
    snap.set(
      `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`,
      o.metadata.resourceVersion ?? '',
    );
  return snap;
}

function diff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} → ${b.get(k) ?? '(gone)'}`);
  for (const [k, v] of b) if (!a.has(k)) out.push(`${k}: (new) ${v}`);
  return out;
}

/** Waits until two snapshots 10 s apart are equal: the baseline must be still before the live loop runs. */
async function quietSnapshot(): Promise<Map<string, string>> {
  let prev = await snapshot();
  let changes: string[] = [];
  for (let i = 0; i < 18; i++) {
    await new Promise((r) => setTimeout(r, 10_000));
    const next = await snapshot();
    changes = diff(prev, next);
    if (changes.length === 0) return next;
    prev = next;
  }
  throw new Error(`namespace ${NS} did not settle within 3 minutes; last changes:\n${changes.join('\n')}`);
}

/** One HTTPS request to the live host through the rig's ingress (its address, the rig CA, SNI and Host kept). */
function request(
  ip: string,
  ca: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      {
        host: ip,
        port: 443,
        servername: HOST,
        ca,
        method,
        path,
        agent: false,
        timeout: 15_000,
        headers: {
          Host: HOST,
          ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => {
          const cert = (res.socket as tls.TLSSocket).getPeerCertificate();
          let json: unknown = text;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, json, fingerprint: cert.fingerprint256 });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${LIVE_URL}${path}: no response within 15 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** The runner environment of the action's live loop. */
function liveEnv(url: string, resolveTo: string, extra: Record<string, string> = {}) {
  return runnerEnv({
    extra: { GITHUB_RUN_ID: `${Date.now()}`.slice(-8), GITHUB_REPOSITORY: 'jetscale/app', ...extra },
    inputs: { loop: 'live', url, resolve: `${new URL(url).hostname}=${resolveTo}` },
  });
}

const figures: Record<string, string> = {};

describe.skipIf(skip)(`live on a 1+3-node rig cluster${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let ingress: RigIngress;
  let ca = '';
  let deploy: ProcessResult & { seconds: number };
  let tlsFingerprint = '';

  beforeAll(async () => {
    const up = await liveClusterUp();
    figures.clusterUp = `${up.seconds.toFixed(0)} s (${up.created ? 'created' : 'reused'}; ${
      /cluster ready in .*/.exec(up.output)?.[0] ?? ''
    })`;
    ingress = rigIngress(CLUSTER);
    ca = readFileSync(ingress.caFile, 'utf8');

    ({ tlsFingerprint } = await livePlatform(ingress));
    deploy = await cliDeployLive({
      sha: SHA,
      images: { ...LIVE.images },
    });
    figures.deploy = `${deploy.seconds.toFixed(0)} s`;
  }, 1_800_000);

  afterAll(async () => {
    console.log(
      `live e2e figures: cluster up ${figures.clusterUp ?? '-'}, deploy ${figures.deploy ?? '-'}, ` +
        `live loop ${figures.liveLoop ?? '-'}`,
    );
  }, 600_000);

  test('the CLI deploys values.live.yaml, and it runs as live: 3 replicas per service over the 3 workers, PDBs, HPAs, bound PVCs, TLS ingress', async () => {
    expect(deploy.code, `${deploy.stdout}\n${deploy.stderr}`).toBe(0);
    expect(deploy.stdout).toContain('Deployments stabilized');

    const nodes = await getJson(['get', 'nodes']);
    const workers = nodes
      .filter((n) => !('node-role.kubernetes.io/control-plane' in (n.metadata.labels ?? {})))
      .map((n) => n.metadata.name);
    expect(workers).toHaveLength(3);

    const pods = await getJson(['get', 'pods', '-n', NS]);
    const deployments = await getJson(['get', 'deployments', '-n', NS]);
    for (const svc of ['backend', 'frontend']) {
      const dep = deployments.find((d) => d.metadata.name === `${RELEASE}-${svc}`);
      expect(dep?.status?.readyReplicas, `${svc} ready replicas`).toBeGreaterThanOrEqual(3);
      const mine = pods.filter(
        (p) =>
          p.metadata.labels?.['app.kubernetes.io/name'] === svc &&
          !p.metadata.deletionTimestamp && // pods of the previous revision, when a reused cluster is upgraded
          p.status?.conditions?.some(
            (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
          ),
      );
      expect(mine.length, `${svc} Ready pods`).toBeGreaterThanOrEqual(3);
      const onNodes = new Set(mine.map((p) => p.spec.nodeName as string));
      expect([...onNodes].sort(), `${svc} pods spread over the workers`).toEqual([...workers].sort());
      for (const p of mine) {
        expect(p.spec.containers[0].image).toBe(`${REGISTRY}/${svc}:rig`);
        expect(p.metadata.labels?.['jetscale.dev/environment']).toBe('live');
      }
      if (svc === 'backend') {
        const env = mine[0]?.spec.containers[0].env as Array<{ name: string; value?: string }>;
        expect(env.find((e) => e.name === 'GIT_SHA')?.value).toBe(SHA);
      }
    }

    const pdbs = await getJson(['get', 'pdb', '-n', NS]);
    for (const svc of ['backend', 'frontend']) {
      const pdb = pdbs.find((p) => p.metadata.name === `${RELEASE}-${svc}`);
      expect(pdb?.spec.maxUnavailable, `PDB ${svc}`).toBe(1);
      expect(pdb?.status.currentHealthy).toBeGreaterThanOrEqual(3);
      expect(pdb?.status.disruptionsAllowed).toBe(1);
    }
    const hpas = await getJson(['get', 'hpa', '-n', NS]);
    expect(hpas.map((h) => [h.metadata.name, h.spec.minReplicas]).sort()).toEqual([
      [`${RELEASE}-backend`, 3],
      [`${RELEASE}-frontend`, 3],
    ]);

    const sts = await getJson(['get', 'statefulsets', '-n', NS]);
    for (const s of sts) expect(s.status.readyReplicas, s.metadata.name).toBe(1);
    expect(sts.map((s) => s.metadata.name).sort()).toEqual([`${RELEASE}-postgres`, `${RELEASE}-redis`]);
    const pvcs = await getJson(['get', 'pvc', '-n', NS]);
    expect(pvcs.map((p) => [p.metadata.name, p.status.phase]).sort()).toEqual([
      [`${RELEASE}-postgres-data`, 'Bound'],
      [`${RELEASE}-redis-data`, 'Bound'],
    ]);
    for (const p of pvcs) expect(p.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');

    const [ing] = await getJson(['get', 'ingress', '-n', NS]);
    expect(ing?.spec.ingressClassName).toBe('jetscale-rig');
    expect(ing?.spec.tls).toEqual([{ hosts: [HOST], secretName: 'jetscale-tls' }]);
    expect(ing?.spec.rules[0].host).toBe(HOST);

    // The controller serves the release's own certificate (the TLS Secret), not its default one.
    const res = await request(ingress.ip, ca, 'GET', '/api/healthz');
    expect(res.status).toBe(200);
    expect(res.fingerprint).toBe(tlsFingerprint);
  });

  test("the action's live loop passes its smoke checks and changes nothing", async () => {
    // App data a user left behind: the live loop must neither add to it nor touch it.
    // Setup, not the claim under test: right after the deploy a write can meet a backend replica the ingress
    // already routes to but whose database connection is still warming up, so it is retried for up to a minute.
    let seeded = { status: 0, json: undefined as unknown };
    for (let i = 0; i < 30 && seeded.status !== 201; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 2000));
      seeded = await request(ingress.ip, ca, 'POST', '/api/items', { name: `live-e2e-${Date.now()}` }).catch(
        (e: Error) => ({ status: 0, json: e.message }),
      );
    }
    expect(seeded.status, `POST /api/items: ${JSON.stringify(seeded.json)}`).toBe(201);
    const data = async () => ({
      items: (await request(ingress.ip, ca, 'GET', '/api/items')).json,
      stats: (await request(ingress.ip, ca, 'GET', '/api/stats')).json,
    });
    const dataBefore = await data();
    expect((dataBefore.stats as { itemsCreated: number }).itemsCreated).toBeGreaterThanOrEqual(1);

    const before = await quietSnapshot();
    const kinds = new Set([...before.keys()].map((k) => k.split(' ')[1]));
    for (const kind of [
      'Deployment',
      'StatefulSet',
      'PodDisruptionBudget',
      'PersistentVolumeClaim',
      'Ingress',
    ])
      expect(kinds, `snapshot has ${kind}`).toContain(kind);
    for (const kind of ['Namespace', 'PersistentVolume']) expect(kinds).toContain(kind);

    const { env, dir } = liveEnv(LIVE_URL, ingress.ip, { NODE_EXTRA_CA_CERTS: ingress.caFile });
    const t0 = Date.now();
    const live = runBundle('dist/index.js', env);
    const code = await live.done;
    figures.liveLoop = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    const out = live.output();
    expect(code, out).toBe(0);

    const after = await snapshot();
    expect(diff(before, after), 'objects the live loop changed').toEqual([]);
    expect(after.size).toBe(before.size);
    expect(await data()).toEqual(dataBefore);

    for (const check of SMOKE_CHECKS) expect(out).toMatch(new RegExp(`✓ ${check} https://${HOST}/`));
    expect(out).not.toContain('api-round-trip');
    const outputs = parseCommandFile(join(dir, 'output'));
    expect(outputs).toMatchObject({ url: LIVE_URL, release: RELEASE });
    const summary = readFileSync(join(dir, 'summary'), 'utf8');
    expect(summary).toContain(`${SMOKE_CHECKS.length} of ${SMOKE_CHECKS.length} passed`);
    for (const check of SMOKE_CHECKS) expect(summary).toMatch(new RegExp(`${check}</td><td>✅ ok`));
  });

  test('a live run against a host the cluster does not serve fails, naming the check and the URL', async () => {
    const wrong = 'https://nope.app.jetscale.ai';
    const { env } = liveEnv(wrong, ingress.ip, { NODE_EXTRA_CA_CERTS: ingress.caFile });
    env.INPUT_TIMEOUT = '5s';
    const live = runBundle('dist/index.js', env);
    const code = await live.done;
    const out = live.output();
    expect(code, out).toBe(1);
    expect(out).toMatch(
      /::error::Contract checks failed: backend-health \(https:\/\/nope\.app\.jetscale\.ai\/api\/healthz\)[^\n]*404/,
    );
  });

  test('a live run that does not trust the certificate fails', async () => {
    const { env } = liveEnv(LIVE_URL, ingress.ip);
    env.INPUT_TIMEOUT = '5s';
    const live = runBundle('dist/index.js', env);
    const code = await live.done;
    const out = live.output();
    expect(code, out).toBe(1);
    expect(out).toMatch(
      /::error::Contract checks failed: backend-health \(https:\/\/app\.jetscale\.ai\/api\/healthz\)/,
    );
    expect(out).toMatch(/certificate/i);
  });

  test('the snapshot sees a write: a live run whose test-command annotates a Deployment is caught', async () => {
    // The check of "changes nothing" must be able to fail: the same live run plus one write through its
    // test-command input must show up as that object's new resourceVersion.
    const before = await quietSnapshot();
    const { env } = liveEnv(LIVE_URL, ingress.ip, { NODE_EXTRA_CA_CERTS: ingress.caFile });
    env['INPUT_TEST-COMMAND'] = [
      findTool('kubectl') as string,
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${NS}`,
      'annotate',
      `deployment/${RELEASE}-backend`,
      `jetscale.ai/live-e2e=${Date.now()}`,
      '--overwrite',
    ].join(' ');
    const live = runBundle('dist/index.js', env);
    const code = await live.done;
    expect(code, live.output()).toBe(0);
    expect(live.output()).toContain(`deployment.apps/${RELEASE}-backend annotated`);
    // the Deployment, and its ReplicaSet (the deployment controller copies the annotation there), nothing else
    const changes = diff(before, await snapshot());
    expect(changes).toContainEqual(
      expect.stringMatching(new RegExp(`^apps/v1 Deployment ${NS}/${RELEASE}-backend: \\d+ → \\d+$`)),
    );
    for (const c of changes)
      expect(c).toMatch(
        new RegExp(`^apps/v1 (Deployment|ReplicaSet) ${NS}/${RELEASE}-backend(-[a-z0-9]+)?: `),
      );
  });

  test("live's NetworkPolicies are enforced on the 1+3-node cluster: every declared path works, every other path is refused", async () => {
    // The same probes as the previews' (netpol.test.ts), from pods spread by the scheduler over the three workers:
    // expected paths from the live release's own declaration (helm get values --all), not a list here.
    const paths = await networkPolicyPaths({
      namespace: NS,
      release: RELEASE,
      foreignNamespace: 'jetscale-netpol-foreign',
      kubeconfig,
      image: `${LIVE_REGISTRY}/node:24`,
      pullPolicy: 'IfNotPresent',
    });
    const show = paths.map((r) => `${r.from} → ${r.to}: expected ${r.expected}, got ${r.got}`).join('\n');
    expect(
      paths.filter((r) => r.expected === 'open').map((r) => `${r.from} → ${r.to}`),
      show,
    ).toEqual(expect.arrayContaining(['frontend → backend', 'backend → postgres', 'backend → redis']));
    expect(
      paths.filter((r) => r.got !== r.expected).map((r) => `${r.from} → ${r.to}: got ${r.got}`),
      show,
    ).toEqual([]);
    // a refusal is a drop, never a wrong address: every target answered some allowed probe
    const reached = new Set(paths.filter((r) => r.got === 'open').map((r) => r.to));
    expect(
      [...new Set(paths.map((r) => r.to))].filter((t) => !reached.has(t)),
      show,
    ).toEqual([]);
  }, 600_000);
});
