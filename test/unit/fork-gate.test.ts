import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { decideForkPreview, type ForkFacts, latestLabeling } from '../../src/fork/gate.js';
import { imageTarballs, parseClaims, run as run_ } from '../../src/fork/main.js';
import { publishForkBuild, workflowRunEvent } from '../support/fork.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';

const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const NEWER = 'a'.repeat(40);
const FORK = 'mallory/demo';
const BASE = 'jetscale/demo';

const FORK_PULL = { number: 401, state: 'open', headSha: SHA, headRepository: FORK, labels: ['preview'] };

/** A fork PR a writer labelled after its head arrived: the gate's yes. Each row changes one fact. */
function facts(over: Partial<ForkFacts> = {}): ForkFacts {
  return {
    repository: BASE,
    label: 'preview',
    run: { event: 'pull_request', conclusion: 'success', headSha: SHA, headRepository: FORK },
    claims: { prNumber: 401, headSha: SHA },
    pull: FORK_PULL,
    events: [{ event: 'labeled', label: 'preview', actor: 'maintainer', createdAt: '2026-05-10T12:00:00Z' }],
    labelerRole: 'write',
    headFirstSeenAt: '2026-05-10T11:00:00Z',
    ...over,
  };
}
const pull = (over: Partial<NonNullable<ForkFacts['pull']>>) => ({ pull: { ...FORK_PULL, ...over } });

describe('decideForkPreview', () => {
  test.each(['write', 'maintain', 'admin'])('labelled by a %s: deploys the built SHA into the PR', (role) => {
    expect(decideForkPreview(facts({ labelerRole: role }))).toEqual({
      deploy: true,
      prNumber: 401,
      sha: SHA,
      headRepository: FORK,
      approvedBy: 'maintainer',
      reason: expect.stringContaining(`maintainer (${role}) applied the label 'preview'`),
    });
  });

  test.each<[string, Partial<ForkFacts>, RegExp, boolean]>([
    ['unlabelled', pull({ labels: ['bug'] }), /does not carry the label 'preview'/, false],
    [
      'labelled by a non-writer (triage)',
      { labelerRole: 'triage' },
      /applied by maintainer, whose permission on jetscale\/demo is triage/,
      false,
    ],
    [
      'labelled by a non-writer (read)',
      { labelerRole: 'read' },
      /permission .* is read; only write, maintain, admin/,
      false,
    ],
    ['labeller unknown to GitHub', { labelerRole: 'none' }, /is none/, false],
    [
      'a push after the label',
      { headFirstSeenAt: '2026-05-10T12:05:00Z' },
      /push after the label is not approved; the label is removed/,
      true,
    ],
    [
      'a push in the same second as the label',
      { headFirstSeenAt: '2026-05-10T12:00:00Z' },
      /push after the label/,
      true,
    ],
    ['head arrival unknown', { headFirstSeenAt: undefined }, /at an unknown time/, true],
    [
      'a force push (back to an older commit) after the label',
      {
        events: [
          ...facts().events,
          { event: 'head_ref_force_pushed', actor: 'mallory', createdAt: '2026-05-10T12:01:00Z' },
        ],
      },
      /force-pushed at 2026-05-10T12:01:00Z, after maintainer applied the label/,
      true,
    ],
    ['the PR moved on since the build', pull({ headSha: NEWER }), /now at a{40}, not the built 4f2c/, false],
    [
      'the artifact claims another SHA',
      { claims: { prNumber: 401, headSha: NEWER } },
      /claims commit a{40}, but GitHub says the run built 4f2c/,
      false,
    ],
    [
      'the artifact names a PR of another fork',
      pull({ headRepository: 'eve/demo' }),
      /comes from eve\/demo, but the build run built mallory\/demo/,
      false,
    ],
    [
      'the artifact names a same-repository PR',
      { run: { ...facts().run, headRepository: BASE }, ...pull({ headRepository: BASE }) },
      /not from a fork/,
      false,
    ],
    [
      'the artifact names no PR',
      { pull: undefined },
      /#401 \(named by the build's artifact\) does not exist/,
      false,
    ],
    [
      'the artifact is unreadable',
      { claims: { error: 'claims.json is not JSON' } },
      /artifact is unusable: claims.json is not JSON/,
      false,
    ],
    ['the PR is closed', pull({ state: 'closed' }), /#401 is closed/, false],
    ['the build failed', { run: { ...facts().run, conclusion: 'failure' } }, /concluded failure/, false],
    [
      'not a pull_request build',
      { run: { ...facts().run, event: 'push' } },
      /event is push, not pull_request/,
      false,
    ],
    [
      'the label was removed since',
      {
        events: [
          ...facts().events,
          { event: 'unlabeled', label: 'preview', actor: 'x', createdAt: '2026-05-10T12:02:00Z' },
        ],
      },
      /no event shows who applied/,
      false,
    ],
  ])('%s: deploys nothing, says why', (_name, over, reason, removeLabel) => {
    const d = decideForkPreview(facts(over));
    expect(d.deploy).toBe(false);
    if (d.deploy) return;
    expect(d.reason).toMatch(reason);
    expect(d.removeLabel).toBe(removeLabel);
  });

  test("a configured label: only it approves, the default's 'preview' does not", () => {
    const other = facts({ label: 'preview-fork' });
    expect(decideForkPreview(other).deploy).toBe(false);
    const labelled = facts({
      label: 'preview-fork',
      ...pull({ labels: ['preview-fork'] }),
      events: [{ event: 'labeled', label: 'preview-fork', actor: 'lead', createdAt: '2026-05-10T12:00:00Z' }],
    });
    expect(decideForkPreview(labelled)).toMatchObject({ deploy: true, approvedBy: 'lead' });
  });

  test("the latest application counts: a non-writer's relabel after a writer's is that non-writer's", () => {
    const events = [
      { event: 'labeled', label: 'preview', actor: 'maintainer', createdAt: '2026-05-10T12:00:00Z' },
      { event: 'unlabeled', label: 'preview', actor: 'outsider', createdAt: '2026-05-10T12:01:00Z' },
      { event: 'labeled', label: 'preview', actor: 'outsider', createdAt: '2026-05-10T12:02:00Z' },
    ];
    expect(latestLabeling(events, 'preview')?.actor).toBe('outsider');
    expect(latestLabeling(events.slice(0, 2), 'preview')).toBeUndefined();
  });
});

describe('the build artifact, read as data', () => {
  test.each<[string, string, RegExp | object]>([
    ['valid', JSON.stringify({ pr: 401, sha: SHA }), { prNumber: 401, headSha: SHA }],
    ['not JSON', '{pr:', /not JSON/],
    [
      'PR number as a string',
      JSON.stringify({ pr: '401', sha: SHA }),
      /pr "401" is not a pull request number/,
    ],
    ['PR number zero', JSON.stringify({ pr: 0, sha: SHA }), /pr 0 is not/],
    [
      'short SHA',
      JSON.stringify({ pr: 401, sha: '4f2c9e1' }),
      /sha "4f2c9e1" is not a 40-hex-digit commit SHA/,
    ],
  ])('claims.json %s', (_name, text, expected) => {
    const claims = parseClaims(text);
    if (expected instanceof RegExp) expect((claims as { error: string }).error).toMatch(expected);
    else expect(claims).toEqual(expected);
  });

  test.each<[string, string[], RegExp | string[]]>([
    ['service tarballs', ['backend.tar', 'frontend.tar'], ['backend', 'frontend']],
    [
      'a file that is no service tarball',
      ['backend.tar', 'run.sh'],
      /holds "run.sh"; expected only <service>.tar files/,
    ],
    ['an upper-case service', ['Backend.tar'], /holds "Backend.tar"/],
    ['nothing', [], /holds no <service>.tar file/],
  ])('images: %s', (_name, files, expected) => {
    const dir = mkdtempSync(join(tmpdir(), 'fork-images-'));
    try {
      for (const f of files) writeFileSync(join(dir, f), 'x');
      if (expected instanceof RegExp) expect(() => imageTarballs(dir)).toThrow(expected);
      else expect([...imageTarballs(dir).keys()].sort()).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a directory named like a tarball is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fork-images-'));
    try {
      mkdirSync(join(dir, 'backend.tar'));
      expect(() => imageTarballs(dir)).toThrow(/holds "backend.tar"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the trusted stage (dist/fork-gate) against the GitHub double', () => {
  const PR = 401;
  const T = (min: number) => `2026-05-10T12:${String(min).padStart(2, '0')}:00Z`;
  let gh: GitHubServer;
  let dir: string;
  const saved = { ...process.env };

  beforeEach(async () => {
    gh = await startGitHubServer({
      owner: 'jetscale',
      repo: 'demo',
      token: 'ghs_fork',
      pulls: { [PR]: 'open' },
      roles: { maintainer: 'maintain', helper: 'triage' },
    });
    gh.updatePull(PR, { headSha: SHA, headRepo: FORK, headRef: 'feature' });
  });
  afterEach(async () => {
    process.env = { ...saved };
    await gh.close(); // every request and response held to GitHub's description
  });
  // one directory for all: core.summary keeps the summary file's path from its first write
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fork-stage2-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs stage 2 for `run`'s workflow_run event; answers its outputs and summary. */
  async function stage2(run: ReturnType<typeof publishForkBuild>) {
    const event = join(dir, `event-${run.id}.json`);
    writeFileSync(event, JSON.stringify(workflowRunEvent(gh, run)));
    for (const f of ['output', 'summary']) writeFileSync(join(dir, f), '');
    Object.assign(process.env, {
      GITHUB_EVENT_PATH: event,
      GITHUB_REPOSITORY: BASE,
      GITHUB_API_URL: gh.url,
      GITHUB_OUTPUT: join(dir, 'output'),
      GITHUB_STEP_SUMMARY: join(dir, 'summary'),
      RUNNER_TEMP: join(dir, 'temp'),
      INPUT_TOKEN: 'ghs_fork',
      INPUT_LABEL: '',
    });
    process.exitCode = undefined;
    await run_();
    const failed = process.exitCode;
    process.exitCode = undefined;
    const out = readFileSync(join(dir, 'output'), 'utf8');
    const outputs = Object.fromEntries(
      [...out.matchAll(/^(\S+)<<(\S+)\n([\s\S]*?)\n\2$/gm)].map((m) => [m[1], m[3]]),
    );
    return { failed, outputs, summary: readFileSync(join(dir, 'summary'), 'utf8') };
  }

  const build = (
    sha: string,
    createdAt: string,
    over: Partial<Parameters<typeof publishForkBuild>[1]> = {},
  ) =>
    publishForkBuild(gh, {
      pr: PR,
      sha,
      headRepo: FORK,
      headBranch: 'feature',
      images: { 'backend.tar': 'backend image', 'frontend.tar': 'frontend image' },
      createdAt,
      ...over,
    });

  test('labelled by a writer: the images of the built SHA, unpacked for the deploy', async () => {
    build(SHA, T(0)); // opened
    gh.labelPull(PR, 'preview', 'maintainer', T(5));
    const { failed, outputs } = await stage2(build(SHA, T(6))); // the labeled event's build
    expect(failed).toBeUndefined();
    expect(outputs).toMatchObject({
      deploy: 'true',
      'pr-number': '401',
      sha: SHA,
      services: 'backend frontend',
    });
    expect(readFileSync(join(outputs['images-dir'] as string, 'backend.tar'), 'utf8')).toBe('backend image');
    // the zip came through GitHub's redirect, with the token only where GitHub asks for it
    expect(gh.lines()).toContainEqual(expect.stringMatching(/^GET \/_artifact-blobs\/\d+\.zip\?sig=/));
  });

  test('unlabelled: deploys nothing, says why, downloads no image', async () => {
    const { outputs, summary } = await stage2(build(SHA, T(0)));
    expect(outputs).toEqual({ deploy: 'false', 'pr-number': '401' });
    expect(summary).toContain("does not carry the label 'preview'");
    const artifactDownloads = gh.lines().filter((l) => l.startsWith('GET /_artifact-blobs/'));
    expect(artifactDownloads).toHaveLength(1); // the claims, not the images
  });

  test('labelled by a non-writer: deploys nothing, the label stays', async () => {
    build(SHA, T(0));
    gh.labelPull(PR, 'preview', 'helper', T(5));
    const { outputs, summary } = await stage2(build(SHA, T(6)));
    expect(outputs.deploy).toBe('false');
    expect(summary).toContain('applied by helper, whose permission on jetscale/demo is triage');
    expect(gh.state.pulls.get(PR)?.labels).toEqual(['preview']);
  });

  test('a push after the label: deploys nothing and removes the label', async () => {
    build(SHA, T(0));
    gh.labelPull(PR, 'preview', 'maintainer', T(5));
    gh.updatePull(PR, { headSha: NEWER });
    const { outputs, summary } = await stage2(build(NEWER, T(7))); // synchronize
    expect(outputs.deploy).toBe('false');
    expect(summary).toContain('a push after the label is not approved; the label is removed');
    expect(gh.state.pulls.get(PR)?.labels).toEqual([]);
    expect(gh.lines()).toContain('DELETE /repos/jetscale/demo/issues/401/labels/preview');
    expect(gh.state.issueEvents.get(PR)?.at(-1)).toMatchObject({
      event: 'unlabeled',
      actor: { login: 'github-actions[bot]' },
    });
  });

  test("a forged claim (another fork's PR) deploys nothing", async () => {
    build(SHA, T(0));
    gh.labelPull(PR, 'preview', 'maintainer', T(5));
    const { outputs, summary } = await stage2(
      build(SHA, T(6), { headRepo: 'eve/demo', headBranch: 'feature' }), // eve's run claims mallory's PR
    );
    expect(outputs.deploy).toBe('false');
    expect(summary).toContain('comes from mallory/demo, but the build run built eve/demo');
  });

  test('a build without claims fails nothing open: deploys nothing, names the missing artifact', async () => {
    const run = gh.addRun({ headRepo: FORK, headBranch: 'feature', headSha: SHA, createdAt: T(0) });
    const { outputs, summary } = await stage2(run);
    expect(outputs.deploy).toBe('false');
    expect(summary).toContain('the build run has no artifact jetscale-fork-claims');
  });
});
