#!/usr/bin/env node
// The Node examples' dev targets, container side, with docker only (no Kubernetes, no Tilt): how long from a
// source file landing in the container to the changed response being served. The example's dev target is
// built on the rig's Node image and run with a throwaway Postgres and Redis on a docker network; each edit is
// applied exactly as Tilt's live update applies it (a tar stream of the changed file extracted in the container,
// replacing the file) and the edited route is polled every 20 ms until it answers with the edit.
// Every edit must be seen, in order: a lost edit, or an answer from an older edit after a newer one was seen,
// fails the run (exit 1) instead of printing a figure.
//   node test/services/check-node-dev.mjs [backend|frontend] [edits=10]   (needs docker: npm run rig:up)
// Environment: CHECK_NODE_DEV_SETTLE_MS (pause after each visible edit, default 300); CHECK_NODE_DEV_LOGS=1
// prints the container's log at the end.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
// Per example: the file edited, the text in it the edit extends, and the route that shows the edit.
const EXAMPLES = {
  backend: {
    file: 'src/app.ts',
    anchor: "service: 'backend' }",
    edit: (token) => `service: 'backend', edit: '${token}' }`,
    path: '/api/version',
    data: true,
  },
  frontend: {
    file: 'src/server/app.ts',
    anchor: `'{"status":"ok"}'`,
    edit: (token) => `'{"status":"ok","edit":"${token}"}'`,
    path: '/healthz',
    data: false,
    env: ['BACKEND_URL=http://backend:8080'], // required; /healthz never calls it
  },
};
const BASE_IMAGE = 'jetscale-rig/node:24';
const POLL_MS = 20;
const EDIT_TIMEOUT_S = 30;

const [name = 'backend', editsArg = '10'] = process.argv.slice(2);
const example = EXAMPLES[name];
if (!example)
  fail(`example must be one of ${Object.keys(EXAMPLES).join(', ')}, got ${JSON.stringify(name)}`, 2);
const edits = Number(editsArg);
if (!Number.isInteger(edits) || edits < 1)
  fail(`edits must be a whole number of at least 1, got ${JSON.stringify(editsArg)}`, 2);
const settleMs = Number(process.env.CHECK_NODE_DEV_SETTLE_MS ?? 300);

function fail(message, code = 1) {
  console.error(`check-node-dev: ${message}`);
  process.exit(code);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now() / 1000;
function docker(args, input) {
  const r = spawnSync('docker', args, { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

// The engine and the rig's images come up with `npm run rig:up`: wait for them rather than fail early.
for (const started = now(); ; await sleep(2000)) {
  const info = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
  if (info && spawnSync('docker', ['image', 'inspect', BASE_IMAGE], { stdio: 'ignore' }).status === 0) break;
  if (now() - started > 900)
    fail(
      `${info ? `the image ${BASE_IMAGE} is missing` : 'docker does not answer'} after 15 minutes (npm run rig:up)`,
    );
}

const id = `jetscale-check-node-dev-${process.pid}`;
const image = `${id}:dev`;
const made = { containers: [], network: false, image: false };
const work = mkdtempSync(join(tmpdir(), 'check-node-dev-'));
let ctr;

// undici leaves a socket unref'd while it waits for an answer, and AbortSignal.timeout's timer is unref'd too:
// without this the process could end mid-poll with its top-level await unsettled (exit 13, no clean-up).
const keepAlive = setInterval(() => {}, 1000);

async function answer(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}

try {
  const context = join(root, 'examples', name);
  let t = now();
  docker(['build', '-q', '--target', 'dev', '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '-t', image, context]);
  made.image = true;
  console.log(`built ${name}'s dev target in ${(now() - t).toFixed(1)} s`);
  docker(['network', 'create', id]);
  made.network = true;
  const env = (example.env ?? []).flatMap((e) => ['-e', e]);
  if (example.data) {
    for (const [alias, img, extra] of [
      ['postgres', 'jetscale-rig/postgres:15', ['-e', 'POSTGRES_PASSWORD=check']],
      ['redis', 'jetscale-rig/redis:7', []],
    ]) {
      made.containers.push(
        docker([
          'run',
          '-d',
          '--network',
          id,
          '--network-alias',
          alias,
          '--name',
          `${id}-${alias}`,
          ...extra,
          img,
        ]),
      );
    }
    env.push(
      '-e',
      'PGHOST=postgres',
      '-e',
      'PGUSER=postgres',
      '-e',
      'PGPASSWORD=check',
      '-e',
      'PGDATABASE=postgres',
    );
    env.push('-e', 'REDIS_URL=redis://redis:6379/0');
  }
  ctr = docker([
    'run',
    '-d',
    '--network',
    id,
    '--name',
    `${id}-${name}`,
    '-p',
    '127.0.0.1::8080',
    ...env,
    image,
  ]);
  made.containers.push(ctr);
  const port = docker(['port', ctr, '8080/tcp']).split('\n')[0].split(':').pop();
  const url = `http://127.0.0.1:${port}${example.path}`;
  t = now();
  while (!(await answer(url))) {
    if (docker(['inspect', '-f', '{{.State.Running}}', ctr]) !== 'true')
      throw new Error(`the ${name} container stopped:\n${docker(['logs', ctr])}`);
    if (now() - t > 120) throw new Error(`${url} did not answer in 120 s:\n${docker(['logs', ctr])}`);
    await sleep(200);
  }
  if (example.data) {
    const ready = `http://127.0.0.1:${port}/readyz`;
    while ((await answer(ready))?.status !== 'ready') {
      if (now() - t > 120) throw new Error(`${ready} not ready in 120 s:\n${docker(['logs', ctr])}`);
      await sleep(200);
    }
  }
  console.log(`${name} answers on ${url} after ${(now() - t).toFixed(1)} s`);

  const original = readFileSync(join(context, example.file), 'utf8');
  if (!original.includes(example.anchor))
    throw new Error(
      `${example.file} no longer contains ${JSON.stringify(example.anchor)}: update this check's edit`,
    );
  mkdirSync(join(work, dirname(example.file)), { recursive: true });
  const results = [];
  let previous; // the token of the last edit seen; until the next edit shows, only it may answer
  for (let i = 1; i <= edits; i++) {
    const token = `edit-${i}`;
    writeFileSync(join(work, example.file), original.replace(example.anchor, example.edit(token)));
    // As Tilt: tar the changed file (path relative to the sync target) and unpack it over the old one.
    const tar = spawnSync('tar', ['-c', '-C', work, example.file], { maxBuffer: 64 << 20 });
    if (tar.status !== 0) throw new Error(`tar exited ${tar.status}: ${tar.stderr}`);
    const t0 = now();
    const x = spawnSync('docker', ['exec', '-i', ctr, 'tar', '-x', '-C', '/app'], { input: tar.stdout });
    if (x.status !== 0) throw new Error(`edit ${i}: tar -x in the container exited ${x.status}: ${x.stderr}`);
    const landed = now() - t0;
    for (;;) {
      const got = await answer(url);
      if (got?.edit === token) break;
      if (got && got.edit !== previous)
        throw new Error(
          `edit ${i}: the route answered ${JSON.stringify(got)}, expected edit ${token} or ${previous}`,
        );
      if (now() - t0 > EDIT_TIMEOUT_S)
        throw new Error(
          `edit ${i} not visible in ${EDIT_TIMEOUT_S} s (lost):\n${docker(['logs', '--tail', '40', ctr])}`,
        );
      await sleep(POLL_MS);
    }
    const visible = now() - t0;
    previous = token;
    results.push({ landed, visible, after: visible - landed });
    console.log(
      `edit ${i}: file landed at ${landed.toFixed(3)} s, visible at ${visible.toFixed(3)} s (container side ${(visible - landed).toFixed(3)} s)`,
    );
    await sleep(settleMs);
  }
  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
    return `median ${median.toFixed(3)} s, min ${s[0].toFixed(3)} s, max ${s[s.length - 1].toFixed(3)} s`;
  };
  console.log(`\n${name}: ${edits} edits, every one seen, in order`);
  console.log(`  file landed -> changed response served: ${stats(results.map((r) => r.after))}`);
  console.log(`  tar stream into the container:          ${stats(results.map((r) => r.landed))}`);
} catch (error) {
  console.error(`check-node-dev: ${error instanceof Error ? error.message : error}`);
  process.exitCode = 1;
} finally {
  if (ctr && process.env.CHECK_NODE_DEV_LOGS === '1') {
    const logs = spawnSync('docker', ['logs', ctr], { encoding: 'utf8' });
    console.log(`--- the ${name} container's log:\n${logs.stdout}${logs.stderr}`);
  }
  for (const c of made.containers.reverse()) spawnSync('docker', ['rm', '-f', c], { stdio: 'ignore' });
  if (made.network) spawnSync('docker', ['network', 'rm', id], { stdio: 'ignore' });
  if (made.image) spawnSync('docker', ['rmi', image], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
  clearInterval(keepAlive);
}
