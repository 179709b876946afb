/**
 * Several repositories sharing one preview cluster (issue 10): names, ownership, the images each service runs
 * (this PR, a companion PR, the baseline), the baseline the live loop records, and the first failure reason in
 * the comment. The e2e counterpart is test/e2e/repositories.test.ts.
 */

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import YAML from 'yaml';
import { deployBody } from '../../src/github/render.js';
import { OwnershipRefused, TeardownRefused } from '../../src/loops/index.js';
import {
  hostFor,
  isDnsLabel,
  isOwnedBy,
  MAX_PR_NUMBER,
  namespaceFor,
  previewId,
  previewNames,
  releaseFor,
  repositoryKey,
} from '../../src/naming.js';
import { type InputError, parseInputs, previewWithLines, type RawInputs } from '../../src/validate.js';
import { deps, recordingReporter, run, runCtx } from '../support/loop-harness.js';
import { RecordingExecutor } from '../support/recording-executor.js';

const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const BACKEND = 'jetscale/backend';
const FRONTEND = 'jetscale/frontend';
const FRONTEND_NS = 'jetscale-pr-101-frontend-ea5f768e';

/** Inputs of a run in `repository`, where jetscale/backend is the primary repository. */
function inputs(repository: string, raw: RawInputs) {
  return parseInputs({ 'git-sha': SHA, repository, 'primary-repository': BACKEND, ...raw });
}

/** `kubectl get namespace` output of a namespace we made for `repository`'s PR. */
function ours(repository: string, pr: number, annotations: Record<string, string> = {}) {
  const n = previewNames({ prNumber: pr, sha: SHA, repository, primaryRepository: BACKEND });
  return JSON.stringify({
    metadata: {
      name: n.namespace,
      uid: `uid-${pr}`,
      resourceVersion: '42',
      labels: n.labels,
      annotations: { ...n.annotations, ...annotations },
    },
  });
}

const BASELINE = JSON.stringify({
  items: ['backend', 'frontend'].map((svc) => ({
    metadata: { name: `baseline-${svc}` },
    data: {
      image: `ghcr.io/jetscale/${svc}@sha256:${'a'.repeat(64)}`,
      'recorded-at': '2026-11-30T10:00:00.000Z',
      repository: `jetscale/${svc}`,
    },
  })),
});

describe('names on a cluster that several repositories share', () => {
  test.each([
    ['jetscale/backend', 'backend-6e326702'],
    ['JetScale/Backend', 'backend-6e326702'],
    ['jetscale/frontend', 'frontend-ea5f768e'],
    ['jetscale/.github', 'github-17eff2a3'],
    ['jetscale/customer-onboarding-and-billing-reconciliation-service-v2', 'customer-onboarding-d1b36b59'],
  ])('%s has the key %s', (repository, key) => {
    expect(repositoryKey(repository)).toBe(key);
  });

  test('one name under two owners, or two names that slug alike, get different keys', () => {
    expect(repositoryKey('acme/web')).not.toBe(repositoryKey('globex/web'));
    expect(repositoryKey('acme/my.app')).not.toBe(repositoryKey('acme/my-app'));
    expect(repositoryKey('acme/___')).toMatch(/^repo-[0-9a-f]{8}$/);
  });

  test("the primary repository keeps the seed's names; another repository's are one DNS label longer", () => {
    const backend = previewNames({
      prNumber: 101,
      sha: SHA,
      repository: BACKEND,
      primaryRepository: BACKEND,
    });
    expect([backend.namespace, backend.release, backend.host]).toEqual([
      'jetscale-pr-101',
      'pr-101',
      'pr-101.app.jetscale.ai',
    ]);
    const frontend = previewNames({
      prNumber: 101,
      sha: SHA,
      repository: FRONTEND,
      primaryRepository: BACKEND,
    });
    expect([frontend.namespace, frontend.release, frontend.host]).toEqual([
      FRONTEND_NS,
      'pr-101-frontend-ea5f768e',
      'pr-101-frontend-ea5f768e.app.jetscale.ai',
    ]);
    expect(frontend.labels).toEqual({
      'app.kubernetes.io/managed-by': 'jetscale-stack',
      'jetscale.ai/pr': '101',
      'jetscale.ai/repo': 'frontend-ea5f768e',
    });
    expect(frontend.annotations['jetscale.ai/repository']).toBe(FRONTEND);
    // The GitHub environment is per repository already: it keeps its name.
    expect(frontend.environment).toBe('preview/pr-101');
  });

  test('every name fits its limit for any repository and PR number, with a 23-character prefix', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9._-]{1,100}$/);
    fc.assert(
      fc.property(name, fc.integer({ min: 1, max: MAX_PR_NUMBER }), (repo, pr) => {
        const id = previewId(pr, `acme/${repo}`, 'acme/primary');
        expect(isDnsLabel(namespaceFor(id, 'p'.repeat(22).concat('-')))).toBe(true);
        expect(releaseFor(id).length).toBeLessThanOrEqual(43); // <release>-postgres: a StatefulSet's 52
        expect(isDnsLabel(hostFor(id).split('.')[0] as string)).toBe(true);
      }),
    );
  });
});

describe('ownership names the repository', () => {
  const meta = (json: string) => JSON.parse(json).metadata;
  const frontendNs = meta(ours(FRONTEND, 101));
  const seedNs = { labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '101' } };
  test.each([
    ['its own repository', frontendNs, FRONTEND, true],
    ['another repository, same PR number', frontendNs, BACKEND, false],
    ['a run that gives no repository', frontendNs, undefined, false],
    [
      'the repository whose key matches but whose name does not (a hash collision)',
      { ...frontendNs, annotations: { 'jetscale.ai/repository': 'evil/frontend' } },
      FRONTEND,
      false,
    ],
    ['the primary repository, for a namespace made before repositories were recorded', seedNs, BACKEND, true],
    [
      'a repository with no primary-repository given (every such repository believes it is primary), for such a namespace',
      seedNs,
      'default',
      false,
    ],
    ['another repository, for a namespace made before repositories were recorded', seedNs, FRONTEND, false],
  ])('%s: %s', (_what, m, repository, owned) => {
    const owner =
      repository === 'default'
        ? { prNumber: 101, repository: BACKEND }
        : { prNumber: 101, repository, primaryRepository: BACKEND };
    expect(isOwnedBy(m, owner)).toBe(owned);
  });
});

describe('inputs of several repositories', () => {
  const problems = (raw: RawInputs) => {
    try {
      parseInputs({ loop: 'preview', 'pr-number': '101', ...raw });
      return [];
    } catch (e) {
      return (e as InputError).problems;
    }
  };

  test.each(['jetscale', 'a/b/c', 'a b/c', '-x/y', 'x/..', `${'o'.repeat(40)}/r`])(
    'repository %j is refused, naming the input, the value and the form',
    (value) => {
      expect(problems({ repository: value })).toEqual([
        expect.stringMatching(
          new RegExp(
            `^Invalid input 'repository': ${JSON.stringify(value).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\. Expected a GitHub repository as owner/name`,
          ),
        ),
      ]);
    },
  );

  test.each([
    ['jetscale/backend', 'owner/name#N'],
    ['jetscale/backend#0', 'owner/name#N'],
    ['jetscale/backend#87; rm -rf /', 'owner/name#N'],
    ['jetscale/frontend#87', 'another repository than this one (jetscale/frontend)'],
    ['acme/backend#87', 'the same owner as this one (jetscale/…)'],
    [
      'jetscale/backend#87\nJetScale/Backend#88',
      'one pull request per repository (jetscale/backend is named twice)',
    ],
  ])('preview-with %j is refused: %s', (value, accepted) => {
    const found = problems({ repository: FRONTEND, 'preview-with': value });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^Invalid input 'preview-with': /);
    expect(found[0]).toContain(accepted);
  });

  test('preview-with takes owner/name#N and pull request URLs', () => {
    const parsed = parseInputs({
      loop: 'preview',
      'pr-number': '5',
      repository: FRONTEND,
      'preview-with': 'JetScale/Backend#87\nhttps://github.com/jetscale/worker/pull/9',
    });
    expect(parsed.previewWith).toEqual([
      { repository: BACKEND, prNumber: 87 },
      { repository: 'jetscale/worker', prNumber: 9 },
    ]);
  });

  test('the PR description names a companion with a Preview-With line; examples in code or quotes do not count', () => {
    const body = [
      'Adds the new checkout page.',
      '',
      'preview-with: jetscale/backend#87',
      '```',
      'Preview-With: jetscale/worker#1',
      '```',
      '> Preview-With: jetscale/worker#2',
      '  Preview-With: jetscale/worker#3',
    ].join('\n');
    expect(previewWithLines(body)).toEqual(['jetscale/backend#87']);
    const event = { previewWith: previewWithLines(body), repository: FRONTEND };
    expect(parseInputs({ loop: 'preview', 'pr-number': '5' }, { event }).previewWith).toEqual([
      { repository: BACKEND, prNumber: 87 },
    ]);
    // The input wins over the description.
    expect(
      parseInputs({ loop: 'preview', 'pr-number': '5', 'preview-with': 'jetscale/api#3' }, { event })
        .previewWith,
    ).toEqual([{ repository: 'jetscale/api', prNumber: 3 }]);
    // A bad line in the description is named as such.
    expect(() =>
      parseInputs(
        { loop: 'preview', 'pr-number': '5' },
        { event: { ...event, previewWith: ['backend#87'] } },
      ),
    ).toThrow(/Invalid input 'Preview-With line of the PR description': "backend#87"/);
  });

  test('a bad Preview-With line in the description never stops a teardown or a CI run', () => {
    const event = { previewWith: ['not a pull request'], repository: FRONTEND, prNumber: 101 };
    expect(parseInputs({ loop: 'teardown' }, { event }).previewWith).toEqual([]);
    expect(parseInputs({ loop: 'ci-kind' }, { event }).previewWith).toEqual([]);
    expect(() => parseInputs({ loop: 'preview' }, { event })).toThrow(
      /Preview-With line of the PR description/,
    );
  });

  test('Preview-With lines in HTML comments (PR templates) or in a fence closed only by a longer one are not requests', () => {
    const body = [
      '<!-- To preview with a backend PR, add a line:',
      'Preview-With: jetscale/backend#1',
      '-->',
      'text <!-- Preview-With: jetscale/backend#2 --> more',
      '````',
      '```',
      'Preview-With: jetscale/backend#3',
      '````',
      'Preview-With: jetscale/backend#4',
    ].join('\n');
    expect(previewWithLines(body)).toEqual(['jetscale/backend#4']);
  });

  test('preview-with needs to know this repository (the same-owner rule)', () => {
    expect(() =>
      parseInputs({ loop: 'preview', 'pr-number': '5', 'preview-with': 'jetscale/backend#87' }),
    ).toThrow(/which needs 'repository'/);
  });

  test('a namespace-prefix that leaves no room for the repository key is refused for that repository only', () => {
    const prefix = `${'p'.repeat(42)}-`; // 43 characters: room for PR 101, not for 101-frontend-ea5f768e
    expect(problems({ repository: BACKEND, 'namespace-prefix': prefix })).toEqual([]);
    expect(
      problems({ repository: FRONTEND, 'primary-repository': BACKEND, 'namespace-prefix': prefix }),
    ).toEqual([expect.stringContaining(`Invalid input 'namespace-prefix': "${prefix}"`)]);
  });

  test('record-baseline is for the live loop, and needs the images live runs', () => {
    expect(problems({ 'record-baseline': 'true', images: 'backend=r/b:1' })).toEqual([
      "Input 'record-baseline' is for loop 'live' (got loop 'preview'). Expected it unset or false here.",
    ]);
    expect(() =>
      parseInputs({ loop: 'live', url: 'https://app.jetscale.ai', 'record-baseline': 'true' }),
    ).toThrow(/Input 'record-baseline' needs 'images'/);
  });
});

describe('the images a preview runs', () => {
  /** The frontend's PR 101 preview, building the frontend, with jetscale/backend#87 named as its companion. */
  const previewWithBackend87 = (exec: RecordingExecutor, log?: (line: string) => void) =>
    run(
      inputs(FRONTEND, {
        loop: 'preview',
        'pr-number': '101',
        images: 'frontend=r/f:pr',
        'preview-with': 'jetscale/backend#87',
      }),
      runCtx(),
      deps(exec, log ? { log } : {}).d,
    );

  test('a PR that builds one service runs the baseline for the others, and the comment says which is which', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get configmaps/, { stdout: BASELINE });
    const reporter = recordingReporter();
    await run(
      inputs(FRONTEND, { loop: 'preview', 'pr-number': '101', images: 'frontend=r/f:pr' }),
      runCtx(),
      deps(exec, { reporter }).d,
    );
    expect(exec.lines().slice(0, 2)).toEqual([
      `kubectl get namespace ${FRONTEND_NS} --ignore-not-found -o json`,
      'kubectl get configmaps -n jetscale-baseline -l app.kubernetes.io/managed-by=jetscale-stack,jetscale.ai/baseline=true -o json',
    ]);
    const skaffold = exec.lines().find((l) => l.startsWith('skaffold'));
    expect(skaffold).toContain(
      `--images frontend=r/f:pr --images backend=ghcr.io/jetscale/backend@sha256:${'a'.repeat(64)}`,
    );
    const images = [
      { service: 'frontend', ref: 'r/f:pr', source: 'pr', from: 'this PR' },
      {
        service: 'backend',
        ref: `ghcr.io/jetscale/backend@sha256:${'a'.repeat(64)}`,
        source: 'baseline',
        from: 'baseline of jetscale/backend, recorded 2026-11-30T10:00:00.000Z',
      },
    ];
    const created = YAML.parse(exec.commands.find((c) => c.args[0] === 'create')?.input ?? '');
    expect(JSON.parse(created.metadata.annotations['jetscale.ai/images'])).toEqual(images);
    // the values Skaffold is handed name every service's image, the baseline's too (a service outside
    // skaffold.yaml's artifacts gets its image from them alone)
    const valuesFile = exec.commands.find((c) => c.cmd === 'skaffold')?.env?.JETSCALE_VALUES_FILE as string;
    expect(YAML.parse(readFileSync(valuesFile, 'utf8')).services).toEqual({
      frontend: { image: { repository: 'r/f', tag: 'pr' } },
      backend: { image: { repository: 'ghcr.io/jetscale/backend', digest: `sha256:${'a'.repeat(64)}` } },
    });
    expect(reporter.deploys.map((d) => [d.status, d.images])).toEqual([
      ['in_progress', images],
      ['success', images],
    ]);
  });

  test("a companion PR's own images come before the baseline; the images it took from the baseline do not", async () => {
    const companionImages = JSON.stringify([
      { service: 'backend', ref: 'r/b:pr87', source: 'pr', from: 'this PR' },
      { service: 'frontend', ref: 'r/f:base', source: 'baseline', from: 'baseline' },
    ]);
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace jetscale-pr-87 /, {
        stdout: ours(BACKEND, 87, { 'jetscale.ai/images': companionImages }),
      })
      .reply(/^kubectl get configmaps/, { stdout: BASELINE });
    await previewWithBackend87(exec);
    expect(exec.lines().find((l) => l.startsWith('skaffold'))).toContain(
      '--images frontend=r/f:pr --images backend=r/b:pr87',
    );
    expect(exec.lines().some((l) => l.startsWith('kubectl get configmaps'))).toBe(false);
  });

  test('a companion namespace that another repository owns is not used: the baseline is', async () => {
    const log: string[] = [];
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace jetscale-pr-87 /, { stdout: ours('jetscale/api', 87) })
      .reply(/^kubectl get configmaps/, { stdout: BASELINE });
    await previewWithBackend87(exec, (l) => log.push(l));
    expect(log.join('\n')).toContain(
      'preview-with jetscale/backend#87: namespace jetscale-pr-87 belongs to jetscale/api PR #87',
    );
    expect(exec.lines().find((l) => l.startsWith('skaffold'))).toContain(
      '--images backend=ghcr.io/jetscale/backend@',
    );
  });

  test('an image read from the cluster that is not an image reference is not used', async () => {
    const log: string[] = [];
    const bad = BASELINE.replace(`ghcr.io/jetscale/backend@sha256:${'a'.repeat(64)}`, 'x --set evil=1');
    const exec = new RecordingExecutor().reply(/^kubectl get configmaps/, { stdout: bad });
    await expect(
      run(
        inputs(FRONTEND, { loop: 'preview', 'pr-number': '101', images: 'frontend=r/f:pr' }),
        runCtx(),
        deps(exec, { log: (l) => log.push(l) }).d,
      ),
    ).rejects.toThrow('No image for service backend');
    expect(log).toContain(
      'baseline jetscale-baseline/baseline-backend: "x --set evil=1" is not an image reference; not used.',
    );
    expect(exec.lines().filter((l) => l.startsWith('skaffold'))).toEqual([]);
  });

  test('a service with no image anywhere stops the preview before anything is created or reported', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get configmaps/, { stdout: '{"items":[]}' });
    const reporter = recordingReporter();
    await expect(
      run(
        inputs(FRONTEND, { loop: 'preview', 'pr-number': '101', images: 'frontend=r/f:pr' }),
        runCtx(),
        deps(exec, { reporter }).d,
      ),
    ).rejects.toThrow(
      'No image for service backend: the images input does not name it, and namespace jetscale-baseline holds no baseline for it. Give backend=<image> in images, or record a baseline',
    );
    expect(exec.lines().filter((l) => /^kubectl (create|apply|label|annotate)|^skaffold/.test(l))).toEqual(
      [],
    );
    expect(reporter.calls).toEqual(['deploy:failure']);
  });
});

describe('a repository cannot touch another repository’s preview', () => {
  test('a deploy into a namespace another repository owns is refused, naming both; nothing changes', async () => {
    // The frontend wrongly believes it is primary, so it computes the backend's namespace name.
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: ours(BACKEND, 101) });
    const error = await run(
      parseInputs({
        loop: 'preview',
        'pr-number': '101',
        'git-sha': SHA,
        repository: FRONTEND,
        images: 'backend=r/b:1\nfrontend=r/f:1',
      }),
      runCtx(),
      deps(exec).d,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(OwnershipRefused);
    expect(error.message).toBe(
      'Refusing to deploy into namespace jetscale-pr-101: it belongs to jetscale/backend PR #101, not to jetscale/frontend PR #101. ' +
        "Nothing was changed. Repositories sharing a cluster must agree on primary-repository (this run's is unset); otherwise choose another namespace-prefix.",
    );
    expect(exec.lines()).toEqual(['kubectl get namespace jetscale-pr-101 --ignore-not-found -o json']);
  });

  test('a teardown of a namespace another repository owns is refused, naming both; nothing is deleted', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: ours(BACKEND, 101) });
    const error = await run(
      parseInputs({ loop: 'teardown', 'pr-number': '101', repository: FRONTEND }),
      runCtx(),
      deps(exec).d,
    ).catch((e) => e);
    expect(error).toBeInstanceOf(TeardownRefused);
    expect(error.message).toBe(
      'Refusing to tear down namespace jetscale-pr-101: it belongs to jetscale/backend PR #101, not to jetscale/frontend PR #101. Nothing was deleted.',
    );
    expect(exec.lines().filter((l) => /delete|uninstall/.test(l))).toEqual([]);
  });

  test('a namespace made before repositories were recorded is the primary repository’s, and gains its labels', async () => {
    const seed = JSON.stringify({
      metadata: {
        uid: 'u',
        resourceVersion: '1',
        labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '101' },
      },
    });
    const exec = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: seed });
    await run(
      inputs(BACKEND, { loop: 'preview', 'pr-number': '101', images: 'backend=r/b:1\nfrontend=r/f:1' }),
      runCtx(),
      deps(exec).d,
    );
    // the deploy's time (the sweep's idle clock) is stamped too, whatever the clock says
    const stamp = /,"jetscale\.ai\/last-deploy":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"/;
    expect(exec.lines()[1]).toMatch(stamp);
    expect(exec.lines()[1]?.replace(stamp, '')).toBe(
      `kubectl patch namespace jetscale-pr-101 --type=merge -p '${JSON.stringify({
        metadata: {
          labels: {
            'app.kubernetes.io/managed-by': 'jetscale-stack',
            'jetscale.ai/pr': '101',
            'jetscale.ai/repo': 'backend-6e326702',
          },
          annotations: {
            'jetscale.ai/sha': SHA,
            'jetscale.ai/repository': BACKEND,
            'jetscale.ai/images': JSON.stringify([
              { service: 'backend', ref: 'r/b:1', source: 'pr', from: 'this PR' },
              { service: 'frontend', ref: 'r/f:1', source: 'pr', from: 'this PR' },
            ]),
          },
          resourceVersion: '1',
        },
      })}'`,
    );
    const other = new RecordingExecutor().reply(/^kubectl get namespace/, { stdout: seed });
    await expect(
      run(inputs(FRONTEND, { loop: 'teardown', 'pr-number': '101' }), runCtx(), deps(other).d),
    ).rejects.toBeInstanceOf(TeardownRefused);
  });

  test("every object the chart makes carries the repository's labels (the values file Skaffold is handed)", async () => {
    const written = new Map<string, string>();
    const exec = new RecordingExecutor().reply(/^kubectl get configmaps/, { stdout: BASELINE });
    await run(
      inputs(FRONTEND, { loop: 'preview', 'pr-number': '101', images: 'frontend=r/f:1' }),
      runCtx(),
      deps(exec, { writeFile: (p, c) => written.set(p, c) }).d,
    );
    const file = exec.commands.find((c) => c.cmd === 'skaffold')?.env?.JETSCALE_VALUES_FILE as string;
    expect(YAML.parse(written.get(file) ?? '').global.ownerLabels).toEqual({
      'jetscale.ai/pr': '101',
      'jetscale.ai/repo': 'frontend-ea5f768e',
    });
  });
});

describe("what a repository's run looks at stays within what it owns", () => {
  test('preview and teardown name their namespaces; nothing lists namespaces or reads across all of them', async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get configmaps/, { stdout: BASELINE })
      .reply(/^kubectl get namespace jetscale-pr-101-frontend/, { stdout: ours(FRONTEND, 101) });
    const seen: Array<string | undefined> = [];
    const { d } = deps(exec, {
      diagnostics: async (a) => {
        seen.push(a.namespace);
        return { summary: 's' };
      },
      contract: async () => [
        { name: 'backend-ready', ok: false, url: 'u', durationMs: 1, attempts: 1, detail: '503' },
      ],
    });
    await run(
      inputs(FRONTEND, {
        loop: 'preview',
        'pr-number': '101',
        images: 'frontend=r/f:1',
        'preview-with': 'jetscale/backend#87',
      }),
      runCtx(),
      d,
    ).catch(() => undefined);
    await run(inputs(FRONTEND, { loop: 'teardown', 'pr-number': '101' }), runCtx(), d);
    const kubectlLines = exec
      .lines()
      .filter((l) => l.startsWith('kubectl') || l.startsWith('helm') || l.startsWith('skaffold'));
    expect(kubectlLines.length).toBeGreaterThan(5);
    for (const line of kubectlLines) {
      expect(line).not.toMatch(/--all-namespaces|\s-A(\s|$)|get namespaces\b|get ns\b/);
      const named = [
        ...line.matchAll(/(?:-n|--namespace) (\S+)|get namespace (\S+)|namespaces\/([^\s/]+)/g),
      ].map((m) => m[1] ?? m[2] ?? m[3]);
      for (const ns of named)
        expect([FRONTEND_NS, 'jetscale-baseline', 'jetscale-pr-87'], line).toContain(ns);
    }
    // Diagnostics of a failed preview look only into its own namespace.
    expect(seen).toEqual([FRONTEND_NS]);
  });
});

describe('the first failure reason goes into the PR comment', () => {
  /** The reason the last failure report of a PR 101 preview carried, run with these dependencies. */
  async function reasonOf(exec: RecordingExecutor, over: Parameters<typeof deps>[1], raw: RawInputs = {}) {
    const reporter = recordingReporter();
    const preview = { loop: 'preview', 'pr-number': '101', images: 'backend=r/b:1\nfrontend=r/f:1', ...raw };
    await expect(
      run(inputs(BACKEND, preview), runCtx(), deps(exec, { reporter, ...over }).d),
    ).rejects.toThrow();
    return reporter.deploys.at(-1)?.reason;
  }
  const crashed = async () => ({
    summary: 's',
    firstFailure: 'pod pr-101-backend-1 is not Ready: CrashLoopBackOff',
  });

  test('a failed contract check: the check, its URL and what came back', async () => {
    const url = 'https://pr-101.app.jetscale.ai/api/readyz';
    const contract = async () => [
      {
        name: 'backend-ready' as const,
        ok: false,
        url,
        durationMs: 5,
        attempts: 3,
        detail: 'HTTP 503: redis down',
      },
    ];
    expect(await reasonOf(new RecordingExecutor(), { contract, diagnostics: crashed })).toBe(
      `contract check backend-ready failed at ${url}: HTTP 503: redis down`,
    );
  });

  test('a pod that never got ready: the step, and what the diagnostics found first', async () => {
    const exec = new RecordingExecutor().reply(/^skaffold/, {
      exitCode: 1,
      stderr: 'deployment/pr-101-backend failed',
    });
    expect(await reasonOf(exec, { diagnostics: crashed })).toBe(
      'step deploy: pod pr-101-backend-1 is not Ready: CrashLoopBackOff',
    );
  });

  test('a step that fails for its own reason says so, not what the cluster shows of an older pod', async () => {
    const exec = new RecordingExecutor().reply(/^kubectl get configmaps/, { stdout: '{"items":[]}' });
    expect(await reasonOf(exec, { diagnostics: crashed }, { images: 'frontend=r/f:1' })).toMatch(
      /^step namespace: No image for service backend/,
    );
  });

  test('the comment shows the reason unfolded, redacted, with the run, and lists every service with its source', () => {
    const body = deployBody(
      {
        owner: 'jetscale',
        repo: 'frontend',
        sha: SHA,
        runId: 9,
        runAttempt: 1,
        runUrl: 'https://github.com/jetscale/frontend/actions/runs/9',
        serverUrl: 'https://github.com',
      },
      {
        url: 'https://pr-101.app.jetscale.ai',
        namespace: 'ns',
        host: 'h',
        status: 'failure',
        reason:
          'pod p is not Ready: Error\nlast log lines:\nGITHUB_TOKEN=ghs_abcdefghijklmnopqrstuvwxyz0123456789 token=ghs_abcdefghijklmnopqrstuvwxyz0123456789',
        images: [
          { service: 'frontend', ref: 'r/f:pr', from: 'this PR' },
          { service: 'backend', ref: 'r/b@sha256:1', from: 'jetscale/backend#87' },
        ],
      },
      { sha: SHA, runId: 9, runAttempt: 1, updatedAt: 't' },
    );
    expect(body).toContain('| `frontend` | `r/f:pr` | `this PR` |');
    expect(body).toContain('| `backend` | `r/b@sha256:1` | `jetscale/backend#87` |');
    expect(body).toContain(
      '**What failed first** (full log: run [9](https://github.com/jetscale/frontend/actions/runs/9)):',
    );
    expect(body).toContain('pod p is not Ready: Error\nlast log lines:');
    expect(body).not.toContain('ghs_abcdefghijklmnopqrstuvwxyz0123456789');
  });
});

describe('live records the baseline', () => {
  const live = (raw: RawInputs = {}) =>
    parseInputs({
      loop: 'live',
      url: 'https://app.jetscale.ai',
      'git-sha': SHA,
      repository: BACKEND,
      'record-baseline': 'true',
      images: 'backend=ghcr.io/jetscale/backend:1.2.3',
      kubeconfig: '/tmp/preview-cluster.kubeconfig',
      ...raw,
    });

  test('after the smoke checks pass: one ConfigMap per image, in the baseline namespace it creates when absent', async () => {
    const exec = new RecordingExecutor();
    await run(live(), runCtx(), deps(exec).d);
    const apply = exec.commands.find((c) => c.args[0] === 'apply');
    const list = YAML.parse(apply?.input ?? '');
    expect(
      list.items.map((i: { kind: string; metadata: { name: string } }) => `${i.kind}/${i.metadata.name}`),
    ).toEqual(['Namespace/jetscale-baseline', 'ConfigMap/baseline-backend']);
    expect(list.items[1].metadata.labels).toEqual({
      'app.kubernetes.io/managed-by': 'jetscale-stack',
      'jetscale.ai/baseline': 'true',
      'jetscale.ai/repo': 'backend-6e326702',
      'jetscale.ai/service': 'backend',
    });
    expect(list.items[1].data).toMatchObject({
      image: 'ghcr.io/jetscale/backend:1.2.3',
      sha: SHA,
      repository: BACKEND,
      source: 'live',
    });
  });

  test('not when a smoke check fails', async () => {
    const exec = new RecordingExecutor();
    const { d } = deps(exec, {
      contract: async () => [
        { name: 'backend-health', ok: false, url: 'u', durationMs: 1, attempts: 1, detail: '503' },
      ],
    });
    await expect(run(live(), runCtx(), d)).rejects.toThrow(/Contract checks failed/);
    expect(exec.lines()).toEqual([]);
  });

  const baselineNs = (labels: Record<string, string>) =>
    JSON.stringify({ metadata: { name: 'jetscale-baseline', uid: 'u', resourceVersion: '1', labels } });
  const OURS = { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/baseline': 'true' };
  const cm = (labels: Record<string, string>) =>
    JSON.stringify({ items: [{ metadata: { name: 'baseline-backend', labels } }] });

  test.each([
    [
      'a namespace that is not a baseline namespace of ours (a preview, kube-system)',
      baselineNs({ 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/pr': '101' }),
      cm({}),
      'Refusing to record the baseline in namespace jetscale-baseline: it exists and is not a baseline namespace of ours',
    ],
    [
      'a ConfigMap of that name that is not ours',
      baselineNs(OURS),
      cm({}),
      'Refusing to record the baseline of backend: ConfigMap jetscale-baseline/baseline-backend exists and is not ours',
    ],
    [
      "another repository's entry",
      baselineNs(OURS),
      cm({ 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/repo': 'frontend-ea5f768e' }),
      'Refusing to record the baseline of backend: jetscale-baseline/baseline-backend was recorded by another repository (jetscale.ai/repo=frontend-ea5f768e; this run is jetscale/backend)',
    ],
  ])('never into %s', async (_what, namespace, configMaps, message) => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: namespace })
      .reply(/^kubectl get configmaps/, { stdout: configMaps });
    await expect(run(live(), runCtx(), deps(exec).d)).rejects.toThrow(message);
    expect(exec.lines().filter((l) => l.includes('apply'))).toEqual([]);
  });

  test("over this repository's own entry, yes", async () => {
    const exec = new RecordingExecutor()
      .reply(/^kubectl get namespace/, { stdout: baselineNs(OURS) })
      .reply(/^kubectl get configmaps/, {
        stdout: cm({
          'app.kubernetes.io/managed-by': 'jetscale-stack',
          'jetscale.ai/repo': 'backend-6e326702',
        }),
      });
    await run(live(), runCtx(), deps(exec).d);
    const list = YAML.parse(exec.commands.find((c) => c.args[0] === 'apply')?.input ?? '');
    expect(list.items.map((i: { kind: string }) => i.kind)).toEqual(['ConfigMap']);
  });

  test('record-baseline without a kubeconfig is refused before anything runs', () => {
    expect(() =>
      parseInputs({
        loop: 'live',
        url: 'https://app.jetscale.ai',
        'record-baseline': 'true',
        images: 'backend=r/b:1',
      }),
    ).toThrow(/Input 'record-baseline' needs 'kubeconfig'/);
  });
});
