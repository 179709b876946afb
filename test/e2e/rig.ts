/**
 * What the end-to-end tests need from the rig: a Docker engine, the rig's images and the pinned tools in the
 * rig's tool cache. Missing pieces skip a test with the reason locally, and fail it in CI (CI=true) — the e2e
 * suite never skips in CI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findTool, toolCacheDir } from '../support/tools.js';

/** The contract checks a full run (ci-kind, preview) must pass, by name (as the action prints them). */
export const FULL_CHECKS = [
  'backend-health',
  'backend-ready',
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
};

/** Values that point the chart at the rig's stand-in images, which are loaded into the cluster, never pulled. */
export const RIG_VALUES = `postgres:
  image: { repository: jetscale-rig/postgres, tag: "15", pullPolicy: Never }
redis:
  image: { repository: jetscale-rig/redis, tag: "7", pullPolicy: Never }
backend:
  image: { pullPolicy: Never }
frontend:
  image: { pullPolicy: Never }
`;

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

/** Kubeconfig that test/rig/up.sh writes for a rig cluster (lib.sh rig_kubeconfig). */
export function rigKubeconfig(cluster = 'jetscale-rig'): string {
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
export function rigIngress(cluster = 'jetscale-rig'): RigIngress {
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

/** kubectl against the shared rig cluster jetscale-rig (output captured, never throws). */
export function rigKubectl(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(findTool('kubectl') as string, ['--kubeconfig', rigKubeconfig(), ...args], {
    encoding: 'utf8',
    timeout: 180_000,
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
