/**
 * Issue 15: the cap at deploy time (max-previews with over-cap fail or evict) and the expiry the sticky comment
 * shows (ttl). The preview loop runs against a RecordingExecutor (the cluster's answers scripted) and, for the PRs
 * an eviction tells, the loopback GitHub server.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { COMMENT_MARKER } from '../../src/github/index.js';
import { deployBody, metaLine } from '../../src/github/render.js';
import { sweepGitHub } from '../../src/github/sweep.js';
import { type LoopDeps, runLoop } from '../../src/loops/index.js';
import type { ListedNamespace } from '../../src/loops/sweep.js';
import { ownershipLabels } from '../../src/naming.js';
import { formatTtl, parseInputs, parseTtl, type RawInputs } from '../../src/validate.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { deps, recordingReporter, runCtx } from '../support/loop-harness.js';
import { RecordingExecutor } from '../support/recording-executor.js';

const NOW = new Date('2026-05-10T12:00:00Z');
const REPO = 'jetscale/app';
const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const TOKEN = 'ghs_capTokenForTheLoopbackServer';
const NEW_PR = 441;
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString().replace(/\.000Z$/, 'Z');

/** A namespace as a preview of REPO leaves it, deployed `idleHours` ago. */
function listedPreview(pr: number, idleHours: number, over: Partial<ListedNamespace> = {}): ListedNamespace {
  return {
    name: `jetscale-pr-${pr}`,
    exists: true,
    uid: `uid-${pr}`,
    resourceVersion: `${pr}0`,
    labels: ownershipLabels(pr, REPO),
    annotations: {
      'jetscale.ai/repository': REPO,
      'jetscale.ai/sha': SHA,
      'jetscale.ai/last-deploy': hoursAgo(idleHours),
    },
    ...over,
  };
}

const metadata = (n: ListedNamespace) => ({
  name: n.name,
  uid: n.uid,
  resourceVersion: n.resourceVersion,
  labels: n.labels,
  annotations: n.annotations,
});

/** The cluster: `listed` carry our labels (each answers its own get); the new PR's namespace does not exist. */
function cluster(listed: ListedNamespace[]): RecordingExecutor {
  const exec = new RecordingExecutor().reply(/^kubectl get namespaces -l /, {
    stdout: JSON.stringify({ items: listed.map((n) => ({ metadata: metadata(n) })) }),
  });
  for (const n of listed)
    exec.reply(new RegExp(`^kubectl get namespace ${n.name} `), {
      stdout: JSON.stringify({ metadata: metadata(n) }),
    });
  return exec;
}

function previewInputs(raw: RawInputs = {}) {
  return parseInputs({
    loop: 'preview',
    'pr-number': String(NEW_PR),
    'git-sha': SHA,
    repository: REPO,
    images: 'backend=r/b:2\nfrontend=r/f:2',
    ...raw,
  });
}

/** What touches the cluster beyond reading it. */
const writes = (exec: RecordingExecutor) =>
  exec.lines().filter((l) => !/^kubectl get /.test(l) && !l.startsWith('kubectl rollout status'));

// 442 idle 30 h, 443 idle 2 h, 444 idle 5 h; another prefix's preview (other-pr-445) is not counted.
const HOLDERS = [
  listedPreview(442, 30),
  listedPreview(443, 2),
  listedPreview(444, 5),
  listedPreview(445, 100, { name: 'other-pr-445' }),
];

describe('over-cap input', () => {
  test.each([
    [{}, 'fail'],
    [{ 'over-cap': 'fail' }, 'fail'],
    [{ 'over-cap': 'evict' }, 'evict'],
  ] as const)('%j is %s', (raw, expected) => {
    expect(previewInputs(raw).overCap).toBe(expected);
  });

  test.each(['Evict', 'remove', 'true', 'evict-oldest'])(
    '%j is refused, naming the input, the value and the accepted form',
    (value) => {
      expect(() => previewInputs({ 'over-cap': value })).toThrow(
        `Invalid input 'over-cap': ${JSON.stringify(value)}. Expected fail (a new preview beyond max-previews is refused, naming the previews holding the cap) or evict (the longest idle previews are removed to make room).`,
      );
    },
  );

  test.each(['3d', '12h', '90m', '365d', '1m'])('ttl %s is shown as given', (ttl) => {
    expect(formatTtl(parseTtl(ttl) as number)).toBe(ttl);
  });
});

describe('the cap at deploy time', () => {
  let github: GitHubServer | undefined;
  afterEach(async () => {
    await github?.close();
    github = undefined;
  });

  test('over-cap fail: a new preview beyond the cap fails, naming the cap and the previews holding it; nothing is created', async () => {
    const exec = cluster(HOLDERS);
    const reporter = recordingReporter();
    const result = await runLoop(
      previewInputs({ 'max-previews': '3' }),
      runCtx(),
      deps(exec, { now: () => NOW, reporter }).d,
    );
    expect(result.error?.name).toBe('PreviewCapReached');
    expect(result.error?.message).toBe(
      [
        `The cap of 3 previews (max-previews) is reached: 3 previews hold it, so the preview of ${REPO}#${NEW_PR} (jetscale-pr-${NEW_PR}) is not created (over-cap: fail). Nothing was created.`,
        `- jetscale-pr-442: ${REPO} PR #442, idle for 1 day`,
        `- jetscale-pr-443: ${REPO} PR #443, idle for 2 hours`,
        `- jetscale-pr-444: ${REPO} PR #444, idle for 5 hours`,
        'Close one of their PRs or run the sweep, raise max-previews, or set over-cap: evict.',
      ].join('\n'),
    );
    // Read the cluster, changed nothing: no namespace created, no release, no preview removed.
    expect(writes(exec)).toEqual([]);
    expect(result.steps.find((s) => !s.ok)?.name).toBe('preview cap');
    // The PR is told why, in the comment's first reason line.
    expect(reporter.calls).toEqual(['deploy:failure']);
    expect(reporter.deploys[0]?.reason).toMatch(/^step preview cap: The cap of 3 previews \(max-previews\)/);
  });

  test('under the cap, and on a redeploy at the cap, nothing is refused or removed', async () => {
    // Two previews and a cap of 3: room for this one.
    const under = cluster(HOLDERS.slice(0, 2));
    const ok = await runLoop(
      previewInputs({ 'max-previews': '3' }),
      runCtx(),
      deps(under, { now: () => NOW }).d,
    );
    expect(ok.error).toBeUndefined();
    expect(writes(under)[0]).toBe('kubectl create -f -');
    // A redeploy of 443 at a cap of 1 with three previews: it holds its place already, so the cap is not asked.
    const redeploy = cluster(HOLDERS);
    const again = await runLoop(
      previewInputs({ 'pr-number': '443', 'max-previews': '1' }),
      runCtx(),
      deps(redeploy, { now: () => NOW }).d,
    );
    expect(again.error).toBeUndefined();
    expect(redeploy.lines().filter((l) => l.startsWith('kubectl get namespaces -l'))).toEqual([]);
    expect(writes(redeploy)[0]).toMatch(/^kubectl patch namespace jetscale-pr-443 /);
    expect(writes(redeploy).filter((l) => /helm uninstall|delete/.test(l))).toEqual([]);
  });

  test('over-cap evict: a new preview beyond the cap evicts the oldest idle preview and tells its PR, then deploys', async () => {
    github = await startGitHubServer({
      owner: 'jetscale',
      repo: 'app',
      token: TOKEN,
      pulls: { 442: 'open', 443: 'open', 444: 'open', [NEW_PR]: 'open' },
    });
    for (const pr of [442, 443, 444]) {
      github.seedComments(
        pr,
        [
          `${COMMENT_MARKER}\n### Preview environment ready\n\n${metaLine({ sha: SHA, runId: 100, runAttempt: 1, updatedAt: hoursAgo(1), state: 'deployed' })}`,
        ],
        'github-actions[bot]',
      );
      github.seedDeployment({
        environment: `preview/pr-${pr}`,
        ref: SHA,
        payload: { runId: 100, runAttempt: 1 },
        states: ['in_progress', 'success'],
      });
    }
    const exec = cluster(HOLDERS);
    const d: Partial<LoopDeps> = {
      now: () => NOW,
      reporter: recordingReporter(),
      github: sweepGitHub({
        token: TOKEN,
        apiUrl: github.url,
        run: { runId: 777, runAttempt: 1 },
        write: true,
        comment: true,
        warn: () => {},
      }),
    };
    const result = await runLoop(
      previewInputs({ 'max-previews': '3', 'over-cap': 'evict' }),
      runCtx(),
      deps(exec, d).d,
    );
    expect(result.error).toBeUndefined();
    const w = writes(exec);
    // Only the idlest (442) goes, through the teardown's path, before this preview's namespace is created.
    expect(w.filter((l) => /helm uninstall|delete/.test(l))).toEqual([
      'helm uninstall pr-442 --namespace jetscale-pr-442 --wait --timeout 600s --ignore-not-found',
      'kubectl delete --raw /api/v1/namespaces/jetscale-pr-442 -f -',
      'kubectl wait --for=delete namespace/jetscale-pr-442 --timeout=600s',
    ]);
    expect(w.indexOf('kubectl create -f -')).toBeGreaterThan(
      w.indexOf('kubectl delete --raw /api/v1/namespaces/jetscale-pr-442 -f -'),
    );
    const comment = (pr: number) => github?.state.comments.get(pr)?.[0]?.body ?? '';
    expect(comment(442)).toContain(`removed: over the cap of 3, to make room for ${REPO}#${NEW_PR}`);
    for (const pr of [443, 444]) expect(comment(pr)).toContain('Preview environment ready');
    for (const pr of [442, 443, 444]) {
      const [dep] = github.state.deployments.filter((x) => x.environment === `preview/pr-${pr}`);
      const last = (github.state.statuses.get(dep?.id as number) ?? []).map((s) => s.state).at(-1);
      expect([pr, last]).toEqual([pr, pr === 442 ? 'inactive' : 'success']);
    }
  });
});

describe('the expiry in the sticky comment', () => {
  test('a preview deployed with a ttl reports when it expires, counted from the deploy time it records', async () => {
    const exec = cluster([]);
    const reporter = recordingReporter();
    const result = await runLoop(
      previewInputs({ ttl: '3d' }),
      runCtx(),
      deps(exec, { now: () => NOW, reporter }).d,
    );
    expect(result.error).toBeUndefined();
    const created = exec.commands.find((c) => c.args.join(' ') === 'create -f -');
    expect(created?.input).toContain('jetscale.ai/last-deploy: 2026-05-10T12:00:00Z');
    expect(reporter.deploys.map((r) => [r.status, r.expires])).toEqual([
      ['in_progress', { at: '2026-05-13T12:00:00Z', ttl: '3d' }],
      ['success', { at: '2026-05-13T12:00:00Z', ttl: '3d' }],
    ]);
  });

  const render = (expires?: { at: string; ttl: string }) =>
    deployBody(
      {
        owner: 'jetscale',
        repo: 'app',
        sha: SHA,
        runId: 9,
        runAttempt: 1,
        runUrl: 'https://github.com/jetscale/app/actions/runs/9',
        serverUrl: 'https://github.com',
      },
      { url: 'https://pr-441.app.jetscale.ai', namespace: 'ns', host: 'h', status: 'success', expires },
      { sha: SHA, runId: 9, runAttempt: 1, updatedAt: 't' },
    );

  test('the comment shows the expiry and the TTL, and that each push extends it', () => {
    expect(render({ at: '2026-05-13T12:00:00Z', ttl: '3d' })).toContain(
      '| Expires | 2026-05-13 12:00:00 UTC (idle TTL 3d; each push extends it) |',
    );
  });

  test.each([
    ['no ttl', undefined],
    ['a time that is not RFC 3339 UTC', { at: '2026-05-13 12:00 <b>', ttl: '3d' }],
    ['a ttl that is not one', { at: '2026-05-13T12:00:00Z', ttl: '3 days | x' }],
  ])('no expiry row for %s', (_name, expires) => {
    expect(render(expires)).not.toContain('Expires');
  });
});
