import { afterEach, describe, expect, test } from 'vitest';
import { COMMENT_MARKER } from '../../src/github/index.js';
import { metaLine } from '../../src/github/render.js';
import { sweepGitHub } from '../../src/github/sweep.js';
import { runLoop } from '../../src/loops/index.js';
import { type ListedNamespace, planSweep, prKey } from '../../src/loops/sweep.js';
import type { PullRequestState } from '../../src/loops/types.js';
import { ownershipLabels } from '../../src/naming.js';
import { parseInputs, type RawInputs } from '../../src/validate.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { deps, runCtx } from '../support/loop-harness.js';
import { RecordingExecutor } from '../support/recording-executor.js';

const NOW = new Date('2026-05-10T12:00:00Z');
const REPO = 'jetscale/app';
const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString().replace(/\.000Z$/, 'Z');

/** A namespace as a preview of `repo` leaves it: our labels, the repository, the SHA, the last deploy time. */
function preview(pr: number, idleHours?: number, over: Partial<ListedNamespace> = {}): ListedNamespace {
  return {
    name: `jetscale-pr-${pr}`,
    exists: true,
    uid: `uid-${pr}`,
    resourceVersion: `${pr}0`,
    labels: ownershipLabels(pr, REPO),
    annotations: {
      'jetscale.ai/repository': REPO,
      'jetscale.ai/sha': SHA,
      ...(idleHours === undefined ? {} : { 'jetscale.ai/last-deploy': hoursAgo(idleHours) }),
    },
    ...over,
  };
}

const states = (s: Record<number, PullRequestState>) =>
  new Map(Object.entries(s).map(([pr, state]) => [prKey(REPO, Number(pr)), state]));
const options = { namespacePrefix: 'jetscale-pr-' };
const reasons = (plan: ReturnType<typeof planSweep>) => ({
  remove: plan.remove.map((d) => `${d.namespace}: ${d.reason}`),
  keep: plan.keep.map((d) => `${d.namespace}: ${d.reason}`),
});

describe('planSweep', () => {
  test.each([
    ['a closed PR is removed, however fresh', 1, { 411: 'closed' }, {}, ['jetscale-pr-411: PR closed'], []],
    ['a merged PR is removed', 1, { 411: 'merged' }, {}, ['jetscale-pr-411: PR merged'], []],
    [
      'an open PR idle past the TTL is removed',
      80,
      { 411: 'open' },
      { ttlSeconds: 3 * 86_400 },
      ['jetscale-pr-411: idle for 3 days'],
      [],
    ],
    [
      'an open PR within the TTL is kept',
      1,
      { 411: 'open' },
      { ttlSeconds: 3 * 86_400 },
      [],
      ['jetscale-pr-411: PR open, deployed 1 hour ago'],
    ],
    [
      'a PR whose state is unknown is kept while fresh',
      1,
      {},
      { ttlSeconds: 3 * 86_400 },
      [],
      ['jetscale-pr-411: PR state unknown, deployed 1 hour ago'],
    ],
  ] as const)('%s', (_name, idleHours, prs, opts, remove, keep) => {
    const plan = planSweep([preview(411, idleHours)], states(prs), NOW, { ...options, ...opts });
    expect(reasons(plan)).toEqual({ remove, keep });
  });

  test('idle past the TTL: counted from the last deploy, else the creation time', () => {
    const plan = planSweep(
      [
        preview(411, 5 * 24),
        preview(412, undefined, {
          annotations: {
            'jetscale.ai/repository': REPO,
            'jetscale.ai/created-at': hoursAgo(80),
          },
        }),
        preview(413, 71),
      ],
      states({ 411: 'open', 412: 'open', 413: 'open' }),
      NOW,
      { ...options, ttlSeconds: 3 * 86_400 },
    );
    expect(reasons(plan)).toEqual({
      remove: ['jetscale-pr-411: idle for 5 days', 'jetscale-pr-412: idle for 3 days'],
      keep: ['jetscale-pr-413: PR open, deployed 2 days ago'],
    });
  });

  test('over the cap: the longest idle go first, after the closed and the expired', () => {
    const plan = planSweep(
      [preview(411, 1), preview(412, 30), preview(413, 2), preview(414, 10), preview(415, 200)],
      states({ 411: 'open', 412: 'open', 413: 'open', 414: 'closed', 415: 'open' }),
      NOW,
      { ...options, ttlSeconds: 7 * 86_400, maxPreviews: 2 },
    );
    expect(reasons(plan)).toEqual({
      remove: [
        'jetscale-pr-414: PR closed',
        'jetscale-pr-415: idle for 8 days',
        'jetscale-pr-412: over the cap of 2',
      ],
      keep: [
        'jetscale-pr-411: PR open, deployed 1 hour ago',
        'jetscale-pr-413: PR open, deployed 2 hours ago',
      ],
    });
  });

  test('without a TTL or a cap, open previews stay however idle', () => {
    const plan = planSweep([preview(411, 5000)], states({ 411: 'open' }), NOW, options);
    expect(plan.remove).toEqual([]);
  });

  test('a namespace without our labels is never listed; one named or owned otherwise is left alone', () => {
    const plan = planSweep(
      [
        { name: 'jetscale-pr-420', exists: true, labels: { team: 'payments' }, annotations: {} },
        // our managed-by label without a PR: the baseline's namespace
        {
          name: 'jetscale-baseline',
          exists: true,
          labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack', 'jetscale.ai/baseline': 'true' },
          annotations: {},
        },
        // labelled for PR 421 of our repository, but named for another prefix
        preview(421, 500, { name: 'other-pr-421' }),
        // its repository label does not match its annotation (a hash collision or a hand edit)
        preview(422, 500, {
          annotations: { 'jetscale.ai/repository': 'globex/app', 'jetscale.ai/sha': SHA },
        }),
      ],
      states({ 420: 'closed', 421: 'closed', 422: 'closed' }),
      NOW,
      { ...options, ttlSeconds: 60, maxPreviews: 1 },
    );
    expect(plan.remove).toEqual([]);
    expect(plan.keep.map((d) => d.namespace)).toEqual(['jetscale-pr-422', 'other-pr-421']);
    expect(plan.keep.every((d) => d.reason.startsWith('left alone: '))).toBe(true);
  });
});

describe('ttl and max-previews inputs', () => {
  test.each([
    ['3d', 3 * 86_400],
    ['12h', 12 * 3600],
    ['90m', 5400],
    ['365d', 365 * 86_400],
  ])('ttl %s is %i seconds', (ttl, seconds) => {
    expect(parseInputs({ loop: 'sweep', ttl }).ttlSeconds).toBe(seconds);
  });

  test.each(['3', '3 days', '0d', '-1d', '1.5d', '366d', '3D', '1w'])(
    'ttl %j is refused, naming the input, the value and the accepted form',
    (ttl) => {
      expect(() => parseInputs({ loop: 'sweep', ttl })).toThrow(
        `Invalid input 'ttl': ${JSON.stringify(ttl)}. Expected a duration from 1m to 365d: a whole number followed by m (minutes), h (hours) or d (days) (e.g. 3d, 12h).`,
      );
    },
  );

  test.each(['0', '-3', '020', '1e3', '10001', 'twenty'])('max-previews %j is refused', (max) => {
    expect(() => parseInputs({ loop: 'sweep', 'max-previews': max })).toThrow(
      `Invalid input 'max-previews': ${JSON.stringify(max)}. Expected a whole number of previews from 1 to 10000, no sign or leading zeros (e.g. 20).`,
    );
  });

  test('unset: no TTL and no cap', () => {
    const inputs = parseInputs({ loop: 'sweep', 'max-previews': '20' });
    expect([inputs.ttlSeconds, inputs.maxPreviews]).toEqual([undefined, 20]);
  });
});

describe('the sweep loop against the loopback GitHub server', () => {
  let github: GitHubServer | undefined;
  afterEach(async () => {
    await github?.close();
    github = undefined;
  });

  const TOKEN = 'ghs_sweepTokenForTheLoopbackServer';
  // 411 closed, 412 merged, 413 open but idle 5 days, 414 and 415 open: with a cap of 1, 414 (idler) goes.
  const listed = [preview(411, 1), preview(412, 2), preview(413, 120), preview(414, 30), preview(415, 3)];

  async function setUp(dryRun: boolean) {
    github = await startGitHubServer({
      owner: 'jetscale',
      repo: 'app',
      token: TOKEN,
      pulls: { 411: 'closed', 412: 'merged', 413: 'open', 414: 'open', 415: 'open' },
    });
    for (const pr of [411, 412, 413, 414, 415]) {
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
    const exec = new RecordingExecutor().reply(/^kubectl get namespaces -l /, {
      stdout: JSON.stringify({
        items: listed.map((n) => ({
          metadata: {
            name: n.name,
            uid: n.uid,
            resourceVersion: n.resourceVersion,
            labels: n.labels,
            annotations: n.annotations,
          },
        })),
      }),
    });
    for (const n of listed)
      exec.reply(new RegExp(`^kubectl get namespace ${n.name} `), {
        stdout: JSON.stringify({
          metadata: {
            name: n.name,
            uid: n.uid,
            resourceVersion: n.resourceVersion,
            labels: n.labels,
            annotations: n.annotations,
          },
        }),
      });
    const raw: RawInputs = {
      loop: 'sweep',
      repository: REPO,
      'git-sha': SHA,
      ttl: '3d',
      'max-previews': '1',
      'github-token': TOKEN,
      ...(dryRun ? { 'dry-run': 'true' } : {}),
    };
    const d = deps(exec, {
      now: () => NOW,
      github: sweepGitHub({
        token: TOKEN,
        apiUrl: github.url,
        run: { runId: 777, runAttempt: 1 },
        write: !dryRun,
        comment: true,
        warn: () => {},
      }),
    });
    const result = await runLoop(parseInputs(raw), runCtx(), d.d);
    return { result, exec, log: d.log, github };
  }

  test('removes the closed, the merged, the idle and the one over the cap; tells each PR why', async () => {
    const { result, exec, github: gh } = await setUp(false);
    expect(result.error).toBeUndefined();
    const uninstalled = exec.lines().filter((l) => l.startsWith('helm uninstall'));
    expect(uninstalled).toEqual(
      [411, 412, 413, 414].map(
        (pr) =>
          `helm uninstall pr-${pr} --namespace jetscale-pr-${pr} --wait --timeout 600s --ignore-not-found`,
      ),
    );
    expect(exec.lines().filter((l) => l.includes('jetscale-pr-415'))).toEqual([]);
    const comment = (pr: number) => gh.state.comments.get(pr)?.[0]?.body ?? '';
    expect(comment(411)).toContain('removed: PR closed');
    expect(comment(412)).toContain('removed: PR merged');
    expect(comment(413)).toContain('removed: idle for 5 days');
    expect(comment(414)).toContain('removed: over the cap of 1');
    expect(comment(415)).toContain('Preview environment ready');
    for (const pr of [411, 412, 413, 414, 415]) {
      const [dep] = gh.state.deployments.filter((x) => x.environment === `preview/pr-${pr}`);
      const last = (gh.state.statuses.get(dep?.id as number) ?? []).map((s) => s.state).at(-1);
      expect([pr, last]).toEqual([pr, pr === 415 ? 'success' : 'inactive']);
    }
    // Each PR's state asked once, of the repository its labels name.
    expect(gh.lines().filter((l) => l.startsWith('GET') && l.includes('/pulls/'))).toEqual(
      [411, 412, 413, 414, 415].map((pr) => `GET /repos/jetscale/app/pulls/${pr}`),
    );
  });

  test('dry run: reads the cluster and GitHub, plans the same, and changes nothing', async () => {
    const real = await setUp(false);
    await github?.close();
    const dry = await setUp(true);
    expect(dry.result.error).toBeUndefined();
    expect(dry.result.sweep).toEqual(real.result.sweep);
    expect(dry.exec.lines()).toEqual([expect.stringMatching(/^kubectl get namespaces -l /)]);
    expect(dry.github.lines().filter((l) => !l.startsWith('GET'))).toEqual([]);
    expect(dry.log).toContain('would remove jetscale-pr-414 (jetscale/app PR #414): over the cap of 1');
  });
});
