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
 * Then, on the same cluster (issue 12), the Go API, the Python API and the SPA (copies of test/services/*) as
 * sibling checkouts of a second stack directory, with test/chart/stacks/tilt-three.yaml as its values:
 *   4. the Python API without its dev stage stops `tilt ci` before anything is built or deployed, with the message;
 *   5. `tilt ci` builds the three at their dev stages and passes their smoke and declared contract;
 *   6. under `tilt up`, an edit of each is served live from the same pod and container (each image's own
 *      reloader), a requirements.txt change runs pip in the Python API's container, and the HUD's resources
 *      have their groups, links and sources.
 * The rig can pull nothing, so the Node services are built on the rig's Node image (JETSCALE_BASE_IMAGE), the test
 * services on the rig's Debian and Go images (their Dockerfiles' defaults) with the Go modules from the rig's
 * module cache, and the Postgres, Redis and wait stand-ins are pushed to the local registry and named by
 * JETSCALE_VALUES_FILE.
 * Timings are printed by `node test/bench/tilt.mjs`, not asserted here.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import YAML from 'yaml';
import { copyTestServices, dropStage, tiltThreeValues } from '../support/test-services.js';
import { findTool, repoRoot, requireTool } from '../support/tools.js';
import { kindClusters, RIG_NODE_IMAGE, rigCacheDir, rigSkipReason } from './rig.js';

const CLUSTER = 'jetscale-tilt';
const CONTEXT = `kind-${CLUSTER}`;
const BASE_IMAGE = 'jetscale-rig/node:24';
const REGISTRY_IMAGE = 'jetscale-rig/registry:3';
const REGISTRY = 'localhost:5001'; // kind/create.sh: jetscale-registry on 127.0.0.1:5001
// pushed to the local registry: Postgres, Redis and the chart's wait init container (for the Go API's migration)
const STAND_INS = {
  postgres: 'jetscale-rig/postgres:15',
  redis: 'jetscale-rig/redis:7',
  wait: 'jetscale-rig/wait:rig',
};
// the three-service stack's forwards (test/chart/stacks/tilt-three.yaml dev.localPort)
const THREE_PORTS = { 'go-api': 9000, 'py-api': 8000, spa: 8088 };
// the Tiltfile's port-forwards (frontend 8080, backend 8081, then the three) and kind/cluster.local.yaml's 80/443
const HOST_PORTS = [8080, 8081, ...Object.values(THREE_PORTS), 80, 443];
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

// a request logged by the backend (JSON), nginx or py-api (access log) or go-api ("GET /v1/hello 1ms")
const REQUEST_LINE = /"msg":"request"|"GET \/| GET \/\S* \d/;
/** The end of a log without the services' request lines (polling makes many). */
const quiet = (log: string) =>
  log
    .split('\n')
    .filter((line) => !REQUEST_LINE.test(line))
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

  /** The pods of app-<service>: identity, image and restarts of each container (unchanged by a live update). */
  const podsOf = (service: string) => {
    const p = JSON.parse(k('get', 'pods', '-l', `app.kubernetes.io/name=${service}`, '-o', 'json')).items as {
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
          `127.0.0.1:${port} is in use; the Tiltfile forwards ${HOST_PORTS.slice(0, -2).join('/')} and kind/cluster.local.yaml binds 80/443 there`,
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

    const pod = () => podsOf('backend');
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

  // --- the Go API, the Python API and the SPA from sibling checkouts (issue 12), on the same cluster ---------
  // <work>/three/{stack,go-api,py-api,spa}: the stack again, beside copies of test/services/*
  const three = join(work, 'three');
  const threeStack = join(three, 'stack');
  const threeEnv: NodeJS.ProcessEnv = {};
  const SERVICES = Object.keys(THREE_PORTS) as (keyof typeof THREE_PORTS)[];
  const url = (svc: keyof typeof THREE_PORTS, path: string) => `http://127.0.0.1:${THREE_PORTS[svc]}${path}`;

  /** The UIResources of the running `tilt up`, by name (undefined while its API does not answer). */
  const uiResources = () => {
    const r = spawnSync(tilt, ['get', 'uiresources', '--port', `${tiltPort}`, '-o', 'json'], {
      env: threeEnv,
      encoding: 'utf8',
    });
    if (r.status !== 0) return undefined;
    type UIResource = {
      metadata: { name: string; labels?: Record<string, string> };
      status: {
        updateStatus?: string;
        runtimeStatus?: string;
        endpointLinks?: { url?: string; name?: string }[];
      };
    };
    return new Map((JSON.parse(r.stdout).items as UIResource[]).map((u) => [u.metadata.name, u]));
  };

  /** Calls `probe` every 500 ms until it returns true (or `ms` pass); false when it never did. */
  async function eventually(ms: number, probe: () => Promise<boolean> | boolean): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (await Promise.resolve(probe()).catch(() => false)) return true;
      await sleep(500);
    }
    return false;
  }

  const message = (body: unknown) => (body as { message?: string }).message;
  const text = async (u: string) => {
    const res = await fetch(u, { signal: AbortSignal.timeout(2000) });
    return `${res.status} ${await res.text()}`;
  };

  test('a sibling checkout that cannot be built as declared (the Python API without its dev stage) stops Tilt, naming the service, the path and the fix', async () => {
    // the Node stack's `tilt up` ends here, and `tilt down` deletes what it deployed (the cluster stays)
    if (up && up.exitCode === null && up.pid) {
      const child = up;
      process.kill(-(child.pid as number), 'SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
    up = undefined;
    const down = await run(tilt, ['down', '--context', CONTEXT], env, stack);
    expect(down.code, down.out.slice(-4000)).toBe(0);
    const workloads = () => k('get', 'deployments,statefulsets,jobs,pods', '-o', 'name').trim();
    expect(await eventually(180_000, () => workloads() === ''), `left after tilt down: ${workloads()}`).toBe(
      true,
    );

    mkdirSync(threeStack, { recursive: true });
    for (const f of ['Tiltfile', 'skaffold.yaml', 'charts', 'kind', 'dist/cli']) {
      cpSync(join(repoRoot, f), join(threeStack, f), { recursive: true });
    }
    copyTestServices(three, SERVICES);
    // The rig fetches no Go module: the go-api build stage reads them from a file proxy in its context, as the
    // rig's own image build does (test/rig/images/build.sh), from the module cache the rig prepared.
    const modules = join(rigCacheDir(), 'gomod', 'services', 'cache', 'download');
    if (!existsSync(modules))
      throw new Error(
        `${modules} is missing: npm run rig:up makes it when it builds jetscale-rig/go-api:rig`,
      );
    cpSync(modules, join(three, 'go-api', '.goproxy'), { recursive: true });
    const values = tiltThreeValues() as Record<string, unknown> & {
      services: Record<string, { dev: Record<string, unknown> }>;
    };
    values.global = {
      waitImage: { repository: `${REGISTRY}/jetscale-rig/wait`, tag: 'rig', pullPolicy: 'IfNotPresent' },
    };
    values.postgres = {
      image: { repository: `${REGISTRY}/jetscale-rig/postgres`, tag: '15', pullPolicy: 'IfNotPresent' },
    };
    values.redis = {
      image: { repository: `${REGISTRY}/jetscale-rig/redis`, tag: '7', pullPolicy: 'IfNotPresent' },
    };
    (values.services['go-api'] as { dev: Record<string, unknown> }).dev.buildArgs = {
      GOPROXY: 'file:///src/.goproxy',
    };
    writeFileSync(join(three, 'values.yaml'), YAML.stringify(values));
    Object.assign(threeEnv, env, {
      JETSCALE_SOURCES_DIR: three,
      JETSCALE_VALUES_FILE: join(three, 'values.yaml'),
    });
    // the test services name their own base images (the rig's Debian and Go), not the Node examples' one
    delete threeEnv.JETSCALE_BASE_IMAGE;

    const dockerfile = join(three, 'py-api', 'Dockerfile');
    const intact = readFileSync(dockerfile, 'utf8');
    dropStage(three, 'py-api', 'dev');
    const r = await run(tilt, tiltArgs('ci', '--timeout', '5m'), threeEnv, threeStack);
    writeFileSync(dockerfile, intact);
    expect(r.code, r.out.slice(-4000)).toBe(1);
    expect(r.out).toContain('The laptop loop cannot build these services as declared:');
    expect(r.out).toContain(
      `py-api: ${dockerfile} (in the sibling checkout ${join(three, 'py-api')}) has no stage "dev" (services.py-api.build.devTarget); its stages: base, runtime. Fix: add a stage \`FROM … AS dev\` to it, or set services.py-api.build.devTarget to one of its stages.`,
    );
    // stopped while loading the Tiltfile: nothing built, nothing deployed
    expect(r.out).not.toContain('Building Dockerfile');
    expect(workloads()).toBe('');
  });

  test('tilt ci builds the Go API, the Python API and the SPA from their sibling checkouts and passes their declared contract', async () => {
    const r = await run(tilt, tiltArgs('ci', '--timeout', '14m'), threeEnv, threeStack);
    expect(r.code, r.out.slice(-6000)).toBe(0);
    expect(r.out).toContain('SUCCESS. All workloads are healthy.');
    for (const svc of SERVICES) {
      expect(r.out).toContain(
        `${svc}: building the sibling checkout at ${join(three, svc)} (Dockerfile Dockerfile, target dev)`,
      );
      const image = k(
        'get',
        'deployment',
        `app-${svc}`,
        '-o',
        'jsonpath={.spec.template.spec.containers[0].image}',
      );
      expect(image).toMatch(new RegExp(`^${REGISTRY}/${svc}:tilt-[0-9a-f]{16}$`));
      expect(k('get', 'deployment', `app-${svc}`, '-o', 'jsonpath={.status.availableReplicas}')).toBe('1');
    }
    // the Go API's migration ran (its Job, in the dev image), before the contract's write needed its table
    const jobs = JSON.parse(k('get', 'jobs', '-o', 'json')).items as {
      metadata: { name: string };
      status: { succeeded?: number };
    }[];
    expect(jobs.map((j) => [j.metadata.name.replace(/-[0-9a-f]{8}$/, ''), j.status.succeeded])).toEqual([
      ['app-go-api-migrate', 1],
    ]);
    // smoke: every forwarded service's readiness path; the contract: tilt-three.yaml's checks, through the SPA
    expect(r.out).toMatch(/smoke +│ .*"db":"ok"/);
    expect(r.out).toMatch(/smoke +│ .*"postgres": ?"ok"/);
    expect(r.out).toMatch(/contract +│ 4 passed, 0 failed/);
  }, 1_200_000);

  test("under tilt up, edits to the Go API's handler, the Python API and the SPA's page are served live without an image rebuild or a restart; a requirements.txt change runs pip in the container; the HUD groups, links and labels each service", async () => {
    const child = spawn(tilt, tiltArgs('up', '--stream'), {
      cwd: threeStack,
      env: threeEnv,
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

    // Tilt's own first pass over each service done, and each answering as it was copied
    const originals: Record<keyof typeof THREE_PORTS, [string, string]> = {
      'go-api': ['/v1/hello', 'hello from go-api'],
      'py-api': ['/hello', 'hello from py-api'],
      spa: ['/', 'hello from spa'],
    };
    let waitingFor = 'Tilt to answer';
    const ready = await eventually(420_000, async () => {
      if (child.exitCode !== null) return true; // said below
      const ui = uiResources();
      for (const svc of SERVICES) {
        const s = ui?.get(svc)?.status;
        waitingFor = `${svc}: update ${s?.updateStatus}, runtime ${s?.runtimeStatus}`;
        if (s?.updateStatus !== 'ok' || s.runtimeStatus !== 'ok') return false;
        const pods = podsOf(svc);
        waitingFor = `${svc}: ${pods.length} pods (${pods.join(', ')}), want 1`;
        if (pods.length !== 1) return false; // a rollout still ending
        const [path, answer] = originals[svc];
        waitingFor = `${svc}: ${url(svc, path)} unanswered`;
        const got = await text(url(svc, path)).catch((e: Error) => `(${e.cause ?? e.message})`);
        waitingFor = `${svc}: ${url(svc, path)} answered ${JSON.stringify(got.slice(0, 200))}, want ${JSON.stringify(answer)}`;
        if (!got.includes(answer)) return false;
      }
      // and the migration's Job applied again (unchanged), so that the Job seen below is the one that stays
      const m = ui?.get('go-api-migrate')?.status;
      waitingFor = `go-api-migrate: update ${m?.updateStatus}, runtime ${m?.runtimeStatus}`;
      return m?.updateStatus === 'ok';
    });
    expect(child.exitCode, `tilt up exited:\n${log.slice(-4000)}`).toBeNull();
    expect(
      ready,
      `the three services not ready under tilt up in 420 s, still waiting for ${waitingFor}:\n${log.slice(-4000)}`,
    ).toBe(true);

    // the HUD as a developer sees it: a group per service (its migration in it), data, tests; the links say
    // which checkout each service runs
    const ui = uiResources() ?? new Map();
    const labels = (name: string) => Object.keys(ui.get(name)?.metadata.labels ?? {});
    for (const svc of SERVICES) {
      expect(labels(svc), svc).toEqual([svc]);
      expect(ui.get(svc)?.status.endpointLinks, svc).toEqual([
        expect.objectContaining({
          url: expect.stringMatching(new RegExp(`^http://localhost:${THREE_PORTS[svc]}/?$`)),
          name: `${svc} (from ${join(three, svc)})`,
        }),
      ]);
    }
    expect(labels('go-api-migrate')).toEqual(['go-api']);
    for (const name of ['postgres', 'redis']) expect(labels(name), name).toEqual(['data']);
    for (const name of ['smoke', 'contract']) expect(labels(name), name).toEqual(['tests']);

    const before = Object.fromEntries(SERVICES.map((svc) => [svc, podsOf(svc)]));
    for (const svc of SERVICES) expect(before[svc], svc).toHaveLength(1);
    const generations = () =>
      SERVICES.map((svc) => k('get', 'deployment', `app-${svc}`, '-o', 'jsonpath={.metadata.generation}'));
    const generation = generations();
    const jobUids = () => k('get', 'jobs', '-o', 'jsonpath={.items[*].metadata.uid}');
    const jobs = jobUids();
    const mark = log.length;
    const since = () => quiet(log.slice(mark));

    /** Replaces `from` in <three>/<file> (which must have it) and waits until `probe` sees the edit. */
    async function edit(file: string, from: string, to: string, what: string, probe: () => Promise<boolean>) {
      const path = join(three, file);
      const source = readFileSync(path, 'utf8');
      expect(source, `${file} no longer has ${from}`).toContain(from);
      writeFileSync(path, source.replace(from, to));
      expect(await eventually(120_000, probe), `${what} not served 120 s after the edit:\n${since()}`).toBe(
        true,
      );
    }

    const token = (svc: string) => `${svc} edited ${Date.now()}`;
    // the Go API: synced to /src, rebuilt and restarted by the image's supervisor (dev/reload.sh)
    const go = token('go-api');
    await edit(
      'go-api/handlers.go',
      'const helloMessage = "hello from go-api"',
      `const helloMessage = "${go}"`,
      "the Go API's edited handler",
      async () => message(await getJson(url('go-api', '/v1/hello'))) === go,
    );
    // and through the SPA's /api proxy and the Go API's Service, as the page calls it
    expect(
      await eventually(60_000, async () => (await text(url('spa', '/api/hello'))).includes(go)),
      `the edited Go API through the SPA:\n${since()}`,
    ).toBe(true);
    // the Python API: synced to /srv/pyapi, restarted by its reloader
    const py = token('py-api');
    await edit(
      'py-api/pyapi/__main__.py',
      'HELLO = "hello from py-api"',
      `HELLO = "${py}"`,
      'the edited Python API',
      async () => message(await getJson(url('py-api', '/hello'))) === py,
    );
    // the SPA: the page synced to /usr/share/spa, served as it lands
    const page = token('spa');
    await edit(
      'spa/html/index.html',
      '<p id="message">hello from spa</p>',
      `<p id="message">${page}</p>`,
      "the SPA's edited page",
      async () => (await text(url('spa', '/'))).includes(page),
    );
    // requirements.txt: pip runs in the container. The rig reaches no package index: the new requirement is
    // one the image already has (Debian's psycopg2, which the venv sees), so pip installs nothing and says so.
    writeFileSync(
      join(three, 'py-api', 'requirements.txt'),
      "# the Postgres driver: Debian's python3-psycopg2, which the venv sees\npsycopg2\n",
    );
    const pip = /py-api +│ \[CMD 1\/1\] sh -c \/opt\/venv\/bin\/pip install .*-r \/srv\/requirements\.txt/;
    const satisfied = /py-api +│ .*Requirement already satisfied: psycopg2 /;
    expect(
      await eventually(120_000, () => pip.test(log.slice(mark)) && satisfied.test(log.slice(mark))),
      `pip did not run in the Python API's container in 120 s:\n${since()}`,
    ).toBe(true);

    // each edit synced into the running container, none rebuilt an image or replaced a pod, container or Job
    const after = log.slice(mark);
    for (const svc of SERVICES)
      expect(after, svc).toMatch(new RegExp(`${svc} +│ Will copy \\d+ file\\(s\\) to container`));
    expect(after).not.toContain('Building Dockerfile');
    for (const svc of SERVICES) expect(podsOf(svc), svc).toEqual(before[svc]);
    expect(generations()).toEqual(generation);
    expect(jobUids()).toBe(jobs);
  }, 1_200_000);
});
