/**
 * Live under faults, on the live-stage files' 1+3-node cluster (rig.ts liveClusterUp) with values.live.yaml as
 * the CLI deploys it (rig.ts cliDeployLive). Each fault runs under a bounded load of idempotent GETs from this
 * host through the rig's ingress controller (rig.ts load: RATE requests a second, the page and /api/version in
 * turn), and every request is counted and printed (sent, succeeded, failed):
 *  - a worker drained (`kubectl drain`, which evicts through the PodDisruptionBudgets): no request fails, no
 *    service ever has fewer healthy pods than its PDB allows (watched, not sampled), and the evicted pods come
 *    back spread over the remaining workers. The drained worker is one that runs neither the in-cluster
 *    Postgres nor Redis: each is a single pod on a node-local volume (live uses managed ones; values.live.yaml),
 *    so draining its node takes it away whatever the chart does;
 *  - a backend pod and a frontend pod killed at once (deleted with no grace period, as a pod-kill fault does):
 *    no request fails; the ingress's retries on another endpoint (its log) are counted and printed;
 *  - data survives: rows written through the API are all there after the Postgres pod is deleted, and after the
 *    release is uninstalled and installed again (the kept volume);
 *  - a live deploy whose new backend image never becomes ready fails naming the Deployment, the CLI rolls the
 *    release back with Helm, and the old version serves every request throughout.
 * The cluster is left usable for the next file: every node uncordoned, the release deployed and healthy.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findTool } from '../support/tools.js';
import {
  type Client,
  cliDeployLive,
  ingressClient,
  ingressRetries,
  LIVE,
  LIVE_CLUSTER,
  type LoadResults,
  liveClusterUp,
  liveKubectl,
  livePlatform,
  load,
  loadSummary,
  rigIngress,
  rigKubeconfig,
  rigSkipReason,
  runProcess,
} from './rig.js';

const skip = rigSkipReason();

const NS = LIVE.namespace;
const RELEASE = LIVE.release;
const SERVICES = ['backend', 'frontend'] as const;
/** Requests started per second by the load (at most WORKERS in flight). */
const RATE = 20;
const WORKERS = 8;
/** A SHA the failed deploy brings: /api/version never answers it while the old backend keeps serving. */
const NEW_SHA = 'badbadbadbadbadbadbadbadbadbadbadbadbad0';
const kubeconfig = rigKubeconfig(LIVE_CLUSTER);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Pod {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: Array<{ image: string }> };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

async function pods(): Promise<Pod[]> {
  return (JSON.parse(await liveKubectl(['get', 'pods', '-n', NS, '-o', 'json'])) as { items: Pod[] }).items;
}

/** Ready and not being deleted: what a PodDisruptionBudget counts as healthy. */
const healthy = (p: Pod) =>
  !p.metadata.deletionTimestamp &&
  (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const serviceOf = (p: Pod) => p.metadata.labels?.['app.kubernetes.io/name'] ?? '';

/** Until every service has `n` healthy pods and none terminating (a rollout or a rescheduling is over). */
async function settled(n = 3, timeoutMs = 300_000): Promise<Pod[]> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const all = (await pods()).filter((p) => (SERVICES as readonly string[]).includes(serviceOf(p)));
    const counts = SERVICES.map((s) => all.filter((p) => serviceOf(p) === s && healthy(p)).length);
    last = `${SERVICES.map((s, i) => `${s} ${counts[i]} healthy`).join(', ')}, ${all.filter((p) => p.metadata.deletionTimestamp).length} terminating`;
    if (counts.every((c) => c === n) && all.every((p) => healthy(p))) return all;
    await sleep(2000);
  }
  throw new Error(
    `the release did not settle at ${n} healthy pods per service within ${timeoutMs / 1000} s: ${last}`,
  );
}

/**
 * Watches the release's service pods (one `kubectl get pods --watch`, every change) and keeps, per service, the
 * fewest healthy pods seen at any moment after arm() (before it, the watch is still listing the pods).
 */
function watchHealthy() {
  const child = spawn(findTool('kubectl') as string, [
    '--kubeconfig',
    kubeconfig,
    'get',
    'pods',
    '-n',
    NS,
    '--watch',
    '--output-watch-events',
    '-o',
    'jsonpath={.type}|{.object.metadata.name}|{.object.metadata.labels.app\\.kubernetes\\.io/name}|{.object.metadata.deletionTimestamp}|{.object.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
  ]);
  const state = new Map<string, { service: string; healthy: boolean }>();
  const min: Record<string, number> = {};
  let armed = false;
  const count = (s: string) => [...state.values()].filter((v) => v.service === s && v.healthy).length;
  let buffer = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      const [type, name, service, deleting, ready] = line.split('|');
      if (!name || !(SERVICES as readonly string[]).includes(service ?? '')) continue;
      if (type === 'DELETED') state.delete(name);
      else state.set(name, { service: service as string, healthy: !deleting && ready === 'True' });
      if (armed) for (const s of SERVICES) min[s] = Math.min(min[s] ?? count(s), count(s));
    }
  });
  return {
    arm: () => {
      armed = true;
      for (const s of SERVICES) min[s] = count(s);
      return { ...min };
    },
    stop: () => {
      child.kill();
      return { ...min };
    },
  };
}

/** The whole items table, in id order, as Postgres itself reports it (not through the app): count and digest. */
async function itemsTable(): Promise<string> {
  return (
    await liveKubectl([
      'exec',
      '-n',
      NS,
      `${RELEASE}-postgres-0`,
      '-c',
      'postgres',
      '--',
      'sh',
      '-c',
      'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc ' +
        `"SELECT count(*) || ' rows, md5 ' || md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM items"`,
    ])
  ).trim();
}

async function helmHistory(): Promise<Array<{ revision: number; status: string; description: string }>> {
  const out = await runProcess(findTool('helm') as string, [
    'history',
    RELEASE,
    '--namespace',
    NS,
    '--kubeconfig',
    kubeconfig,
    '-o',
    'json',
  ]);
  return out.code === 0 ? JSON.parse(out.stdout) : [];
}

const figures: string[] = [];
function report(scenario: string, r: LoadResults, extra = ''): void {
  const line = `live faults: ${scenario}: ${loadSummary(r)} (${RATE} req/s through the ingress)${extra}`;
  figures.push(line);
  console.log(line);
}

describe.skipIf(skip)(
  `live under faults on the 1+3-node rig cluster${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let client: Client;
    let workers: string[] = [];

    /** The live deploy every scenario starts from (the same SHA and images as live.test.ts: no change if it ran). */
    const deploy = (args: string[] = [], images = LIVE.images) =>
      cliDeployLive({ sha: LIVE.sha, images: { ...images }, args });

    async function version(): Promise<string> {
      const r = await client.get(LIVE.host, '/api/version');
      expect(r.status, r.body).toBe(200);
      return (JSON.parse(r.body) as { sha: string }).sha;
    }

    beforeAll(async () => {
      await liveClusterUp();
      const ingress = rigIngress(LIVE_CLUSTER);
      client = ingressClient(ingress);
      await livePlatform(ingress);
      const d = await deploy();
      expect(d.code, `${d.stdout}\n${d.stderr}`).toBe(0);
      const nodes = JSON.parse(await liveKubectl(['get', 'nodes', '-o', 'json'])).items as Array<{
        metadata: { name: string; labels: Record<string, string> };
      }>;
      workers = nodes
        .filter((n) => !('node-role.kubernetes.io/control-plane' in n.metadata.labels))
        .map((n) => n.metadata.name);
      expect(workers).toHaveLength(3);
      await settled();
    }, 1_200_000);

    afterAll(async () => {
      // Whatever happened above, the next file gets a usable cluster: no node cordoned, the release deployed.
      for (const w of workers) await liveKubectl(['uncordon', w]).catch(() => undefined);
      if (!(await helmHistory()).some((r) => r.status === 'deployed')) await deploy();
      client?.close();
      console.log(figures.join('\n'));
    }, 900_000);

    test('drain a worker under load: zero failed requests, the PDB holds, pods come back spread over the remaining nodes', async () => {
      const before = await settled();
      const stateful = new Set(
        (await pods())
          .filter((p) => /-(postgres|redis)-0$/.test(p.metadata.name))
          .map((p) => p.spec.nodeName as string),
      );
      const drained = workers.find((w) => !stateful.has(w)) as string;
      const rest = workers.filter((w) => w !== drained);
      const onDrained = before.filter((p) => p.spec.nodeName === drained);
      expect(onDrained.map(serviceOf).sort(), `pods on ${drained} before the drain`).toEqual([...SERVICES]);
      const pdbs = JSON.parse(await liveKubectl(['get', 'pdb', '-n', NS, '-o', 'json'])).items as Array<{
        metadata: { name: string };
        spec: { maxUnavailable: number };
      }>;
      for (const s of SERVICES)
        expect(pdbs.find((p) => p.metadata.name === `${RELEASE}-${s}`)?.spec.maxUnavailable).toBe(1);

      const watch = watchHealthy();
      await sleep(3000);
      expect(watch.arm(), 'healthy pods when the watch is armed').toEqual({ backend: 3, frontend: 3 });
      const traffic = load(client, LIVE.host, { workers: WORKERS, ratePerSecond: RATE });
      await sleep(3000);
      let after: Pod[] = [];
      try {
        await liveKubectl([
          'drain',
          drained,
          '--ignore-daemonsets',
          '--delete-emptydir-data',
          '--timeout=300s',
        ]);
        after = await settled();
        await sleep(3000);
      } finally {
        const results = await traffic.stop();
        const min = watch.stop();
        await liveKubectl(['uncordon', drained]);
        report(`drain a worker (${drained})`, results, `; fewest healthy pods: ${JSON.stringify(min)}`);
        expect(results.failed, results.failed.slice(0, 20).join('\n')).toEqual([]);
        expect(results.sent).toBeGreaterThan(RATE * 5);
        // Each service lost exactly one pod at a time to the drain: never fewer than 3 - maxUnavailable.
        expect(min).toEqual({ backend: 2, frontend: 2 });
      }
      for (const s of SERVICES) {
        const mine = after.filter((p) => serviceOf(p) === s);
        const nodes = new Set(mine.map((p) => p.spec.nodeName));
        expect([...nodes].sort(), `${s} pods after the drain`).toEqual([...rest].sort());
      }
    });

    test('kill a backend pod and a frontend pod at once under load: zero failed requests beyond what the ingress retry absorbs', async () => {
      const before = await settled();
      const victims = SERVICES.map((s) => before.find((p) => serviceOf(p) === s)?.metadata.name as string);
      const traffic = load(client, LIVE.host, { workers: WORKERS, ratePerSecond: RATE });
      await sleep(3000);
      const killedAt = new Date(Date.now() - 1000);
      let results: LoadResults;
      try {
        await liveKubectl([
          'delete',
          'pod',
          '-n',
          NS,
          ...victims,
          '--grace-period=0',
          '--force',
          '--wait=false',
        ]);
        await sleep(2000);
        const after = await settled();
        for (const v of victims) expect(after.map((p) => p.metadata.name)).not.toContain(v);
        await sleep(3000);
      } finally {
        results = await traffic.stop();
      }
      const retries = await ingressRetries(kubeconfig, killedAt);
      report(
        `kill a backend pod and a frontend pod at once (${victims.join(', ')})`,
        results,
        `; retried by the ingress on another endpoint: ${retries}`,
      );
      expect(results.failed, results.failed.slice(0, 20).join('\n')).toEqual([]);
      expect(results.sent).toBeGreaterThan(RATE * 5);
    });

    test('data survives: every row written before is there after the Postgres pod is deleted, and after the release is uninstalled and reinstalled', async () => {
      const names = Array.from({ length: 20 }, (_, i) => `data-survives-${Date.now()}-${i}`);
      for (const name of names) {
        const r = await client.post(LIVE.host, '/api/items', { name });
        expect(r.status, `POST /api/items ${name}: ${r.body}`).toBe(201);
      }
      const listed = async () => {
        const r = await client.get(LIVE.host, '/api/items');
        expect(r.status, r.body).toBe(200);
        return (JSON.parse(r.body) as { items: Array<{ name: string }> }).items.map((i) => i.name);
      };
      expect(await listed()).toEqual(expect.arrayContaining(names));
      const table = await itemsTable();
      expect(table).toMatch(/^\d+ rows, md5 [0-9a-f]{32}$/);

      // The Postgres pod deleted: its StatefulSet brings it back on the same volume.
      const uid = JSON.parse(
        await liveKubectl(['get', 'pod', '-n', NS, `${RELEASE}-postgres-0`, '-o', 'json']),
      ).metadata.uid;
      await liveKubectl(['delete', 'pod', '-n', NS, `${RELEASE}-postgres-0`, '--wait=true']);
      await liveKubectl(['rollout', 'status', `statefulset/${RELEASE}-postgres`, '-n', NS, '--timeout=300s']);
      expect(
        JSON.parse(await liveKubectl(['get', 'pod', '-n', NS, `${RELEASE}-postgres-0`, '-o', 'json']))
          .metadata.uid,
      ).not.toBe(uid);
      expect(await itemsTable()).toBe(table);
      await settled();
      expect(await listed()).toEqual(expect.arrayContaining(names));

      // The release uninstalled (its kept volume claims stay), then installed again by the CLI.
      const helm = findTool('helm') as string;
      const un = await runProcess(helm, [
        'uninstall',
        RELEASE,
        '--namespace',
        NS,
        '--kubeconfig',
        kubeconfig,
        '--wait',
        '--timeout',
        '300s',
      ]);
      expect(un.code, un.stderr).toBe(0);
      expect(await helmHistory()).toEqual([]);
      const pvcs = JSON.parse(await liveKubectl(['get', 'pvc', '-n', NS, '-o', 'json'])).items as Array<{
        metadata: { name: string };
        status: { phase: string };
      }>;
      expect(pvcs.map((p) => [p.metadata.name, p.status.phase])).toContainEqual([
        `${RELEASE}-postgres-data`,
        'Bound',
      ]);
      const d = await deploy();
      expect(d.code, `${d.stdout}\n${d.stderr}`).toBe(0);
      await settled();
      expect(await itemsTable()).toBe(table);
      expect(await listed()).toEqual(expect.arrayContaining(names));
      figures.push(
        `live faults: data survives: ${names.length} rows written through the API; the table (${table}) unchanged after the Postgres pod was deleted and after the release was uninstalled and reinstalled`,
      );
    });

    test('a failed live deploy is rolled back: the old version keeps serving throughout (zero failed requests), the deploy fails with the reason', async () => {
      await settled();
      expect(await version()).toBe(LIVE.sha);
      const deployed = (await helmHistory()).filter((r) => r.status === 'deployed');
      expect(deployed).toHaveLength(1);
      const good = deployed[0]?.revision as number;

      const traffic = load(client, LIVE.host, { workers: WORKERS, ratePerSecond: RATE });
      await sleep(3000);
      let results: LoadResults;
      let bad: Awaited<ReturnType<typeof cliDeployLive>>;
      try {
        // The worker test service as the backend: it runs, but serves no port, so it never becomes ready.
        bad = await cliDeployLive({
          sha: NEW_SHA,
          images: { ...LIVE.images, backend: `${LIVE.registry}/worker:rig` },
          args: ['--timeout', '60s'],
        });
        await sleep(3000);
      } finally {
        results = await traffic.stop();
      }
      // Skaffold's own words on the Deployment (the CLI quotes its last lines of output)
      const reason =
        bad.stderr
          .split('\n')
          .filter((l) => l.includes(`${RELEASE}-backend`))
          .at(-1) ?? '(no line names the backend)';
      report(
        `a failed live deploy rolled back (deploy ${bad.seconds.toFixed(0)} s; ${reason.trim()})`,
        results,
        `; /api/version answered ${[...results.shas].join(', ')}`,
      );
      const out = `${bad.stdout}\n${bad.stderr}`;
      expect(bad.code, out).toBe(1);
      expect(out).toMatch(new RegExp(`deployment/${RELEASE}-backend`));
      expect(out).toContain(
        `rolling the release ${RELEASE} (namespace ${NS}) back from revision ${good + 1} to revision ${good}`,
      );
      expect(out).toContain(
        `Rolled back: the release ${RELEASE} (namespace ${NS}) runs revision ${good} again`,
      );
      expect(results.failed, results.failed.slice(0, 20).join('\n')).toEqual([]);
      expect(results.sent).toBeGreaterThan(RATE * 30);
      // The old backend answered every /api/version, before, during and after the failed deploy.
      expect(results.shas).toEqual(new Set([LIVE.sha]));

      const history = await helmHistory();
      expect(history.at(-1)).toMatchObject({
        revision: good + 2,
        status: 'deployed',
        description: `Rollback to ${good}`,
      });
      const after = await settled();
      for (const p of after)
        expect(p.spec.containers[0]?.image).toBe(LIVE.images[serviceOf(p) as 'backend' | 'frontend']);
      expect(await version()).toBe(LIVE.sha);
    });
  },
);
