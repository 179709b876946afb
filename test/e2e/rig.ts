/**
 * What the end-to-end tests need from the rig: a Docker engine, the rig's images and the pinned tools in the
 * rig's tool cache. Missing pieces skip a test with the reason locally, and fail it in CI (CI=true) — the e2e
 * suite never skips in CI.
 */
import { spawnSync } from 'node:child_process';
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
