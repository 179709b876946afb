/**
 * The chart's NetworkPolicies, enforced for real (the rig runs kube-network-policies, test/rig/README.md), on two
 * previews of the rig's shared cluster: every declared path works and every other path is refused. The expected
 * paths come from the services declaration of the deployed release (`helm get values --all`; the paths the issue
 * names are checked to be among them), not from a list here.
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
import {
  type Client,
  FULL_CHECKS,
  ingressClient,
  networkPolicyPaths,
  type PolicyPath,
  probeConnections,
  RIG_IMAGES,
  RIG_INGRESS_PEER_CIDRS,
  RIG_VALUES,
  type RigIngress,
  releaseDeclaration,
  releaseTargets,
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

const names = (pr: number) =>
  previewNames({
    prNumber: pr,
    sha: SHA[pr] as string,
    repository: 'jetscale/app',
    namespacePrefix: 'jetscale-pr-',
  });

describe.skipIf(skip)(
  `NetworkPolicy on previews of the rig's shared cluster${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let github: GitHubServer;
    let ingress: RigIngress;
    let client: Client;
    let paths: PolicyPath[];
    const show = (rows: PolicyPath[]) => rows.map((r) => `${r.from} → ${r.to}: ${r.got}`).join('\n');

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
    }, 900_000);

    test('every declared path works: ingress controller to each routed service, each service to what it needs, DNS', async () => {
      const { namespace, release } = names(501);
      // The controller itself (host network, root: its own node's pods let it in, as they do kubelet probes): every
      // route answers through it.
      for (const [name, svc] of Object.entries(releaseDeclaration(namespace, release).services)) {
        for (const route of Object.values(svc.routes ?? {})) {
          const r = await client.get(
            'pr-501.app.jetscale.ai',
            route.path === '/' ? '/' : `${route.path}/healthz`,
          );
          expect(r.status, `${name} via ${route.path}: ${r.body.slice(0, 200)}`).toBeLessThan(500);
        }
      }
      paths = await networkPolicyPaths({ namespace, release, foreignNamespace: FOREIGN_NS });
      const declared = paths.filter((r) => r.expected === 'open');
      expect(declared.map((r) => `${r.from} → ${r.to}`)).toEqual(
        expect.arrayContaining([
          'frontend → backend',
          'backend → postgres',
          'backend → redis',
          'backend → dns',
        ]),
      );
      expect(
        declared.filter((r) => r.got !== 'open'),
        show(declared),
      ).toEqual([]);
    }, 600_000);

    test('every other path is refused: the frontend cannot reach Postgres, another namespace, another preview, a pod no policy admits', async () => {
      const refused = paths.filter((r) => r.expected === 'timeout');
      expect(refused.map((r) => `${r.from} → ${r.to}`)).toEqual(
        expect.arrayContaining([
          'frontend → postgres',
          'another namespace → backend',
          'another namespace → postgres',
          'another namespace → redis',
          'pod with no policy match → dns',
        ]),
      );
      expect(
        refused.filter((r) => r.got !== 'timeout'),
        show(refused),
      ).toEqual([]);
      // Preview 502's backend, which reaches its own Postgres and Redis, reaches none of 501's.
      const targets501 = releaseTargets(
        names(501).namespace,
        releaseDeclaration(names(501).namespace, names(501).release),
      );
      const own = releaseTargets(
        names(502).namespace,
        releaseDeclaration(names(502).namespace, names(502).release),
      );
      const other = await probeConnections({
        namespace: names(502).namespace,
        name: 'netpol-probe-preview-502-backend',
        labels: { 'app.kubernetes.io/name': 'backend', 'app.kubernetes.io/instance': names(502).release },
        targets: [...targets501, ...own.map((t) => ({ ...t, name: `own ${t.name}` }))],
      });
      console.log(`netpol: from preview 502 as backend: ${JSON.stringify(other)}`);
      for (const t of targets501)
        expect(other[t.name], `preview 502 → preview 501 ${t.name}`).toBe('timeout');
      expect(other['own postgres']).toBe('open');
      expect(other['own redis']).toBe('open');
      // Not a wrong address: every target refused above answered the same probe from a pod allowed to reach it.
      for (const to of new Set(paths.map((r) => r.to)))
        expect(
          paths.filter((r) => r.to === to && r.got === 'open').length,
          `${to} reached from an allowed pod`,
        ).toBeGreaterThan(0);
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
