/**
 * The fork preview's two stages under act on the rig: a service repository's fork-build.yml (stage 1: the fork's
 * images built with no secrets, stored as the run's artifacts) and fork-preview.yml (stage 2: the workflow_run of
 * that build, which asks the loopback GitHub server about the label, its labeller and the head, then deploys the
 * images or says why not). GitHub's part is played by the test: it creates each run on the GitHub double before
 * act runs it, serves the artifacts act's upload stand-in stored (test/support/act.ts stageArtifactStore), and
 * sends stage 2 the workflow_run event of the finished build.
 *
 * The rig's nodes do not pull from the local registry, so a `docker` wrapper on act's PATH follows each real
 * `docker push` with `kind load docker-image` of the pushed image into the rig: what the cluster pulling from the
 * registry does on GitHub.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ActRun,
  actHostFlags,
  actWithJobWorkflow,
  commitServiceRepo,
  pullRequestEvent,
  runActOnHost,
  stageArtifactStore,
  stageStack,
} from '../support/act.js';
import { workflowRunEvent } from '../support/fork.js';
import type { WorkflowRunFacts } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { node24 } from '../support/node24.js';
import { findTool, repoRoot, toolCacheDir } from '../support/tools.js';
import {
  ingressClient,
  RIG_IMAGES,
  RIG_VALUES,
  rigClusterSkipReason,
  rigIngress,
  rigKubeconfig,
  rigKubectl,
  rigSkipReason,
} from './rig.js';

const CLUSTER = 'jetscale-rig';
const FORK = 'mallory/demo';
const TOKEN = 'ghs_act-fork-preview-token';
const REGISTRY = 'localhost:5001/jetscale-fork-e2e';
const ACT_TIMEOUT_MS = 12 * 60_000;
/** The pull requests of the scenarios, one each (no other e2e file uses 401-404). */
const PR = { unlabelled: 401, writer: 402, nonWriter: 403, pushed: 404 } as const;
const sha = (pr: number, n = 1) => `${pr}${n}`.padEnd(40, 'c');

const act = actWithJobWorkflow();
const skip = rigSkipReason() ?? act.skip ?? rigClusterSkipReason();

function namespaceExists(ns: string): boolean {
  const r = rigKubectl('get', 'namespace', ns, '-o', 'name', '--ignore-not-found');
  if (r.status !== 0) throw new Error(`kubectl get namespace ${ns}: ${r.stderr}`);
  return r.stdout.trim() !== '';
}

/** Removes this file's namespaces a failed earlier run may have left, nothing else. */
function removeOurNamespaces(): void {
  for (const pr of Object.values(PR)) {
    const ns = `jetscale-pr-${pr}`;
    if (!namespaceExists(ns)) continue;
    const r = rigKubectl('delete', 'namespace', ns, '--wait=true', '--timeout=180s');
    if (r.status !== 0) throw new Error(`kubectl delete namespace ${ns}: ${r.stderr}`);
  }
}

describe.skipIf(skip)(`the fork preview under act on the rig${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work = '';
  let gh: GitHubServer;
  let ingress: ReturnType<typeof rigIngress>;
  /** Images this file made (host Docker; the rig's node after a kind load): removed at the end. */
  const made = new Set<string>();

  beforeAll(async () => {
    ingress = rigIngress(CLUSTER);
    removeOurNamespaces();
    work = mkdtempSync(join(tmpdir(), 'jetscale-act-fork-'));
    stageStack(work);
    stageArtifactStore(work);
    mkdirSync(join(work, 'act-cache'));
    symlinkSync(toolCacheDir(), join(work, 'act-cache', 'tool_cache'));
    mkdirSync(join(work, 'artifacts'));
    // `docker push` then `kind load` (see the header); every other docker command as it is
    const docker = spawnSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).stdout.trim();
    const kind = findTool('kind') as string;
    mkdirSync(join(work, 'bin'));
    writeFileSync(
      join(work, 'bin', 'docker'),
      `#!/bin/sh\nset -e\n"${docker}" "$@"\nif [ "$1" = push ]; then for ref; do :; done; "${kind}" load docker-image "$ref" --name ${CLUSTER} >&2; echo "$ref" >>"${join(work, 'pushed')}"; fi\n`,
    );
    chmodSync(join(work, 'bin', 'docker'), 0o755);

    // The repository as the fork has it: both workflows, the rig values, and the services' Dockerfiles (the rig's
    // images plus a page naming the commit, which the preview serves when it runs the fork's build).
    const svc = join(work, 'demo');
    mkdirSync(join(svc, '.github', 'workflows'), { recursive: true });
    for (const f of ['fork-build.yml', 'fork-preview.yml'])
      writeFileSync(
        join(svc, '.github', 'workflows', f),
        readFileSync(join(repoRoot, 'test', 'e2e', 'fixtures', 'act', f), 'utf8'),
      );
    writeFileSync(join(svc, 'rig-values.yaml'), RIG_VALUES);
    for (const s of ['backend', 'frontend']) {
      mkdirSync(join(svc, s));
      const page = s === 'frontend' ? 'COPY fork.txt /app/dist/public/fork.txt\n' : '';
      writeFileSync(join(svc, s, 'Dockerfile'), `FROM ${RIG_IMAGES[s as 'backend']}\n${page}`);
    }
    writeFileSync(join(svc, 'frontend', 'fork.txt'), 'not built yet\n');
    commitServiceRepo(svc, 'service repository, as the fork has it');
    gh = await startGitHubServer({
      owner: 'jetscale',
      repo: 'demo',
      token: TOKEN,
      pulls: Object.fromEntries(Object.values(PR).map((n) => [n, 'open'])),
      roles: { maintainer: 'maintain', helper: 'triage' },
    });
    for (const n of Object.values(PR))
      gh.updatePull(n, { headSha: sha(n), headRepo: FORK, headRef: `fork-${n}` });
  }, 900_000);

  afterAll(async () => {
    await gh?.close();
    if (!skip) {
      removeOurNamespaces();
      const pushed = existsSync(join(work, 'pushed'))
        ? readFileSync(join(work, 'pushed'), 'utf8').split('\n')
        : [];
      for (const ref of pushed.filter(Boolean)) {
        // Only our name: `crictl rmi` removes the whole image, every name of it with it, and a fork image that adds
        // nothing to jetscale-rig/backend:rig is that image (it took the rig's own backend off the node once).
        spawnSync(
          'docker',
          ['exec', `${CLUSTER}-control-plane`, 'ctr', '-n', 'k8s.io', 'images', 'rm', ref],
          {
            stdio: 'ignore',
          },
        );
        made.add(ref);
      }
      for (const ref of made) spawnSync('docker', ['rmi', ref], { stdio: 'ignore' });
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function runAct(event: string, workflow: string, payload: unknown, runId: number, pr: number) {
    const eventFile = join(work, `event-${runId}.json`);
    writeFileSync(eventFile, JSON.stringify(payload));
    const run = await runActOnHost({
      act: act.path as string,
      args: [
        event,
        '--json',
        '-W',
        `.github/workflows/${workflow}`,
        '-e',
        eventFile,
        ...actHostFlags(work),
        '-s',
        `PREVIEW_KUBECONFIG=${readFileSync(rigKubeconfig(CLUSTER), 'utf8')}`,
        '-s',
        `GITHUB_TOKEN=${TOKEN}`,
        '--var',
        `RESOLVE=pr-${pr}.app.jetscale.ai=${ingress.ip}`,
        '--var',
        `INGRESS_CLASS=${ingress.className}`,
        '--var',
        `REGISTRY=${REGISTRY}`,
        '--env',
        `GITHUB_API_URL=${gh.url}`,
        '--env',
        `GITHUB_RUN_ID=${runId}`,
        '--env',
        `NODE_EXTRA_CA_CERTS=${ingress.caFile}`,
      ],
      work,
      nodeDir: dirname(node24()),
      timeoutMs: ACT_TIMEOUT_MS,
      env: {
        PATH: `${join(work, 'bin')}${delimiter}${dirname(node24())}${delimiter}${process.env.PATH}`,
        JETSCALE_TEST_ARTIFACTS: join(work, 'artifacts'),
      },
    });
    writeFileSync(join(work, `act-${runId}.log`), run.out);
    return run;
  }

  /**
   * Stage 1 for a pull_request event of the fork's PR at `headSha`: GitHub creates the run (now), act runs it,
   * and its stored artifacts become the run's. The fork's page names the commit.
   */
  async function build(pr: number, action: string, headSha: string): Promise<WorkflowRunFacts> {
    const svc = join(work, 'demo');
    writeFileSync(join(svc, 'frontend', 'fork.txt'), `built from ${headSha}\n`);
    const facts = gh.addRun({ headRepo: FORK, headBranch: `fork-${pr}`, headSha });
    const event = pullRequestEvent(action, FORK, pr, headSha);
    const run = await runAct('pull_request', 'fork-build.yml', event, facts.id, pr);
    expect(run.results, run.text.slice(-4000)).toEqual({ build: 'success' });
    for (const [name, file] of [
      ['jetscale-fork-claims', 'jetscale-fork-claims.zip'],
      ['jetscale-fork-images', 'jetscale-fork-images.zip'],
    ] as const) {
      const zip = join(work, 'artifacts', String(facts.id), file);
      expect(existsSync(zip), `${name} of run ${facts.id}`).toBe(true);
      gh.addArtifact(facts.id, name, zip);
    }
    for (const s of ['backend', 'frontend']) made.add(`jetscale-fork/${s}:${headSha}`);
    return facts;
  }

  /** Stage 2 on the workflow_run (completed) of `facts`' build. */
  async function preview(facts: WorkflowRunFacts, pr: number): Promise<ActRun> {
    const runId = facts.id + 1_000_000; // stage 2's own run
    return runAct('workflow_run', 'fork-preview.yml', workflowRunEvent(gh, facts), runId, pr);
  }

  /** Why stage 2 deployed nothing: its notice (and job summary) line. */
  const refused = (run: ActRun) => run.text.match(/Fork preview not deployed: [^\n]*/)?.[0];

  /** An ISO time `s` seconds after `iso` (GitHub's times are whole seconds). */
  const after = (iso: string, s: number) =>
    new Date(Date.parse(iso) + s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

  test('unlabelled: the fork is built, and nothing is deployed', async () => {
    const pr = PR.unlabelled;
    const run = await preview(await build(pr, 'opened', sha(pr)), pr);
    expect(run.results, run.text.slice(-4000)).toEqual({ preview: 'success' });
    expect(refused(run)).toMatch(/does not carry the label 'preview'/);
    expect(namespaceExists(`jetscale-pr-${pr}`)).toBe(false);
    expect(gh.state.comments.get(pr) ?? []).toEqual([]);
    expect(gh.state.deployments.filter((d) => d.environment === `preview/pr-${pr}`)).toEqual([]);
  });

  test("labelled by a writer: the preview runs the fork's built images and serves them through the ingress", async () => {
    const pr = PR.writer;
    const opened = await build(pr, 'opened', sha(pr));
    gh.labelPull(pr, 'preview', 'maintainer', after(opened.createdAt, 2));
    const labelled = await build(pr, 'labeled', sha(pr));
    const run = await preview(labelled, pr);
    expect(run.results, run.text.slice(-6000)).toEqual({ preview: 'success' });
    const ns = `jetscale-pr-${pr}`;
    expect(namespaceExists(ns)).toBe(true);
    // the pods run what stage 1 built, pushed as <registry>/<service>:fork-pr-<N>-<sha>
    const images = rigKubectl('get', 'pods', '-n', ns, '-o', 'jsonpath={.items[*].spec.containers[*].image}');
    for (const s of ['backend', 'frontend'])
      expect(images.stdout.split(' ')).toContain(`${REGISTRY}/${s}:fork-pr-${pr}-${sha(pr)}`);
    const client = ingressClient(ingress);
    try {
      const page = await client.get(`pr-${pr}.app.jetscale.ai`, '/fork.txt');
      expect(page).toMatchObject({ status: 200, body: `built from ${sha(pr)}\n` });
    } finally {
      client.close();
    }
    expect(gh.state.comments.get(pr)?.[0]?.body).toContain(`https://pr-${pr}.app.jetscale.ai`);
  });

  test('labelled by a non-writer: nothing is deployed, and the label stays', async () => {
    const pr = PR.nonWriter;
    const opened = await build(pr, 'opened', sha(pr));
    gh.labelPull(pr, 'preview', 'helper', after(opened.createdAt, 2));
    const run = await preview(await build(pr, 'labeled', sha(pr)), pr);
    expect(run.results, run.text.slice(-4000)).toEqual({ preview: 'success' });
    expect(refused(run)).toMatch(/applied by helper, whose permission on jetscale\/demo is triage/);
    expect(namespaceExists(`jetscale-pr-${pr}`)).toBe(false);
    expect(gh.state.pulls.get(pr)?.labels).toEqual(['preview']);
  });

  test('a push after the label: nothing is deployed, and the label is removed', async () => {
    const pr = PR.pushed;
    const opened = await build(pr, 'opened', sha(pr));
    gh.labelPull(pr, 'preview', 'maintainer', after(opened.createdAt, 2));
    gh.updatePull(pr, { headSha: sha(pr, 2) }); // the fork pushes
    await new Promise((r) => setTimeout(r, 3_000)); // the push's run is created after the label
    const run = await preview(await build(pr, 'synchronize', sha(pr, 2)), pr);
    expect(run.results, run.text.slice(-4000)).toEqual({ preview: 'success' });
    expect(refused(run)).toMatch(/a push after the label is not approved; the label is removed/);
    expect(namespaceExists(`jetscale-pr-${pr}`)).toBe(false);
    expect(gh.state.pulls.get(pr)?.labels).toEqual([]);
    expect(gh.lines()).toContain(`DELETE /repos/jetscale/demo/issues/${pr}/labels/preview`);
  });
});
