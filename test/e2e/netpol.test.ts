/**
 * The chart's NetworkPolicies, enforced for real (the rig runs kube-network-policies, test/rig/README.md), on two
 * previews of the rig's shared cluster: every declared path works and every other path is refused. The expected
 * paths come from the services declaration of the deployed release (`helm get values --all`), not from a list here.
 * Connections are real TCP connects (and DNS queries) from short-lived probe pods; a refusal is a timeout (a drop),
 * and each refused target is shown reachable from an allowed pod by the same probe, so it is not a wrong address.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { previewNames } from '../../src/naming.js';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { runBundle, runnerEnv } from '../support/runner.js';
import { findTool } from '../support/tools.js';
import {
  type Client,
  FULL_CHECKS,
  ingressClient,
  type ProbeOutcome,
  type ProbeTarget,
  probeConnections,
  RIG_IMAGES,
  RIG_INGRESS_PEER_CIDRS,
  RIG_VALUES,
  type RigIngress,
  rigClusterSkipReason,
  rigIngress,
  rigKubeconfig,
  rigKubectl,
  rigSkipReason,
} from './rig.js';

const skip = rigSkipReason() ?? rigClusterSkipReason();
const kubectl = rigKubectl;
const TOKEN = 'ghs_e2eTokenForTheLoopbackServer';
const PRS = [501, 502] as const;
const SHA: Record<number, string> = {
  501: '5010501050105010501050105010501050105010',
  502: '5020502050205020502050205020502050205020',
};
const FOREIGN_NS = 'jetscale-netpol-foreign';
const INGRESS_NS = 'jetscale-ingress';
const PLATFORM: Record<string, number> = { postgres: 5432, redis: 6379 };

interface Declared {
  port?: number;
  needs?: string[];
  routes?: Record<string, { path: string }>;
  enabled?: boolean;
}

const names = (pr: number) =>
  previewNames({
    prNumber: pr,
    sha: SHA[pr] as string,
    repository: 'jetscale/app',
    namespacePrefix: 'jetscale-pr-',
  });

/** The services declaration of the deployed release, as Helm computed it (defaults, stage file, rig values). */
function declaration(pr: number): { services: Record<string, Declared>; platform: string[] } {
  const { namespace, release } = names(pr);
  const r = spawnSync(
    findTool('helm') as string,
    ['--kubeconfig', rigKubeconfig(), 'get', 'values', release, '-n', namespace, '--all', '-o', 'json'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`helm get values ${release}: ${r.stderr}`);
  const values = JSON.parse(r.stdout) as Record<string, { enabled?: boolean } & Record<string, unknown>>;
  const services = Object.fromEntries(
    Object.entries(values.services as Record<string, Declared>).filter(([, s]) => s.enabled !== false),
  );
  return { services, platform: Object.keys(PLATFORM).filter((p) => values[p]?.enabled) };
}

/** Every service that listens, and Postgres and Redis, as probe targets (their Service's cluster IP and port). */
function targetsOf(pr: number, services: Record<string, Declared>, platform: string[]): ProbeTarget[] {
  const { namespace } = names(pr);
  const r = kubectl('get', 'services', '-n', namespace, '-o', 'json');
  expect(r.status, r.stderr).toBe(0);
  const svcs = JSON.parse(r.stdout).items as Array<{
    metadata: { labels?: Record<string, string> };
    spec: { clusterIP: string; ports: Array<{ port: number }> };
  }>;
  const wanted = [...Object.keys(services).filter((n) => services[n]?.port), ...platform];
  return wanted.map((name) => {
    const svc = svcs.find(
      (s) => s.metadata.labels?.['app.kubernetes.io/name'] === name && s.spec.clusterIP !== 'None',
    );
    if (!svc) throw new Error(`no Service of ${name} in ${namespace}`);
    return { name, host: svc.spec.clusterIP, port: svc.spec.ports[0]?.port as number };
  });
}

function dnsTarget(): ProbeTarget {
  const r = kubectl('get', 'service', 'kube-dns', '-n', 'kube-system', '-o', 'jsonpath={.spec.clusterIP}');
  expect(r.status, r.stderr).toBe(0);
  return { name: 'dns', host: r.stdout.trim(), port: 53, resolve: 'kubernetes.default.svc.cluster.local' };
}

/** A probe pod that NetworkPolicies see as `component` of the release of PR `pr`. */
function asComponent(pr: number, component: string) {
  return { 'app.kubernetes.io/name': component, 'app.kubernetes.io/instance': names(pr).release };
}

describe.skipIf(skip)(
  `NetworkPolicy on previews of the rig's shared cluster${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let github: GitHubServer;
    let ingress: RigIngress;
    let client: Client;
    let decl: ReturnType<typeof declaration>;
    let targets: ProbeTarget[];
    let dns: ProbeTarget;
    /** source → target → outcome, from every probe below (for the "not a wrong address" proof). */
    const seen = new Map<string, Record<string, ProbeOutcome>>();

    async function probe(
      source: string,
      namespace: string,
      labels: Record<string, string>,
      to: ProbeTarget[],
    ) {
      const out = await probeConnections({
        namespace,
        name: `netpol-probe-${source.replace(/[^a-z0-9]+/g, '-')}`.slice(0, 63).replace(/-$/, ''),
        labels,
        targets: to,
      });
      seen.set(source, out);
      return out;
    }

    async function deploy(pr: number) {
      const host = `pr-${pr}.app.jetscale.ai`;
      const r = runnerEnv({
        event: pullRequestEventPayload({
          action: 'opened',
          repository: 'jetscale/app',
          number: pr,
          headSha: SHA[pr] as string,
          headRef: `feature-${pr}`,
          baseRef: 'main',
        }),
        extra: {
          GITHUB_REPOSITORY: 'jetscale/app',
          GITHUB_RUN_ID: `${Date.now()}`.slice(-9),
          GITHUB_EVENT_NAME: 'pull_request',
          GITHUB_API_URL: github.url,
          GITHUB_SERVER_URL: 'https://github.com',
          NODE_EXTRA_CA_CERTS: ingress.caFile,
        },
        inputs: {
          loop: 'preview',
          'github-token': TOKEN,
          kubeconfig: rigKubeconfig(),
          images: `backend=${RIG_IMAGES.backend}\nfrontend=${RIG_IMAGES.frontend}`,
          values: 'rig-values.yaml',
          set: `ingress.className=${ingress.className}`,
          resolve: `${host}=${ingress.ip}`,
          timeout: '6m',
        },
      });
      writeFileSync(join(r.dir, 'rig-values.yaml'), RIG_VALUES);
      const run = runBundle('dist/index.js', r.env);
      return { code: await run.done, out: run.output() };
    }

    beforeAll(async () => {
      const engine = kubectl('get', 'daemonset', 'kube-network-policies', '-n', 'kube-system');
      if (engine.status !== 0)
        throw new Error(
          `the rig cluster does not enforce NetworkPolicy (no kube-system/kube-network-policies: it predates the node image that has it); recreate it with bash test/rig/up.sh: ${engine.stderr}`,
        );
      ingress = rigIngress();
      client = ingressClient(ingress);
      github = await startGitHubServer({
        owner: 'jetscale',
        repo: 'app',
        token: TOKEN,
        pulls: { 501: 'open', 502: 'open' },
      });
      for (const ns of [...PRS.map((pr) => names(pr).namespace), FOREIGN_NS])
        kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=true', '--timeout=180s');
      expect(kubectl('create', 'namespace', FOREIGN_NS).status).toBe(0);
    }, 240_000);

    afterAll(async () => {
      client?.close();
      await github?.close();
      for (const ns of [...PRS.map((pr) => names(pr).namespace), FOREIGN_NS])
        kubectl('delete', 'namespace', ns, '--ignore-not-found', '--wait=false');
    }, 60_000);

    test('previews 501 and 502 deploy and pass their contract with every NetworkPolicy enforced', async () => {
      const runs = await Promise.all(PRS.map((pr) => deploy(pr)));
      for (const [i, pr] of PRS.entries()) {
        const r = runs[i] as { code: number | null; out: string };
        expect(r.code, r.out).toBe(0);
        for (const check of FULL_CHECKS)
          expect(r.out).toMatch(new RegExp(`✓ ${check} https://pr-${pr}\\.app\\.jetscale\\.ai`));
        const policies = kubectl('get', 'networkpolicies', '-n', names(pr).namespace, '-o', 'name');
        expect(policies.stdout).toMatch(/default-deny/);
      }
      decl = declaration(501);
      targets = targetsOf(501, decl.services, decl.platform);
      dns = dnsTarget();
      expect(Object.keys(decl.services).length).toBeGreaterThanOrEqual(2);
    }, 900_000);

    test('every declared path works: ingress controller to each routed service, each service to what it needs, DNS', async () => {
      // The ingress controller itself (host network): each routed service answers through it.
      for (const [name, svc] of Object.entries(decl.services)) {
        for (const route of Object.values(svc.routes ?? {})) {
          const r = await client.get(
            'pr-501.app.jetscale.ai',
            route.path === '/' ? '/' : `${route.path}/healthz`,
          );
          expect(r.status, `${name} via ${route.path}: ${r.body.slice(0, 200)}`).toBeLessThan(500);
        }
      }
      // The rig's controller sits on the node's root network (its own node's pods let it through, as kubelet probes);
      // a pod in its namespace is what the namespaceSelector peer admits: it reaches the routed services only.
      const fromIngress = await probe('ingress controller namespace', INGRESS_NS, {}, [...targets, dns]);
      for (const t of targets) {
        const routed = Object.keys(decl.services[t.name]?.routes ?? {}).length > 0;
        expect(fromIngress[t.name], `ingress controller namespace → ${t.name}`).toBe(
          routed ? 'open' : 'timeout',
        );
      }
      // Each service reaches what it declares it needs, and DNS.
      for (const [name, svc] of Object.entries(decl.services)) {
        const out = await probe(name, names(501).namespace, asComponent(501, name), [...targets, dns]);
        expect(out.dns, `${name} → DNS`).toBe('open');
        for (const need of svc.needs ?? []) expect(out[need], `${name} → ${need} (declared)`).toBe('open');
      }
    }, 600_000);

    test('every other path is refused: undeclared needs (the frontend cannot reach Postgres), another namespace, another preview, a pod no policy admits', async () => {
      const ns501 = names(501).namespace;
      // Undeclared paths between the release's own services, from the probes of the previous scenario.
      for (const [name, svc] of Object.entries(decl.services)) {
        const out = seen.get(name) as Record<string, ProbeOutcome>;
        for (const t of targets)
          if (t.name !== name && !(svc.needs ?? []).includes(t.name))
            expect(out[t.name], `${name} → ${t.name} (not declared)`).toBe('timeout');
      }
      if (decl.services.frontend && !decl.services.frontend.needs?.includes('postgres'))
        expect(seen.get('frontend')?.postgres).toBe('timeout');
      // A pod in another namespace (no policy of its own: its DNS works) reaches none of the release.
      const foreign = await probe('another namespace', FOREIGN_NS, {}, [...targets, dns]);
      expect(foreign.dns, 'another namespace → DNS (its own egress is open)').toBe('open');
      for (const t of targets) expect(foreign[t.name], `another namespace → ${t.name}`).toBe('timeout');
      // Preview 502's backend, which may reach its own Postgres and Redis, reaches none of 501's.
      const other = await probe('preview 502 as backend', names(502).namespace, asComponent(502, 'backend'), [
        ...targets,
        ...targetsOf(502, decl.services, decl.platform).map((t) => ({ ...t, name: `own ${t.name}` })),
      ]);
      for (const t of targets) expect(other[t.name], `preview 502 → preview 501 ${t.name}`).toBe('timeout');
      for (const need of decl.services.backend?.needs ?? [])
        expect(other[`own ${need}`], `preview 502 backend → its own ${need}`).toBe('open');
      // A pod of the release that no allow rule selects (only the default deny): nothing in, nothing out, not even DNS.
      const stray = await probe('pod with no policy match', ns501, asComponent(501, 'netpol-stray'), [
        ...targets,
        dns,
      ]);
      for (const t of [...targets, dns]) expect(stray[t.name], `unmatched pod → ${t.name}`).toBe('timeout');
      // Not a wrong address: every target refused above answered the same probe from a pod allowed to reach it.
      for (const t of [...targets, dns]) {
        const openFrom = [...seen.entries()].filter(([, out]) => out[t.name] === 'open').map(([s]) => s);
        expect(openFrom, `${t.name} reached from some allowed pod`).not.toEqual([]);
      }
    }, 600_000);

    test("the ingress controller's host-network peers cover the nodes' addresses on Docker's kind network", () => {
      // Cross-node traffic of the host-network controller comes from these addresses (live: 1+3 nodes).
      const r = spawnSync(
        'docker',
        ['network', 'inspect', 'kind', '-f', '{{range .IPAM.Config}}{{.Subnet}} {{end}}'],
        {
          encoding: 'utf8',
        },
      );
      expect(r.status, r.stderr).toBe(0);
      const subnets = r.stdout.split(' ').filter((s) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(s));
      expect(subnets.length).toBeGreaterThan(0);
      const inside = (net: string, block: string) => {
        const toInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
        const [nIp, nBits] = net.split('/') as [string, string];
        const [bIp, bBits] = block.split('/') as [string, string];
        const size = 2 ** (32 - Number(bBits));
        return (
          Number(nBits) >= Number(bBits) && Math.floor(toInt(nIp) / size) === Math.floor(toInt(bIp) / size)
        );
      };
      for (const s of subnets)
        expect(
          RIG_INGRESS_PEER_CIDRS.some((b) => inside(s, b)),
          `${s} in ${RIG_INGRESS_PEER_CIDRS}`,
        ).toBe(true);
    });
  },
);
