/**
 * The laptop loop with Tilt on the rig, as a developer runs it: the stack (Tiltfile, skaffold.yaml, charts/,
 * kind/, the CLI bundle) in a directory with product checkouts `../backend` and `../frontend` beside it (copies
 * of examples/), and no cluster yet.
 *   1. `tilt ci` creates the Kind cluster `jetscale-tilt` from kind/cluster.local.yaml with the local registry
 *      (kind/create.sh), then stops and asks to be started again (Tilt reads the kubeconfig only at start);
 *   2. `tilt ci` again builds both services (dev target), pushes them to the local registry, deploys charts/app
 *      with Postgres and Redis, and passes its smoke and contract resources;
 *   3. `tilt up`, then five edits in a row of a backend source file each show in the backend's API through
 *      Tilt's port-forward, from the same pod, container and image: live_update synced them and the service's
 *      watcher (tsx) restarted the server in place.
 * The rig can pull nothing, so the services are built on the rig's Node image (JETSCALE_BASE_IMAGE) and the
 * Postgres and Redis stand-ins are pushed to the local registry and named by JETSCALE_VALUES_FILE.
 * Timings are printed by `node test/bench/tilt.mjs`, not asserted here.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findTool, repoRoot, requireTool } from '../support/tools.js';
import { kindClusters, RIG_NODE_IMAGE, rigSkipReason } from './rig.js';

const CLUSTER = 'jetscale-tilt';
const CONTEXT = `kind-${CLUSTER}`;
const BASE_IMAGE = 'jetscale-rig/node:24';
const REGISTRY_IMAGE = 'jetscale-rig/registry:3';
const REGISTRY = 'localhost:5001'; // kind/create.sh: jetscale-registry on 127.0.0.1:5001
const STAND_INS = { postgres: 'jetscale-rig/postgres:15', redis: 'jetscale-rig/redis:7' };
// the Tiltfile's port-forwards (frontend 8080, backend 8081) and kind/cluster.local.yaml's host ports
const HOST_PORTS = [8080, 8081, 80, 443];
const BACKEND_URL = 'http://127.0.0.1:8081';
const FRONTEND_URL = 'http://127.0.0.1:8080';
// edits per run: the service's watcher (tsx) now and then loses a file that Tilt's sync replaced, and every
// later edit of it with it; a single edit would rarely show that
const EDITS = 5;

const tiltTool = requireTool('tilt');
const skip = rigSkipReason() ?? tiltTool.skip;

interface Result {
  code: number | null;
  out: string;
}

/** Runs a command to the end with output captured (stdout and stderr interleaved). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('close', (code) => resolve({ code, out }));
  });
}

function must(cmd: string, args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** GETs url until its JSON has liveUpdate === token (120 s); returns the last answer or error. */
async function poll(url: string, token: string): Promise<unknown> {
  let seen: unknown;
  const until = Date.now() + 120_000;
  while (Date.now() < until) {
    seen = await getJson(url).catch((e: Error) => e.message);
    if ((seen as { liveUpdate?: string }).liveUpdate === token) break;
    await sleep(200);
  }
  return seen;
}

/** The end of a log without the services' request lines (polling makes many). */
const quiet = (log: string) =>
  log
    .split('\n')
    .filter((line) => !line.includes('"msg":"request"'))
    .join('\n')
    .slice(-4000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

/**
 * fs.inotify.max_user_instances is 128 on these machines and every Kind node's kubelet, systemd and control
 * plane hold some: Tilt's file watches then fail. Raise it when root (.ci/run does the same).
 */
function ensureInotifyInstances(min: number): void {
  const file = '/proc/sys/fs/inotify/max_user_instances';
  let current: number;
  try {
    current = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return; // not Linux
  }
  if (current >= min || process.getuid?.() !== 0) return;
  writeFileSync(file, `${min}\n`);
}

describe.skipIf(skip)(`Tilt on the rig${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tilt = tiltTool.path as string;
  const kind = findTool('kind') as string;
  const kubectl = findTool('kubectl') as string;
  const helm = findTool('helm') as string;
  // no 'jetscale' in the path: Tilt scrubs secret values from its log, and the chart's Postgres user and
  // database name (jetscale) are in a Secret
  const work = mkdtempSync(join(tmpdir(), 'tilt-e2e-'));
  const stack = join(work, 'stack');
  const kubeconfig = join(work, 'kubeconfig');
  const env: NodeJS.ProcessEnv = {};
  let tiltPort = 0;
  let up: ChildProcess | undefined;

  const k = (...args: string[]) => must(kubectl, ['--context', CONTEXT, ...args], env);
  const tiltArgs = (sub: string, ...more: string[]) => [
    sub,
    '--context',
    CONTEXT,
    '--port',
    `${tiltPort}`,
    ...more,
  ];

  beforeAll(async () => {
    ensureInotifyInstances(512);
    tiltPort = await freePort();

    // the stack as a developer has it, with product checkouts beside it (copies: examples/ is never edited)
    mkdirSync(stack);
    for (const f of ['Tiltfile', 'skaffold.yaml', 'charts', 'kind', 'dist/cli']) {
      cpSync(join(repoRoot, f), join(stack, f), { recursive: true });
    }
    for (const svc of ['backend', 'frontend']) {
      cpSync(join(repoRoot, 'examples', svc), join(work, svc), {
        recursive: true,
        filter: (src) => !['node_modules', 'dist', 'coverage'].includes(basename(src)),
      });
    }
    const values = join(work, 'rig-values.yaml');
    writeFileSync(
      values,
      [
        `postgres: { image: { repository: ${REGISTRY}/jetscale-rig/postgres, tag: "15", pullPolicy: IfNotPresent } }`,
        `redis: { image: { repository: ${REGISTRY}/jetscale-rig/redis, tag: "7", pullPolicy: IfNotPresent } }`,
        '',
      ].join('\n'),
    );

    const path = [...new Set([tilt, kind, kubectl, helm].map((t) => dirname(t)))].join(delimiter);
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('JETSCALE_')) env[key] = value;
    }
    Object.assign(env, {
      PATH: `${path}${delimiter}${process.env.PATH ?? ''}`,
      KUBECONFIG: kubeconfig,
      TILT_DEV_DIR: join(work, 'tilt-dev'),
      TILT_DISABLE_ANALYTICS: '1',
      JETSCALE_KIND_CLUSTER: CLUSTER,
      JETSCALE_KIND_IMAGE: RIG_NODE_IMAGE,
      JETSCALE_REGISTRY_IMAGE: REGISTRY_IMAGE,
      JETSCALE_SOURCES_DIR: work,
      JETSCALE_BASE_IMAGE: BASE_IMAGE,
      JETSCALE_VALUES_FILE: values,
    });
    // a cluster left by an interrupted run: the first test needs there to be none
    if (kindClusters().includes(CLUSTER)) must(kind, ['delete', 'cluster', '--name', CLUSTER], env);
    for (const port of HOST_PORTS) {
      if (!(await portFree(port)))
        throw new Error(
          `127.0.0.1:${port} is in use; the Tiltfile forwards 8080/8081 and kind/cluster.local.yaml binds 80/443 there`,
        );
    }
  });

  afterAll(async () => {
    if (up && up.exitCode === null && up.pid) {
      process.kill(-up.pid, 'SIGTERM');
      await new Promise((r) => up?.once('close', r));
    }
    if (kindClusters().includes(CLUSTER))
      spawnSync(kind, ['delete', 'cluster', '--name', CLUSTER, '--kubeconfig', kubeconfig], { env });
    rmSync(work, { recursive: true, force: true });
  });

  test('a first tilt ci creates the Kind cluster with the local registry, then asks to start Tilt again', async () => {
    const r = await run(tilt, tiltArgs('ci', '--timeout', '5m'), env, stack);
    expect(r.code, r.out.slice(-4000)).toBe(1);
    expect(r.out).toContain(
      `Created the kind cluster "${CLUSTER}" (kube context "${CONTEXT}"). Tilt read the kubeconfig when it started`,
    );
    expect(r.out).toContain(`start Tilt again (tilt ci --context ${CONTEXT})`);
    expect(kindClusters()).toContain(CLUSTER);
    // kind/cluster.local.yaml on the rig's node image, and the registry advertised to Tilt (KEP-1755)
    const node = must(
      'docker',
      ['inspect', '-f', '{{.Config.Image}}', `${CLUSTER}-control-plane`],
      env,
    ).trim();
    expect(node).toBe(RIG_NODE_IMAGE);
    const ports = must('docker', ['port', `${CLUSTER}-control-plane`], env);
    expect(ports).toMatch(/^80\/tcp -> 127\.0\.0\.1:80$/m);
    expect(
      k('-n', 'kube-public', 'get', 'configmap', 'local-registry-hosting', '-o', 'jsonpath={.data}'),
    ).toContain(REGISTRY);
  });

  test('tilt ci again builds ../backend and ../frontend, deploys the chart and passes smoke and contract', async () => {
    // the stand-ins where the cluster pulls from: the local registry that kind/create.sh started or reused
    for (const image of Object.values(STAND_INS)) {
      must('docker', ['tag', image, `${REGISTRY}/${image}`], env);
      must('docker', ['push', '-q', `${REGISTRY}/${image}`], env);
    }
    const r = await run(tilt, tiltArgs('ci', '--timeout', '12m'), env, stack);
    expect(r.code, r.out.slice(-6000)).toBe(0);
    expect(r.out).toContain('SUCCESS. All workloads are healthy.');
    expect(r.out).toContain(
      `backend: building the sibling checkout at ${join(work, 'backend')} (Dockerfile Dockerfile, target dev)`,
    );
    expect(r.out).toContain(
      `frontend: building the sibling checkout at ${join(work, 'frontend')} (Dockerfile Dockerfile, target dev)`,
    );
    expect(r.out).toMatch(/smoke +│ \{"status":"ready","postgres":"ok","redis":"ok"\}/);
    expect(r.out).toMatch(/contract +│ 6 passed, 0 failed/);
    for (const svc of ['backend', 'frontend']) {
      const image = k(
        'get',
        'deployment',
        `app-${svc}`,
        '-o',
        `jsonpath={.spec.template.spec.containers[0].image}`,
      );
      // built by Tilt (content tag) and pushed to the registry the cluster advertises
      expect(image).toMatch(new RegExp(`^${REGISTRY}/${svc}:tilt-[0-9a-f]{16}$`));
      expect(k('get', 'deployment', `app-${svc}`, '-o', 'jsonpath={.status.availableReplicas}')).toBe('1');
    }
  });

  test('under tilt up, successive backend source edits show in its API with no image rebuild and no restart', async () => {
    const child = spawn(tilt, tiltArgs('up', '--stream'), {
      cwd: stack,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    up = child;
    let log = '';
    child.stdout.on('data', (d: Buffer) => {
      log += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      log += d.toString();
    });

    // wait until Tilt's own first pass over the backend is done (else the edit would join that build)
    const status = () => {
      const r = spawnSync(tilt, ['get', 'uiresource', 'backend', '--port', `${tiltPort}`, '-o', 'json'], {
        env,
        encoding: 'utf8',
      });
      if (r.status !== 0) return undefined;
      return JSON.parse(r.stdout).status as {
        updateStatus?: string;
        runtimeStatus?: string;
        buildHistory?: unknown[];
      };
    };
    const deadline = Date.now() + 300_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`tilt up exited ${child.exitCode}:\n${log.slice(-4000)}`);
      const s = status();
      if (s?.updateStatus === 'ok' && s.runtimeStatus === 'ok' && (s.buildHistory?.length ?? 0) > 0) {
        const v = await getJson(`${BACKEND_URL}/api/version`).catch(() => undefined);
        if ((v as { service?: string } | undefined)?.service === 'backend') break;
      }
      if (Date.now() > deadline)
        throw new Error(`backend not ready under tilt up in 300 s:\n${log.slice(-4000)}`);
      await sleep(1000);
    }

    const pod = () => {
      const p = JSON.parse(k('get', 'pods', '-l', 'app.kubernetes.io/name=backend', '-o', 'json')).items as {
        metadata: { name: string; uid: string };
        status: {
          containerStatuses: {
            name: string;
            image: string;
            imageID: string;
            containerID: string;
            restartCount: number;
          }[];
        };
      }[];
      return p.map((x) => ({
        name: x.metadata.name,
        uid: x.metadata.uid,
        containers: x.status.containerStatuses.map((c) => ({
          name: c.name,
          image: c.image,
          imageID: c.imageID,
          containerID: c.containerID,
          restartCount: c.restartCount,
        })),
      }));
    };
    const before = pod();
    expect(before).toHaveLength(1);
    const generation = k('get', 'deployment', 'app-backend', '-o', 'jsonpath={.metadata.generation}');
    const mark = log.length;

    // Five edits in a row, each waited for and looked at: a developer saves more than once, and the service's
    // watcher must notice every file Tilt replaces (Tilt's sync extracts a tar: a new inode each time).
    const file = join(work, 'backend', 'src', 'app.ts');
    const source = readFileSync(file, 'utf8');
    expect(
      source,
      "examples/backend/src/app.ts no longer has the version route's `service: 'backend' }`",
    ).toContain("service: 'backend' }");
    for (let edit = 1; edit <= EDITS; edit++) {
      const token = `tilt-e2e-${edit}-${Date.now()}`;
      writeFileSync(
        file,
        source.replace("service: 'backend' }", `service: 'backend', liveUpdate: '${token}' }`),
      );
      const expected = { sha: 'unknown', service: 'backend', liveUpdate: token };
      const seen = await poll(`${BACKEND_URL}/api/version`, token);
      expect(
        seen,
        `edit ${edit} of ${EDITS} not visible in 120 s; tilt up (request logs left out):\n${quiet(log.slice(mark))}`,
      ).toEqual(expected);
      // and through the frontend's /api proxy and the backend's Service, as the page sees it: the Service
      // routes to the pod again once its readiness probe passes after the restart
      expect(await poll(`${FRONTEND_URL}/api/version`, token)).toEqual(expected);
      await sleep(3000); // a developer looks at the result before the next save
    }

    // the same pod, container and image: synced and restarted in place, not rebuilt or redeployed
    expect(pod()).toEqual(before);
    expect(k('get', 'deployment', 'app-backend', '-o', 'jsonpath={.metadata.generation}')).toBe(generation);
    const after = log.slice(mark);
    expect(
      after.match(/backend +│ Will copy 1 file\(s\) to container: \[app-backend-[a-z0-9-]+\/backend\]/g),
    ).toHaveLength(EDITS);
    expect(after).not.toContain('Building Dockerfile: [backend]');
  });
});
