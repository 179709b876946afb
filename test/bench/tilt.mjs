#!/usr/bin/env node
// Benchmark: Tilt's edit-to-visible latency on the rig, live update against a full image rebuild, in one Tilt
// session. The stack and copies of the services' sources (examples/backend and examples/frontend as ../backend
// and ../frontend; test/services/go-api as ../go-api when it exists) go to a temporary directory; the Kind
// cluster `jetscale-tilt` is made by kind/create.sh as the Tiltfile makes it; `tilt up` brings the stack up.
// Then, for each measured service:
//  - live update: a source file is edited N times (each edit a new token in one route's answer) and the route is
//    polled through Tilt's port-forward (services.<name>.dev.localPort) every 20 ms until the edit shows. Each
//    edit is timed from the write and split at Tilt's "Will copy" log line (its sync into the container). The
//    pod and container must stay the same (else it was no live update);
//  - full rebuild: M times, a line is added to the service's Dockerfile, in the stage Tilt builds, that copies the
//    edited file (with a new token) over the source in the image; timed until the new pod answers with it. The
//    source in the context is not edited: Tilt's image target does not watch the Dockerfile (a Dockerfile change
//    reloads the Tiltfile, which then rebuilds the image), so an edited source would be live-updated into the
//    old pod first and the token would show without any rebuild. Each line names its token: a new image each time.
// Every edit must be seen, in order: a lost edit (not seen in 120 s), an answer from an older edit after a newer
// one, or a rebuild that did not replace the pod fails the benchmark (exit 1) and no figure is printed for it.
// Ends with one line per service: `<svc>: live update median X s (min, max) vs full rebuild Y s: Zx`.
// Deletes the cluster at the end.
//   node test/bench/tilt.mjs [edits=10] [rebuilds=3]   (needs the rig: npm run rig:tools && npm run rig:up)
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import YAML from 'yaml';
import { root, stats, tool, toolDir } from './lib.mjs';

const POLL_MS = 20;
const EDIT_TIMEOUT_S = 120;
const [edits, rebuilds] = [
  ['edits', process.argv[2] ?? '10'],
  ['rebuilds', process.argv[3] ?? '3'],
].map(([name, raw]) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`tilt.mjs: ${name} must be a whole number of at least 1, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
});

const nodeImage = process.env.JETSCALE_RIG_NODE_IMAGE ?? 'jetscale-rig/kind-node:v1.34.4';
const CLUSTER = 'jetscale-tilt';
const CONTEXT = `kind-${CLUSTER}`;
const REGISTRY = 'localhost:5001';
const STAND_INS = ['jetscale-rig/postgres:15', 'jetscale-rig/redis:7'];
const GO_API = join(root, 'test', 'services', 'go-api');

/**
 * The measured services: where their source comes from, the file and text an edit changes, and the route (through
 * the port-forward of services.<name>.dev.localPort) whose JSON answer shows the edit's token.
 */
const services = [
  {
    name: 'backend',
    from: join(root, 'examples', 'backend'),
    file: 'src/app.ts',
    anchor: "service: 'backend' }",
    edit: (token) => `service: 'backend', edit: '${token}' }`,
    url: 'http://127.0.0.1:8081/api/version',
    port: 8080,
    token: (body) => body?.edit,
  },
];
// The Go API (test/services/go-api): its dev target rebuilds and restarts on change. Declared as the Tilt e2e
// declares it (test/chart/stacks/tilt-three.yaml: build, dev command, sync, writable paths, resources), less its
// migration and contract, which the edits do not need; forwarded to its dev.localPort.
if (existsSync(GO_API)) {
  const goApi = YAML.parse(readFileSync(join(root, 'test', 'chart', 'stacks', 'tilt-three.yaml'), 'utf8'))
    .services['go-api'];
  delete goApi.migrations;
  delete goApi.checks;
  goApi.dev.buildArgs = { GOPROXY: 'file:///src/.goproxy', GOLANG: 'jetscale-rig/golang:1.26' };
  services.push({
    name: 'go-api',
    from: GO_API,
    file: 'handlers.go',
    anchor: 'const helloMessage = "hello from go-api"',
    edit: (token) => `const helloMessage = "${token}"`,
    url: `http://127.0.0.1:${goApi.dev.localPort}/v1/hello`,
    port: goApi.port,
    // the unedited handler's message is no edit's token
    token: (body) => (body?.message === 'hello from go-api' ? undefined : body?.message),
    values: YAML.stringify({ 'go-api': goApi })
      .split('\n')
      .map((l) => (l ? `  ${l}` : l))
      .join('\n'),
    // The build fetches nothing: its modules go into the context as a file proxy, as test/rig/images/build.sh
    // prepares them (the rig's module cache, filled there by `go mod download`).
    prepare(dir) {
      const cache = join(
        process.env.JETSCALE_RIG_CACHE ?? join(homedir(), '.cache', 'jetscale-stack', 'rig'),
        'gomod',
        'services',
      );
      const r = spawnSync('go', ['mod', 'download'], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, GOMODCACHE: cache, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly' },
      });
      if (r.status !== 0)
        throw new Error(`go mod download for go-api exited ${r.status}:\n${r.stdout}${r.stderr}`);
      cpSync(join(cache, 'cache', 'download'), join(dir, '.goproxy'), { recursive: true });
    },
  });
} else {
  // Hook: when test/services/go-api lands, the block above measures it; nothing is printed for it meanwhile.
  console.log('(test/services/go-api does not exist here: only the Node backend is measured)');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now() / 1000;

const work = mkdtempSync(join(tmpdir(), 'tilt-bench-'));
const stack = join(work, 'stack');
mkdirSync(stack);
for (const f of ['Tiltfile', 'skaffold.yaml', 'charts', 'kind', 'dist/cli']) {
  cpSync(join(root, f), join(stack, f), { recursive: true });
}
const skip = (src) => !['node_modules', 'dist', 'coverage', '.goproxy'].includes(basename(src));
cpSync(join(root, 'examples', 'frontend'), join(work, 'frontend'), { recursive: true, filter: skip });
for (const svc of services) {
  cpSync(svc.from, join(work, svc.name), { recursive: true, filter: skip });
  svc.prepare?.(join(work, svc.name));
}
const values = join(work, 'rig-values.yaml');
writeFileSync(
  values,
  `postgres: { image: { repository: ${REGISTRY}/jetscale-rig/postgres, tag: "15", pullPolicy: IfNotPresent } }\n` +
    `redis: { image: { repository: ${REGISTRY}/jetscale-rig/redis, tag: "7", pullPolicy: IfNotPresent } }\n` +
    `services:\n${services.map((s) => s.values ?? '').join('')}`,
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
/** The service's pods and containers: the same before and after a live update, different after a rebuild. */
function pods(name) {
  const items = JSON.parse(
    must(tool('kubectl'), [
      '--context',
      CONTEXT,
      'get',
      'pods',
      '-l',
      `app.kubernetes.io/name=${name}`,
      '-o',
      'json',
    ]),
  ).items;
  return JSON.stringify(
    items.map((x) => [
      x.metadata.uid,
      (x.status.containerStatuses ?? []).map((c) => [c.containerID, c.restartCount]),
    ]),
  );
}
async function answer(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}
/** One GET on a new connection (no keep-alive): what a browser's first request after a restart meets. */
function freshAnswer(url) {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? JSON.parse(body) : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/**
 * Where the time after Tilt's copy goes: besides the measured poll (Tilt's port-forward, one kept-alive
 * connection, as a browser tab holds it), the same route through Tilt's port-forward on a new connection per
 * poll, and through a `kubectl port-forward` of our own to the pod. Each probe records when it first saw the
 * edit; printed as medians per service.
 */
const forwards = [];
async function ownForward(svc) {
  const child = spawn(
    tool('kubectl'),
    ['--context', CONTEXT, 'port-forward', `deployment/app-${svc.name}`, `:${svc.port}`],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  forwards.push(child);
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`kubectl port-forward to ${svc.name}: ${out}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return svc.url.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`);
}
function probe(svc, url, get, token, t0, until) {
  return (async () => {
    while (!until()) {
      if (svc.token(await get(url)) === token) return now() - t0;
      await sleep(POLL_MS);
    }
    return undefined;
  })();
}

function idle(name) {
  const r = spawnSync(tool('tilt'), ['get', 'uiresource', name, '--port', `${tiltPort}`, '-o', 'json'], {
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0) return false;
  const s = JSON.parse(r.stdout).status;
  return s.updateStatus === 'ok' && s.runtimeStatus === 'ok' && (s.buildHistory?.length ?? 0) > 0;
}

let up;
let log = '';
const marks = []; // [seconds, resource, line] of the Tilt log lines that split an edit
// undici and AbortSignal.timeout leave nothing ref'd while a poll waits: keep the process alive until the end.
const keepAlive = setInterval(() => {}, 1000);
function cleanUp() {
  for (const f of forwards) f.kill();
  if (up && up.exitCode === null) process.kill(-up.pid, 'SIGTERM');
  if (clusters().includes(CLUSTER)) must(tool('kind'), ['delete', 'cluster', '--name', CLUSTER]);
  rmSync(work, { recursive: true, force: true });
  clearInterval(keepAlive);
}

/**
 * The Dockerfile of `svc` with one line added at the end of the stage Tilt builds (as its plan printed it in
 * Tilt's log: `<svc>: building … target <stage>)`): COPY `from` (in the context) over the service's edited file.
 */
function withCopy(svc, text, from) {
  const m = new RegExp(`^${svc.name}: building .* target (.+)\\)$`, 'm').exec(log);
  if (!m)
    throw new Error(`${svc.name}: Tilt's log names no target stage ("${svc.name}: building … target …)")`);
  const target = m[1] === '(the last stage)' ? undefined : m[1];
  const lines = text.split('\n');
  const froms = lines.flatMap((line, i) => {
    const f = /^\s*FROM\s.*?(?:\s+AS\s+([\w.-]+))?\s*$/i.exec(line);
    return f ? [{ i, stage: f[1] }] : [];
  });
  const at = target === undefined ? froms.length - 1 : froms.findIndex((f) => f.stage === target);
  if (at < 0) throw new Error(`${svc.name}: its Dockerfile has no stage ${JSON.stringify(target)}`);
  const end = at + 1 < froms.length ? froms[at + 1].i : lines.length;
  lines.splice(end, 0, `COPY ${from} ${svc.file}`, '');
  return lines.join('\n');
}

/**
 * Writes the edit (for a rebuild, into the image only, through the Dockerfile), then polls the route every 20 ms until it
 * answers with the token. Until then only `previous` may answer; anything else is an edit out of order.
 */
async function measure(svc, token, previous, rebuild) {
  const file = join(work, svc.name, svc.file);
  const count = marks.length;
  const t0 = now();
  const edited = svc.original.replace(svc.anchor, svc.edit(token));
  if (rebuild) {
    // .tilt-bench: a dot directory, which Go's ./... and our dev runner's source watch leave alone
    const from = `.tilt-bench/${token}/${basename(svc.file)}`;
    mkdirSync(join(work, svc.name, dirname(from)), { recursive: true });
    writeFileSync(join(work, svc.name, from), edited);
    writeFileSync(join(work, svc.name, 'Dockerfile'), withCopy(svc, svc.dockerfile, from));
  } else writeFileSync(file, edited);
  let seen = false;
  const probes = rebuild
    ? []
    : [
        probe(svc, svc.url, freshAnswer, token, t0, () => seen || now() - t0 > EDIT_TIMEOUT_S),
        probe(svc, svc.ownUrl, freshAnswer, token, t0, () => seen || now() - t0 > EDIT_TIMEOUT_S),
      ];
  for (;;) {
    const got = svc.token(await answer(svc.url));
    if (got === token) break;
    if (got !== undefined && got !== previous)
      throw new Error(
        `${svc.name} ${token}: ${svc.url} answered edit ${JSON.stringify(got)}, expected ${previous} or ${token} (out of order)`,
      );
    if (now() - t0 > EDIT_TIMEOUT_S)
      throw new Error(`${svc.name} ${token}: not seen in ${EDIT_TIMEOUT_S} s (lost)`);
    if (up.exitCode !== null) throw new Error(`tilt up exited ${up.exitCode}`);
    await sleep(POLL_MS);
  }
  const total = now() - t0;
  // the probes get as long again to see it (they may be slower), then stop
  const [fresh, own] = await Promise.all(
    probes.map((p) => Promise.race([p, sleep(Math.max(2000, total * 1000)).then(() => undefined)])),
  );
  seen = true;
  const mark = marks
    .slice(count)
    .find(
      ([, resource, line]) =>
        resource === svc.name && (rebuild ? /Building Dockerfile/i : /Will copy/).test(line),
    );
  return { total, split: mark ? mark[0] - t0 : undefined, fresh, own };
}

const fmt = (x) => `${x.toFixed(2)} s`;

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
  console.log(`cluster (kind/create.sh, cluster.local.yaml, 1 node): ${(now() - t).toFixed(1)} s`);
  for (const image of STAND_INS) {
    must('docker', ['tag', image, `${REGISTRY}/${image}`]);
    must('docker', ['push', '-q', `${REGISTRY}/${image}`]);
  }

  up = spawn(tool('tilt'), ['up', '--context', CONTEXT, '--port', `${tiltPort}`, '--stream'], {
    cwd: stack,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let partial = '';
  const feed = (d) => {
    log += d.toString();
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      const m = /^\s*([\w.-]+)\s+│\s?(.*)$/.exec(line);
      if (m && /Will copy|Building Dockerfile/i.test(m[2])) marks.push([now(), m[1], m[2]]);
    }
  };
  up.stdout.on('data', feed);
  up.stderr.on('data', feed);
  t = now();
  for (const svc of services) {
    svc.original = readFileSync(join(work, svc.name, svc.file), 'utf8');
    svc.dockerfile = readFileSync(join(work, svc.name, 'Dockerfile'), 'utf8');
    if (!svc.original.includes(svc.anchor))
      throw new Error(
        `${svc.name}/${svc.file} no longer contains ${JSON.stringify(svc.anchor)}: update the benchmark's edit`,
      );
    while (!(idle(svc.name) && (await answer(svc.url)))) {
      if (up.exitCode !== null) throw new Error(`tilt up exited ${up.exitCode}`);
      if (now() - t > 600) throw new Error(`${svc.name} not serving under tilt up in 600 s`);
      await sleep(500);
    }
  }
  console.log(`tilt up until every measured service answers: ${(now() - t).toFixed(1)} s`);

  const summary = [];
  for (const svc of services) {
    let previous;
    const live = [];
    const before = pods(svc.name);
    svc.ownUrl = await ownForward(svc);
    for (let i = 1; i <= edits; i++) {
      const token = `live-${i}`;
      const r = await measure(svc, token, previous, false);
      if (pods(svc.name) !== before)
        throw new Error(`${svc.name} ${token}: the pod or container changed, so this was no live update`);
      live.push(r);
      previous = token;
      console.log(
        `${svc.name} edit ${i}: visible after ${fmt(r.total)}${r.split === undefined ? ' (no Tilt copy line seen)' : `, Tilt's copy at ${fmt(r.split)}`}`,
      );
      while (!idle(svc.name)) await sleep(200);
      await sleep(1000);
    }
    const full = [];
    for (let i = 1; i <= rebuilds; i++) {
      const token = `rebuild-${i}`;
      const podsBefore = pods(svc.name);
      const r = await measure(svc, token, previous, true);
      if (pods(svc.name) === podsBefore)
        throw new Error(`${svc.name} ${token}: the pod did not change, so this was no full rebuild`);
      full.push(r);
      previous = token;
      console.log(
        `${svc.name} rebuild ${i}: visible after ${fmt(r.total)}${r.split === undefined ? '' : `, Tilt's image build began at ${fmt(r.split)}`}`,
      );
      while (!idle(svc.name)) await sleep(500);
      await sleep(2000);
    }
    const l = stats(live.map((r) => r.total));
    const f = stats(full.map((r) => r.total));
    const copies = live.filter((r) => r.split !== undefined).map((r) => r.split);
    if (copies.length)
      console.log(
        `${svc.name}: Tilt's copy, ${copies.length} of ${edits} edits: median ${fmt(stats(copies).median)} after the save`,
      );
    for (const [what, key] of [
      ["Tilt's port-forward, a new connection per poll", 'fresh'],
      ['our own kubectl port-forward, a new connection per poll', 'own'],
    ]) {
      const seenBy = live.filter((r) => r[key] !== undefined).map((r) => r[key]);
      console.log(
        `${svc.name}: through ${what}: ${seenBy.length ? `median ${fmt(stats(seenBy).median)} (min ${fmt(stats(seenBy).min)}, max ${fmt(stats(seenBy).max)}), ` : ''}seen in ${seenBy.length} of ${edits} edits`,
      );
    }
    summary.push(
      `${svc.name}: live update median ${fmt(l.median)} (min ${fmt(l.min)}, max ${fmt(l.max)}) vs full rebuild ${fmt(f.median)}: ${(f.median / l.median).toFixed(1)}x`,
    );
  }
  console.log(`\n${edits} edits and ${rebuilds} rebuilds per service, every one seen, in order:`);
  for (const line of summary) console.log(line);
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
