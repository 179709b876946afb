/**
 * What the end-to-end tests need from the rig: a Docker engine, the rig's images and the pinned tools in the
 * rig's tool cache. Missing pieces skip a test with the reason locally, and fail it in CI (CI=true) — the e2e
 * suite never skips in CI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { LookupFunction } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import YAML from 'yaml';
import { previewNames, rfc3339 } from '../../src/naming.js';
import { findTool, repoRoot, toolCacheDir } from '../support/tools.js';

/** The contract checks a full run (ci-kind, preview) must pass, by name (as the action prints them). */
export const FULL_CHECKS = [
  'backend-health',
  'backend-ready',
  'api-create-item',
  'api-round-trip',
  'frontend-page',
  'frontend-api',
];

export const RIG_NODE_IMAGE = process.env.JETSCALE_RIG_NODE_IMAGE ?? 'jetscale-rig/kind-node:v1.34.4';
export const RIG_IMAGES = {
  backend: 'jetscale-rig/backend:rig',
  frontend: 'jetscale-rig/frontend:rig',
  postgres: 'jetscale-rig/postgres:15',
  redis: 'jetscale-rig/redis:7',
  // the chart's wait init container (images/wait), for services with migrations
  wait: 'jetscale-rig/wait:rig',
  // test/services/*, keyed by service name: the proof stacks (test/chart/stacks/four.yaml, go-only.yaml)
  'go-api': 'jetscale-rig/go-api:rig',
  'py-api': 'jetscale-rig/py-api:rig',
  spa: 'jetscale-rig/spa:rig',
  worker: 'jetscale-rig/worker:rig',
};

/**
 * Values that point the chart at the rig's stand-in images, which are loaded into the cluster, never pulled, and let
 * the rig's ingress controller (namespace jetscale-ingress, host network) through the chart's NetworkPolicies.
 */
export const RIG_VALUES = readFileSync(join(repoRoot, 'test', 'rig', 'values.yaml'), 'utf8');

/**
 * Where the rig's ingress controller connects from, as NetworkPolicy ipBlocks (read off RIG_VALUES): it runs on the
 * host network, so a pod on another node sees the node's address on Docker's `kind` network, which lies in Docker's
 * default address pools (charts/app/ci/live-rig-values.yaml has the same for live).
 */
export const RIG_INGRESS_PEER_CIDRS: string[] = (
  YAML.parse(RIG_VALUES) as {
    networkPolicy: { ingressController: { extraPeers: Array<{ ipBlock: { cidr: string } }> } };
  }
).networkPolicy.ingressController.extraPeers.map((peer) => peer.ipBlock.cidr);

export function rigProblem(): string | undefined {
  for (const t of ['kind', 'kubectl', 'helm', 'skaffold']) {
    if (!findTool(t)) return `${t} is not in the rig tool cache ${toolCacheDir()} (npm run rig:tools)`;
  }
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8' });
  if (info.status !== 0) return 'no Docker engine answers (npm run rig:up starts one)';
  for (const image of [RIG_NODE_IMAGE, ...Object.values(RIG_IMAGES)]) {
    if (spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status !== 0)
      return `image ${image} is missing (npm run rig:up builds it)`;
  }
  return undefined;
}

/** Returns the reason to skip, or throws in CI. */
export function rigSkipReason(): string | undefined {
  const problem = rigProblem();
  if (problem && process.env.CI === 'true') throw new Error(`e2e: the rig is not ready: ${problem}`);
  return problem;
}

export function kindClusters(): string[] {
  const kind = findTool('kind') as string;
  const r = spawnSync(kind, ['get', 'clusters'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

/** The rig cache directory (test/rig/lib.sh RIG_CACHE). */
export function rigCacheDir(): string {
  return process.env.JETSCALE_RIG_CACHE ?? join(homedir(), '.cache', 'jetscale-stack', 'rig');
}

/**
 * The shared rig cluster the e2e tests use: jetscale-rig, or JETSCALE_RIG_NAME (as test/rig/up.sh takes it), e.g. a
 * scratch cluster made with `bash test/rig/up.sh --name NAME`.
 */
export const RIG_CLUSTER = process.env.JETSCALE_RIG_NAME || 'jetscale-rig';

/** Kubeconfig that test/rig/up.sh writes for a rig cluster (lib.sh rig_kubeconfig). */
export function rigKubeconfig(cluster = RIG_CLUSTER): string {
  return join(rigCacheDir(), cluster === 'jetscale-rig' ? 'kubeconfig' : `kubeconfig-${cluster}`);
}

export interface RigIngress {
  /** The control-plane node's address on Docker's `kind` network: ports 80 and 443 reach the controller. */
  ip: string;
  /** The rig CA that signed the controller's default certificate (*.app.jetscale.ai, app.jetscale.ai). */
  caFile: string;
  /** IngressClass of the rig's controller (test/rig/ingress). */
  className: 'jetscale-rig';
}

/** Where the rig's ingress controller (installed by test/rig/up.sh) answers for a rig cluster. */
export function rigIngress(cluster = RIG_CLUSTER): RigIngress {
  const r = spawnSync(
    'docker',
    [
      'inspect',
      '-f',
      '{{with index .NetworkSettings.Networks "kind"}}{{.IPAddress}}{{end}}',
      `${cluster}-control-plane`,
    ],
    { encoding: 'utf8' },
  );
  const ip = r.stdout.trim();
  if (r.status !== 0 || !/^\d+\.\d+\.\d+\.\d+$/.test(ip))
    throw new Error(
      `rig ingress: no address of ${cluster}-control-plane on Docker's kind network (npm run rig:up)`,
    );
  return { ip, caFile: join(rigCacheDir(), 'ingress', 'ca.crt'), className: 'jetscale-rig' };
}

/** kubectl against the shared rig cluster (RIG_CLUSTER; output captured, never throws). */
export function rigKubectl(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return clusterKubectl('jetscale-rig', ...args);
}

/** kubectl against a rig cluster by name (output captured, never throws). */
export function clusterKubectl(
  cluster: string,
  ...args: string[]
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(findTool('kubectl') as string, ['--kubeconfig', rigKubeconfig(cluster), ...args], {
    encoding: 'utf8',
    timeout: 180_000,
    maxBuffer: 64 * 2 ** 20,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/**
 * For tests on the shared cluster jetscale-rig: the reason to skip when it or its ingress controller is not up
 * (call after rigSkipReason, which covers the tools and images); throws in CI.
 */
export function rigClusterSkipReason(): string | undefined {
  let problem: string | undefined;
  const r = rigKubectl('get', 'ingressclass', 'jetscale-rig');
  if (r.status !== 0)
    problem = `the rig cluster jetscale-rig with its ingress controller is not up (npm run rig:up): ${r.stderr.trim()}`;
  else if (!existsSync(join(rigCacheDir(), 'ingress', 'ca.crt')))
    problem = `the rig ingress CA ${join(rigCacheDir(), 'ingress', 'ca.crt')} is missing (npm run rig:up installs the ingress)`;
  if (problem && process.env.CI === 'true') throw new Error(`e2e: ${problem}`);
  return problem;
}

/**
 * Every object of every listable namespaced kind in `ns` (events left out: reading a namespace makes none,
 * but the cluster's controllers may), plus the namespace itself, as "Kind/name" → resourceVersion. Two equal
 * snapshots mean nothing in the namespace was created, changed or deleted in between. Throws when kubectl does.
 */
export function namespaceSnapshot(ns: string): Map<string, string> {
  const kinds = rigKubectl('api-resources', '--verbs=list', '--namespaced', '-o', 'name')
    .stdout.split('\n')
    .filter((k) => k && k !== 'events' && k !== 'events.events.k8s.io');
  const objects = rigKubectl('get', kinds.join(','), '-n', ns, '-o', 'json');
  const namespace = rigKubectl('get', 'namespace', ns, '-o', 'json');
  if (objects.status !== 0 || namespace.status !== 0)
    throw new Error(`snapshot of namespace ${ns}: ${objects.stderr}${namespace.stderr}`);
  type Item = { kind: string; metadata: { name: string; resourceVersion: string } };
  const items = [...(JSON.parse(objects.stdout).items as Item[]), JSON.parse(namespace.stdout) as Item];
  return new Map(items.map((i) => [`${i.kind}/${i.metadata.name}`, i.metadata.resourceVersion]));
}

/**
 * Creates namespace `ns` on the shared rig cluster as someone else would (with `labels`, and a ConfigMap and a
 * Secret of theirs in it), and waits until the cluster's controllers have added what they add to every
 * namespace (the default ServiceAccount, kube-root-ca.crt), so that a later snapshot sees only others' changes.
 */
export async function createForeignNamespace(ns: string, labels: Record<string, string>): Promise<void> {
  const manifest = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'theirs', namespace: ns },
        data: { owner: 'someone-else' },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'theirs', namespace: ns },
        stringData: { note: 'not the action’s' },
      },
    ],
  });
  const r = spawnSync(findTool('kubectl') as string, ['--kubeconfig', rigKubeconfig(), 'create', '-f', '-'], {
    input: manifest,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`creating namespace ${ns}: ${r.stderr}`);
  for (let i = 0; i < 60; i++) {
    const sa = rigKubectl('get', 'serviceaccount', 'default', '-n', ns);
    const ca = rigKubectl('get', 'configmap', 'kube-root-ca.crt', '-n', ns);
    if (sa.status === 0 && ca.status === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`namespace ${ns}: no default ServiceAccount or kube-root-ca.crt after 60 s`);
}

/** Where a Helm release named `release` exists on the shared rig cluster, in any namespace (its release Secrets). */
export function helmReleaseNamespaces(release: string): string[] {
  const r = rigKubectl('get', 'secrets', '-A', '-l', `owner=helm,name=${release}`, '-o', 'json');
  if (r.status !== 0) throw new Error(`listing Helm release secrets: ${r.stderr}`);
  const items = JSON.parse(r.stdout).items as Array<{ metadata: { namespace: string } }>;
  return [...new Set(items.map((i) => i.metadata.namespace))];
}

/** Namespaces of the shared rig cluster that carry the label jetscale.ai/pr=<pr>. */
export function namespacesLabelledFor(pr: number): string[] {
  const r = rigKubectl('get', 'namespaces', '-l', `jetscale.ai/pr=${pr}`, '-o', 'name');
  if (r.status !== 0) throw new Error(`listing namespaces: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** Ingresses of the shared rig cluster, in any namespace, with a rule for `host` ("namespace/name"). */
export function ingressesFor(host: string): string[] {
  const r = rigKubectl('get', 'ingresses', '-A', '-o', 'json');
  if (r.status !== 0) throw new Error(`listing ingresses: ${r.stderr}`);
  const items = JSON.parse(r.stdout).items as Array<{
    metadata: { namespace: string; name: string };
    spec: { rules?: Array<{ host?: string }> };
  }>;
  return items
    .filter((i) => (i.spec.rules ?? []).some((rule) => rule.host === host))
    .map((i) => `${i.metadata.namespace}/${i.metadata.name}`);
}

/** The files under a diagnostics directory, recursively, with their text: what a reader of the artifact sees. */
export function diagnosticsFiles(dir: string): Array<{ path: string; text: string }> {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const path = join(e.parentPath, e.name);
      return { path: relative(dir, path), text: readFileSync(path, 'utf8') };
    });
}

/** Requests through the rig's ingress (ingressClient). */
export interface Client {
  get(
    host: string,
    path: string,
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }>;
  /** A POST of `json`. */
  post(
    host: string,
    path: string,
    json: unknown,
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }>;
  close(): void;
}

/** HTTPS through the rig's ingress: the host's name in Host and SNI, the connection to the node's address. */
export function ingressClient(ingress: RigIngress): Client {
  const lookup: LookupFunction = (_host, options, callback) => {
    if (options.all)
      (callback as never as (e: null, a: unknown[]) => void)(null, [{ address: ingress.ip, family: 4 }]);
    else callback(null, ingress.ip, 4);
  };
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: readFileSync(ingress.caFile), lookup });
  const send = (
    method: 'GET' | 'POST',
    host: string,
    path: string,
    json?: unknown,
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const data = json === undefined ? undefined : JSON.stringify(json);
      const headers = data
        ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) }
        : undefined;
      const req = request(
        { host, path, method, headers, agent, servername: host, timeout: 10_000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout: ${method} https://${host}${path}`)));
      req.on('error', reject);
      req.end(data);
    });
  return {
    get: (host, path) => send('GET', host, path),
    post: (host, path, json) => send('POST', host, path, json),
    close: () => agent.destroy(),
  };
}

/** What a load run counted: every request sent ends in `ok` (HTTP 200) or `failed` (its reason). */
export interface LoadResults {
  sent: number;
  ok: number;
  failed: string[];
  /** The SHAs /api/version answered with. */
  shas: Set<string>;
}

export function loadSummary(r: LoadResults): string {
  return `sent ${r.sent}, succeeded ${r.ok}, failed ${r.failed.length}`;
}

/**
 * A steady load of idempotent GETs (the page and /api/version, in turn) through the rig's ingress until stopped;
 * every request is counted. `workers` requests at most in flight; `ratePerSecond` bounds how many start each
 * second (unset: each worker sends its next request as soon as the last one ends).
 */
export function load(
  client: Client,
  host: string,
  opts: { workers?: number; ratePerSecond?: number } = {},
): { results: LoadResults; stop: () => Promise<LoadResults> } {
  const results: LoadResults = { sent: 0, ok: 0, failed: [], shas: new Set<string>() };
  const interval = opts.ratePerSecond ? 1000 / opts.ratePerSecond : 0;
  const start = Date.now();
  let slot = 0;
  let running = true;
  const loops = Array.from({ length: opts.workers ?? 4 }, async (_, w) => {
    let i = 0;
    while (running) {
      if (interval) {
        const wait = start + slot++ * interval - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (!running) break;
      }
      const path = (i++ + w) % 2 === 0 ? '/api/version' : '/';
      results.sent++;
      try {
        const r = await client.get(host, path);
        if (r.status === 200) {
          results.ok++;
          if (path === '/api/version') results.shas.add((JSON.parse(r.body) as { sha: string }).sha);
        } else
          results.failed.push(
            `${path}: HTTP ${r.status} ${r.body.slice(0, 200)} ${JSON.stringify(r.headers)}`,
          );
      } catch (e) {
        results.failed.push(`${path}: ${(e as Error).message}`);
      }
    }
  });
  return {
    results,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

/**
 * How many times the rig's ingress controller retried a request on another endpoint since `since` (its log lines
 * "… (retrying)", test/rig/ingress/main.go): failures the client never saw.
 */
export async function ingressRetries(kubeconfig: string, since: Date): Promise<number> {
  const r = await runProcess(findTool('kubectl') as string, [
    '--kubeconfig',
    kubeconfig,
    'logs',
    '-n',
    'jetscale-ingress',
    '-l',
    'app.kubernetes.io/name=rig-ingress',
    '--prefix',
    '--tail=-1',
    `--since-time=${since.toISOString()}`,
  ]);
  if (r.code !== 0) throw new Error(`reading the ingress controller's logs: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.endsWith('(retrying)')).length;
}

/**
 * A preview's namespace as the preview loop labels it, last deployed `idleHours` ago, with a ConfigMap of its
 * release: what the sweep and the preview cap see, without a deploy. Returns the namespace.
 */
export function makeFakePreview(p: {
  prefix: string;
  pr: number;
  sha: string;
  repository: string;
  idleHours: number;
}): string {
  const names = previewNames({
    prNumber: p.pr,
    sha: p.sha,
    repository: p.repository,
    namespacePrefix: p.prefix,
  });
  if (names.namespace !== `${p.prefix}${p.pr}`)
    throw new Error(
      `the preview loop names PR ${p.pr}'s namespace ${names.namespace}, not ${p.prefix}${p.pr}`,
    );
  const manifest = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: names.namespace,
          labels: names.labels,
          annotations: {
            ...names.annotations,
            'jetscale.ai/last-deploy': rfc3339(new Date(Date.now() - p.idleHours * 3_600_000)),
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `${names.release}-settings`, namespace: names.namespace },
        data: { pr: String(p.pr) },
      },
    ],
  });
  const r = spawnSync(findTool('kubectl') as string, ['--kubeconfig', rigKubeconfig(), 'create', '-f', '-'], {
    input: manifest,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`creating ${names.namespace}: ${r.stderr}`);
  return names.namespace;
}

export function namespaceExists(name: string): boolean {
  return rigKubectl('get', 'namespace', name).status === 0;
}

/**
 * The 1+3-node cluster of the live-stage scenarios (live.test.ts, live-faults.test.ts, ten-previews.test.ts):
 * one cluster for all of them, since making one takes 1.5–2 minutes on these machines. The first file to need it
 * creates it (`up.sh --nodes 4`, which reuses a running one); it stays up for the next, and the e2e global teardown
 * removes it (global-setup.ts). LIVE_CLUSTER_FILES run last and in this order (vitest.e2e.config.ts), so the
 * cluster never takes CPU from the other scenarios.
 */
export const LIVE_CLUSTER = 'jetscale-live';
export const LIVE_CLUSTER_FILES = ['live.test.ts', 'live-faults.test.ts', 'ten-previews.test.ts'];

/** Where up.sh --nodes 4 pushes the rig's images (its local registry): how they reach the 1+3-node cluster's nodes. */
export const LIVE_REGISTRY = 'localhost:5001/jetscale-rig';

/**
 * RIG_VALUES for the 1+3-node cluster: the same stand-in images, pulled from the rig's local registry. The rig's
 * ingress controller runs on every node's host network, so its traffic comes from the nodes' addresses on
 * Docker's network: the NetworkPolicy peer is an ipBlock of Docker's default address pools next to its namespace
 * (as in charts/app/ci/live-rig-values.yaml), for a rig whose network plugin enforces policies.
 */
export const LIVE_RIG_VALUES = `global:
  waitImage: { repository: ${LIVE_REGISTRY}/wait, tag: rig }
postgres:
  image: { repository: ${LIVE_REGISTRY}/postgres, tag: "15" }
redis:
  image: { repository: ${LIVE_REGISTRY}/redis, tag: "7" }
networkPolicy:
  ingressController:
    namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: jetscale-ingress } }
    extraPeers: [${RIG_INGRESS_PEER_CIDRS.map((cidr) => `{ ipBlock: { cidr: ${cidr} } }`).join(', ')}]
`;

export async function liveClusterUp(): Promise<{ created: boolean; seconds: number; output: string }> {
  const created = !kindClusters().includes(LIVE_CLUSTER);
  const t0 = Date.now();
  const args = ['test/rig/up.sh', '--nodes', '4', '--name', LIVE_CLUSTER];
  // up.sh logs its steps on stderr (its "cluster ready in …" line among them): both streams are its output.
  const r = await runProcess('bash', args);
  const output = r.stdout + r.stderr;
  if (r.code !== 0) throw new Error(`bash ${args.join(' ')} exited ${r.code}:\n${output.slice(-6000)}`);
  return { created, seconds: (Date.now() - t0) / 1000, output };
}

/** One connection a probe tries: TCP to host:port, or, with `resolve`, a DNS query (UDP) for that name to host:port. */
export interface ProbeTarget {
  name: string;
  host: string;
  port: number;
  resolve?: string;
}

/** How a probe ended: connected (or answered), timed out (dropped), or the error code (ECONNREFUSED, ENOTFOUND…). */
export type ProbeOutcome = 'open' | 'timeout' | string;

// Runs in the probe pod: every target at once, each given one retry after a timeout (a new pod's first packets can
// leave before the policy engine knows its address), then one line "PROBE {name: outcome}".
const PROBE_SCRIPT = `
const net = require('node:net'), dns = require('node:dns');
const targets = JSON.parse(process.env.PROBE_TARGETS), ms = Number(process.env.PROBE_TIMEOUT_MS);
const tcp = (t) => new Promise((done) => {
  const s = net.connect({ host: t.host, port: t.port });
  const timer = setTimeout(() => { s.destroy(); done('timeout'); }, ms);
  s.on('connect', () => { clearTimeout(timer); s.destroy(); done('open'); });
  s.on('error', (e) => { clearTimeout(timer); done(e.code || String(e)); });
});
const query = (t) => {
  const r = new dns.promises.Resolver({ timeout: ms, tries: 1 });
  r.setServers([t.host + ':' + t.port]);
  return r.resolve4(t.resolve).then(() => 'open', (e) => (e.code === 'ETIMEOUT' ? 'timeout' : e.code));
};
const once = (t) => (t.resolve ? query(t) : tcp(t));
setTimeout(async () => {
  const out = await Promise.all(targets.map(async (t) => {
    const first = await once(t);
    return [t.name, first === 'timeout' ? await once(t) : first];
  }));
  console.log('PROBE ' + JSON.stringify(Object.fromEntries(out)));
}, 2000);
`;

/**
 * Real connections from a short-lived pod of the rig's Node image in `namespace`, with `labels` (a pod labelled as a
 * service's pods is what that service's NetworkPolicies select; its readiness probe never passes, so no Service
 * sends it traffic). Returns each target's outcome by name. A drop by a NetworkPolicy is a 'timeout'.
 */
export async function probeConnections(p: {
  namespace: string;
  name: string;
  targets: ProbeTarget[];
  labels?: Record<string, string>;
  timeoutMs?: number;
  kubeconfig?: string;
  /** the rig's Node image as the cluster has it: loaded (default) or from the local registry (live) */
  image?: string;
  pullPolicy?: 'Never' | 'IfNotPresent';
}): Promise<Record<string, ProbeOutcome>> {
  const kubeconfig = p.kubeconfig ?? rigKubeconfig();
  const kc = (args: string[], input?: string) =>
    spawnSync(findTool('kubectl') as string, ['--kubeconfig', kubeconfig, '-n', p.namespace, ...args], {
      input,
      encoding: 'utf8',
      timeout: 60_000,
    });
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace, labels: { 'jetscale.ai/probe': 'true', ...p.labels } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      activeDeadlineSeconds: 180,
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 10001 },
      containers: [
        {
          name: 'probe',
          image: p.image ?? 'jetscale-rig/node:24',
          imagePullPolicy: p.pullPolicy ?? 'Never',
          command: ['node', '-e', PROBE_SCRIPT],
          env: [
            { name: 'PROBE_TARGETS', value: JSON.stringify(p.targets) },
            { name: 'PROBE_TIMEOUT_MS', value: String(p.timeoutMs ?? 3000) },
          ],
          readinessProbe: { exec: { command: ['false'] }, periodSeconds: 60 },
          resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
        },
      ],
    },
  };
  kc(['delete', 'pod', p.name, '--ignore-not-found', '--wait=true']);
  const created = kc(['create', '-f', '-'], JSON.stringify(pod));
  if (created.status !== 0) throw new Error(`probe pod ${p.namespace}/${p.name}: ${created.stderr}`);
  try {
    for (let i = 0; i < 180; i++) {
      const phase = kc(['get', 'pod', p.name, '-o', 'jsonpath={.status.phase}']).stdout;
      if (phase === 'Succeeded' || phase === 'Failed') break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const logs = kc(['logs', p.name]);
    const line = logs.stdout.split('\n').find((l) => l.startsWith('PROBE '));
    if (!line)
      throw new Error(
        `probe pod ${p.namespace}/${p.name} gave no result: ${logs.stdout}${logs.stderr}` +
          kc(['get', 'pod', p.name, '-o', 'yaml']).stdout.slice(-1500),
      );
    return JSON.parse(line.slice('PROBE '.length)) as Record<string, ProbeOutcome>;
  } finally {
    kc(['delete', 'pod', p.name, '--ignore-not-found', '--wait=false']);
  }
}

/** One path between pods of a release (or from outside it) and what its NetworkPolicies should make of it. */
export interface PolicyPath {
  from: string;
  to: string;
  expected: 'open' | 'timeout';
  got: ProbeOutcome;
}

interface DeclaredService {
  port?: number;
  needs?: string[];
  routes?: Record<string, { path: string }>;
  enabled?: boolean;
}

/** A release's services declaration as Helm computed it (defaults, stage files, --set), and its platform services. */
export function releaseDeclaration(
  namespace: string,
  release: string,
  kubeconfig = rigKubeconfig(),
): { services: Record<string, DeclaredService>; platform: string[] } {
  const r = spawnSync(
    findTool('helm') as string,
    ['--kubeconfig', kubeconfig, 'get', 'values', release, '-n', namespace, '--all', '-o', 'json'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`helm get values ${release} -n ${namespace}: ${r.stderr}`);
  const values = JSON.parse(r.stdout) as Record<string, { enabled?: boolean }> & {
    services: Record<string, DeclaredService>;
  };
  return {
    services: Object.fromEntries(Object.entries(values.services).filter(([, s]) => s.enabled !== false)),
    platform: ['postgres', 'redis'].filter((p) => values[p]?.enabled),
  };
}

/** Every listening service of the release, and its in-cluster Postgres and Redis, by their Service's cluster IP. */
export function releaseTargets(
  namespace: string,
  decl: ReturnType<typeof releaseDeclaration>,
  kubeconfig = rigKubeconfig(),
): ProbeTarget[] {
  const r = spawnSync(
    findTool('kubectl') as string,
    ['--kubeconfig', kubeconfig, 'get', 'services', '-n', namespace, '-o', 'json'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`listing Services of ${namespace}: ${r.stderr}`);
  const svcs = JSON.parse(r.stdout).items as Array<{
    metadata: { labels?: Record<string, string> };
    spec: { clusterIP: string; ports: Array<{ port: number }> };
  }>;
  const wanted = [...Object.keys(decl.services).filter((n) => decl.services[n]?.port), ...decl.platform];
  return wanted.map((name) => {
    const svc = svcs.find(
      (s) => s.metadata.labels?.['app.kubernetes.io/name'] === name && s.spec.clusterIP !== 'None',
    );
    if (!svc) throw new Error(`no Service of ${name} in ${namespace}`);
    return { name, host: svc.spec.clusterIP, port: svc.spec.ports[0]?.port as number };
  });
}

/**
 * Probes every path the chart's NetworkPolicies decide for a deployed release, with the expectation derived from its
 * services declaration: each service (a probe pod labelled as its pods) reaches what it `needs` and DNS, and nothing
 * else of the release; a pod in `ingressNamespace` (the chart's ingressController.namespaceSelector) reaches the
 * services with routes only; a pod in `foreignNamespace` (created if absent, then removed if created here) reaches
 * none; a pod of the release no allow rule selects reaches nothing, not even DNS. Returns every path with the
 * outcome; the caller asserts `got === expected` (and that each target was 'open' from somewhere: a real address).
 */
export async function networkPolicyPaths(p: {
  namespace: string;
  release: string;
  foreignNamespace: string;
  ingressNamespace?: string;
  kubeconfig?: string;
  image?: string;
  pullPolicy?: 'Never' | 'IfNotPresent';
}): Promise<PolicyPath[]> {
  const kubeconfig = p.kubeconfig ?? rigKubeconfig();
  const kc = (...args: string[]) =>
    spawnSync(findTool('kubectl') as string, ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
  const decl = releaseDeclaration(p.namespace, p.release, kubeconfig);
  const dnsIp = kc(
    'get',
    'service',
    'kube-dns',
    '-n',
    'kube-system',
    '-o',
    'jsonpath={.spec.clusterIP}',
  ).stdout.trim();
  const dns: ProbeTarget = {
    name: 'dns',
    host: dnsIp,
    port: 53,
    resolve: 'kubernetes.default.svc.cluster.local',
  };
  const targets = [...releaseTargets(p.namespace, decl, kubeconfig), dns];
  const rows: PolicyPath[] = [];
  const probe = async (
    from: string,
    namespace: string,
    labels: Record<string, string>,
    expect: (to: string) => boolean,
  ) => {
    const out = await probeConnections({
      namespace,
      name: `netpol-probe-${from.replace(/[^a-z0-9]+/g, '-')}`.slice(0, 63).replace(/-$/, ''),
      labels,
      targets,
      kubeconfig,
      image: p.image,
      pullPolicy: p.pullPolicy,
    });
    console.log(`netpol: from ${from} (${namespace}): ${JSON.stringify(out)}`);
    for (const t of targets)
      rows.push({
        from,
        to: t.name,
        expected: expect(t.name) ? 'open' : 'timeout',
        got: out[t.name] ?? 'missing',
      });
  };
  const as = (component: string) => ({
    'app.kubernetes.io/name': component,
    'app.kubernetes.io/instance': p.release,
  });
  for (const [name, svc] of Object.entries(decl.services))
    await probe(name, p.namespace, as(name), (to) => to === 'dns' || (svc.needs ?? []).includes(to));
  const routed = (to: string) => Object.keys(decl.services[to]?.routes ?? {}).length > 0;
  // outside the release, a namespace's own egress is open (no policy there): DNS answers it
  await probe(
    'ingress controller namespace',
    p.ingressNamespace ?? 'jetscale-ingress',
    {},
    (to) => to === 'dns' || routed(to),
  );
  const made = kc('get', 'namespace', p.foreignNamespace).status !== 0;
  if (made && kc('create', 'namespace', p.foreignNamespace).status !== 0)
    throw new Error(`creating namespace ${p.foreignNamespace}`);
  try {
    await probe('another namespace', p.foreignNamespace, {}, (to) => to === 'dns');
  } finally {
    if (made) kc('delete', 'namespace', p.foreignNamespace, '--wait=false');
  }
  await probe('pod with no policy match', p.namespace, as('netpol-stray'), () => false);
  return rows;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end, output captured (never throws on a non-zero exit). */
export function runProcess(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** runProcess, throwing with the output's tail on a non-zero exit; returns stdout. */
export async function mustRun(
  cmd: string,
  args: string[],
  opts: Parameters<typeof runProcess>[2] = {},
): Promise<string> {
  const r = await runProcess(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`,
    );
  return r.stdout;
}

/** Live on the live-stage cluster: its namespace, release, host and the values the CLI deploys it with. */
export const LIVE = {
  namespace: 'jetscale',
  release: 'jetscale',
  host: 'app.jetscale.ai',
  url: 'https://app.jetscale.ai',
  context: `kind-${LIVE_CLUSTER}`,
  /** The SHA the live-stage files deploy (a redeploy of the same SHA and images changes no pod). */
  sha: '7d1e5c0b9a8f7e6d5c4b3a29180f7e6d5c4b3a21',
  /** The rig's local registry, where up.sh --nodes 4 pushes the rig images. */
  registry: LIVE_REGISTRY,
  images: {
    backend: `${LIVE_REGISTRY}/backend:rig`,
    frontend: `${LIVE_REGISTRY}/frontend:rig`,
  },
  values: [
    'charts/app/ci/live-values.yaml',
    'charts/app/ci/live-incluster-values.yaml',
    'charts/app/ci/live-rig-values.yaml',
  ],
} as const;

/** kubectl against the live-stage cluster; throws on a non-zero exit, returns stdout. */
export function liveKubectl(args: string[], input?: string): Promise<string> {
  return mustRun(findTool('kubectl') as string, ['--kubeconfig', rigKubeconfig(LIVE_CLUSTER), ...args], {
    input,
  });
}

/**
 * What the platform provides before anyone deploys live: the namespace, the database and Redis Secrets (kept
 * across runs: a reused cluster's kept volumes hold data under these passwords) and the TLS Secret, a
 * certificate for the live host signed by the rig CA (its key sits next to ca.crt), as cert-manager would write
 * it; the CLI's deploy names it through ci/live-values.yaml (ingress.tls.secretName). Returns that
 * certificate's SHA-256 fingerprint.
 */
export async function livePlatform(ingress: RigIngress): Promise<{ tlsFingerprint: string }> {
  const { namespace: NS, release: RELEASE, host: HOST } = LIVE;
  await liveKubectl(
    ['apply', '-f', '-'],
    `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"${NS}"}}`,
  );
  const secrets = (
    JSON.parse(await liveKubectl(['get', 'secrets', '-n', NS, '-o', 'json'])) as {
      items: Array<{ metadata: { name: string } }>;
    }
  ).items.map((s) => s.metadata.name);
  const password = () => randomBytes(18).toString('base64url');
  const secret = async (name: string, literals: Record<string, string>) => {
    if (secrets.includes(name)) return;
    const from = Object.entries(literals).map(([k, v]) => `--from-literal=${k}=${v}`);
    await liveKubectl(['create', 'secret', 'generic', name, '-n', NS, ...from]);
  };
  const pg = password();
  await secret('jetscale-postgres', {
    PGHOST: `${RELEASE}-postgres`,
    PGPORT: '5432',
    PGUSER: 'jetscale',
    PGPASSWORD: pg,
    PGDATABASE: 'jetscale',
    DATABASE_URL: `postgres://jetscale:${pg}@${RELEASE}-postgres:5432/jetscale`,
  });
  const rd = password();
  await secret('jetscale-redis', {
    REDIS_URL: `redis://:${rd}@${RELEASE}-redis:6379/0`,
    REDIS_PASSWORD: rd,
  });
  const dir = mkdtempSync(join(tmpdir(), 'live-tls-'));
  const caDir = dirname(ingress.caFile);
  await mustRun('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${HOST}`,
    '-keyout',
    join(dir, 'tls.key'),
    '-out',
    join(dir, 'tls.csr'),
  ]);
  writeFileSync(join(dir, 'tls.ext'), `subjectAltName=DNS:${HOST}\nextendedKeyUsage=serverAuth\n`);
  await mustRun('openssl', [
    'x509',
    '-req',
    '-in',
    join(dir, 'tls.csr'),
    '-CA',
    ingress.caFile,
    '-CAkey',
    join(caDir, 'ca.key'),
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '7',
    '-extfile',
    join(dir, 'tls.ext'),
    '-out',
    join(dir, 'tls.crt'),
  ]);
  const tlsFingerprint = new X509Certificate(readFileSync(join(dir, 'tls.crt'))).fingerprint256;
  const tlsSecret = await liveKubectl([
    'create',
    'secret',
    'tls',
    'jetscale-tls',
    '-n',
    NS,
    '--cert',
    join(dir, 'tls.crt'),
    '--key',
    join(dir, 'tls.key'),
    '--dry-run=client',
    '-o',
    'yaml',
  ]);
  await liveKubectl(['apply', '-f', '-'], tlsSecret);
  return { tlsFingerprint };
}

/**
 * The live deploy as a developer runs it: the CLI (dist/cli/index.js: `npm run build` first), with the rig's tools
 * on PATH and the live cluster's kubeconfig: `stack deploy live --context … --url … --confirm --sha SHA`, each of
 * `images` as --image, the rig's live values files, then `args`.
 */
export async function cliDeployLive(opts: {
  sha: string;
  images: Record<string, string>;
  args?: string[];
}): Promise<ProcessResult & { seconds: number }> {
  const toolDirs = ['kubectl', 'helm', 'skaffold'].map((t) => dirname(findTool(t) as string));
  const env = {
    ...process.env,
    PATH: [...toolDirs, process.env.PATH ?? ''].join(delimiter),
    KUBECONFIG: rigKubeconfig(LIVE_CLUSTER),
    RUNNER_TEMP: mkdtempSync(join(tmpdir(), 'live-cli-')),
  };
  const t0 = Date.now();
  const r = await runProcess(
    process.execPath,
    [
      'dist/cli/index.js',
      'deploy',
      'live',
      '--context',
      LIVE.context,
      '--url',
      LIVE.url,
      '--confirm',
      '--sha',
      opts.sha,
      ...Object.entries(opts.images).flatMap(([service, ref]) => ['--image', `${service}=${ref}`]),
      ...LIVE.values.flatMap((v) => ['--values', v]),
      ...(opts.args ?? []),
    ],
    { env },
  );
  return { ...r, seconds: (Date.now() - t0) / 1000 };
}
