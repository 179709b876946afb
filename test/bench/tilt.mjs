#!/usr/bin/env node
// Benchmark: Tilt's edit-to-visible latency on the rig. The stack and copies of examples/backend and
// examples/frontend (as ../backend, ../frontend) go to a temporary directory; the Kind cluster `jetscale-tilt`
// is made by kind/create.sh as the Tiltfile makes it; `tilt ci` brings the stack up, then under `tilt up` a
// backend source file is edited N times and the backend's API (Tilt's port-forward, localhost:8081) is polled
// until the edit shows. Each run is timed from the write to the first answer with the edit, and split at the
// moment Tilt logs that it copies the file into the container. Prints figures; asserts nothing. Deletes the
// cluster at the end.
//   node test/bench/tilt.mjs [runs=5]        (needs the rig: npm run rig:tools && npm run rig:up)
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { root, tool, toolDir } from './lib.mjs';

const runs = Number(process.argv[2] ?? 5);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(
    `tilt.mjs: runs must be a whole number of at least 1, got ${JSON.stringify(process.argv[2])}`,
  );
  process.exit(2);
}
const nodeImage = process.env.JETSCALE_RIG_NODE_IMAGE ?? 'jetscale-rig/kind-node:v1.34.4';
const CLUSTER = 'jetscale-tilt';
const CONTEXT = `kind-${CLUSTER}`;
const REGISTRY = 'localhost:5001';
const STAND_INS = ['jetscale-rig/postgres:15', 'jetscale-rig/redis:7'];
const BACKEND = 'http://127.0.0.1:8081/api/version';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now() / 1000;

const work = mkdtempSync(join(tmpdir(), 'tilt-bench-'));
const stack = join(work, 'stack');
mkdirSync(stack);
for (const f of ['Tiltfile', 'skaffold.yaml', 'charts', 'kind', 'dist/cli']) {
  cpSync(join(root, f), join(stack, f), { recursive: true });
}
for (const svc of ['backend', 'frontend']) {
  cpSync(join(root, 'examples', svc), join(work, svc), {
    recursive: true,
    filter: (src) => !['node_modules', 'dist', 'coverage'].includes(basename(src)),
  });
}
const values = join(work, 'rig-values.yaml');
writeFileSync(
  values,
  `postgres: { image: { repository: ${REGISTRY}/jetscale-rig/postgres, tag: "15", pullPolicy: IfNotPresent } }\n` +
    `redis: { image: { repository: ${REGISTRY}/jetscale-rig/redis, tag: "7", pullPolicy: IfNotPresent } }\n`,
);
const tiltPort = await new Promise((done) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => done(port));
  });
});
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('JETSCALE_')));
Object.assign(env, {
  PATH: [toolDir('tilt'), toolDir('kind'), toolDir('kubectl'), toolDir('helm'), process.env.PATH].join(
    delimiter,
  ),
  KUBECONFIG: join(work, 'kubeconfig'),
  TILT_DEV_DIR: join(work, 'tilt-dev'),
  TILT_DISABLE_ANALYTICS: '1',
  JETSCALE_KIND_CLUSTER: CLUSTER,
  JETSCALE_REGISTRY_IMAGE: 'jetscale-rig/registry:3',
  JETSCALE_SOURCES_DIR: work,
  JETSCALE_BASE_IMAGE: 'jetscale-rig/node:24',
  JETSCALE_VALUES_FILE: values,
});

function must(cmd, args, cwd = stack) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}
const clusters = () => must(tool('kind'), ['get', 'clusters']).split('\n');
const backendPod = () => {
  const p = JSON.parse(
    must(tool('kubectl'), [
      '--context',
      CONTEXT,
      'get',
      'pods',
      '-l',
      'app.kubernetes.io/name=backend',
      '-o',
      'json',
    ]),
  ).items;
  return JSON.stringify(
    p.map((x) => [
      x.metadata.uid,
      x.status.containerStatuses.map((c) => [c.imageID, c.containerID, c.restartCount]),
    ]),
  );
};
async function version() {
  try {
    const res = await fetch(BACKEND, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}
function backendIdle() {
  const r = spawnSync(tool('tilt'), ['get', 'uiresource', 'backend', '--port', `${tiltPort}`, '-o', 'json'], {
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0) return false;
  const s = JSON.parse(r.stdout).status;
  return s.updateStatus === 'ok' && s.runtimeStatus === 'ok' && (s.buildHistory?.length ?? 0) > 0;
}

let up;
let log = '';
function cleanUp() {
  if (up && up.exitCode === null) process.kill(-up.pid, 'SIGTERM');
  if (clusters().includes(CLUSTER)) must(tool('kind'), ['delete', 'cluster', '--name', CLUSTER]);
  rmSync(work, { recursive: true, force: true });
}

try {
  if (clusters().includes(CLUSTER)) must(tool('kind'), ['delete', 'cluster', '--name', CLUSTER]);
  let t = now();
  must(join(stack, 'kind', 'create.sh'), [
    '--config',
    'kind/cluster.local.yaml',
    '--name',
    CLUSTER,
    '--image',
    nodeImage,
  ]);
  const create = now() - t;
  for (const image of STAND_INS) {
    must('docker', ['tag', image, `${REGISTRY}/${image}`]);
    must('docker', ['push', '-q', `${REGISTRY}/${image}`]);
  }
  t = now();
  const ci = spawnSync(
    tool('tilt'),
    ['ci', '--context', CONTEXT, '--port', `${tiltPort}`, '--timeout', '12m'],
    {
      cwd: stack,
      env,
      encoding: 'utf8',
    },
  );
  if (ci.status !== 0)
    throw new Error(`tilt ci exited ${ci.status}:\n${(ci.stdout + ci.stderr).slice(-4000)}`);
  const ciSeconds = now() - t;

  up = spawn(tool('tilt'), ['up', '--context', CONTEXT, '--port', `${tiltPort}`, '--stream'], {
    cwd: stack,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines = []; // [seconds, line] for the lines that mark the copy into the container
  let partial = '';
  const feed = (d) => {
    log += d.toString();
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) if (/backend +│ Will copy/.test(line)) lines.push([now(), line]);
  };
  up.stdout.on('data', feed);
  up.stderr.on('data', feed);
  t = now();
  while (!(backendIdle() && (await version())?.service === 'backend')) {
    if (up.exitCode !== null) throw new Error(`tilt up exited ${up.exitCode}:\n${log.slice(-4000)}`);
    if (now() - t > 300) throw new Error(`backend not ready under tilt up in 300 s:\n${log.slice(-4000)}`);
    await sleep(500);
  }
  const upSeconds = now() - t;

  const file = join(work, 'backend', 'src', 'app.ts');
  const original = readFileSync(file, 'utf8');
  if (!original.includes("service: 'backend' }"))
    throw new Error(
      `${file}: the version route no longer has "service: 'backend' }"; update the benchmark's edit`,
    );
  const before = backendPod();
  const results = [];
  for (let i = 1; i <= runs; i++) {
    const token = `bench-${i}-${Date.now()}`;
    const copies = lines.length;
    const t0 = now();
    writeFileSync(
      file,
      original.replace("service: 'backend' }", `service: 'backend', liveUpdate: '${token}' }`),
    );
    while ((await version())?.liveUpdate !== token) {
      if (now() - t0 > 120) throw new Error(`run ${i}: edit not visible in 120 s`);
      await sleep(100);
    }
    const total = now() - t0;
    const copy = lines[copies] ? lines[copies][0] - t0 : Number.NaN;
    results.push({ total, copy });
    console.log(
      `run ${i}: visible after ${total.toFixed(2)} s (Tilt copies the file at ${copy.toFixed(2)} s)${
        backendPod() === before ? '' : '  WARNING: the backend pod or container changed'
      }`,
    );
    // let the port-forward and the restarted server settle before the next edit
    while (!backendIdle()) await sleep(500);
    await sleep(2000);
  }

  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
    return `median ${median.toFixed(2)} s, min ${s[0].toFixed(2)} s, max ${s[s.length - 1].toFixed(2)} s`;
  };
  console.log('');
  console.log(`cluster (kind/create.sh, cluster.local.yaml, 1 node): ${create.toFixed(1)} s`);
  console.log(`tilt ci (build both services, deploy, smoke + contract): ${ciSeconds.toFixed(1)} s`);
  console.log(`tilt up until the backend answers: ${upSeconds.toFixed(1)} s`);
  console.log(`edit to visible in the backend's API, ${runs} runs: ${stats(results.map((r) => r.total))}`);
  console.log(`  of which edit to Tilt's copy into the container: ${stats(results.map((r) => r.copy))}`);
  console.log(
    `backend pod, container and image unchanged over all runs: ${backendPod() === before ? 'yes' : 'NO'}`,
  );
} catch (error) {
  const saved = join(tmpdir(), 'jetscale-tilt-bench.log');
  writeFileSync(saved, log);
  console.error(
    `tilt.mjs: ${error instanceof Error ? error.message : error}\n(tilt up's log so far: ${saved})`,
  );
  process.exitCode = 1;
} finally {
  cleanUp();
}
