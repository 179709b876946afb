import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { COMMENT_MARKER } from '../../src/github/index.js';
import { metaLine } from '../../src/github/render.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { parseCommandFile, runBundle, runnerEnv } from '../support/runner.js';
import {
  createForeignNamespace,
  makeFakePreview,
  namespaceExists,
  namespaceSnapshot,
  rigClusterSkipReason,
  rigKubeconfig,
  rigKubectl,
  rigSkipReason,
} from './rig.js';

const skip = rigSkipReason() ?? rigClusterSkipReason();
const TOKEN = 'ghs_e2eTokenForTheLoopbackServer';
const REPO = 'jetscale/app';
const PREFIX = 'jetscale-sweep-';
const SHA = '4310431043104310431043104310431043104310';
/** 431 closed; 432 open but idle 5 days (ttl 3d); 433, 434, 435 open, with a cap of 2: 433 (the idlest) goes. */
const CLOSED = 431;
const IDLE = 432;
const OVER_CAP = 433;
const OPEN = [434, 435];
const IDLE_HOURS: Record<number, number> = { 431: 1, 432: 120, 433: 30, 434: 2, 435: 1 };
const PRS = [CLOSED, IDLE, OVER_CAP, ...OPEN];
const FOREIGN = `${PREFIX}436`;
const ns = (pr: number) => `${PREFIX}${pr}`;

/** A preview of PR `pr` under this file's prefix, deployed `idleHours` ago. */
const makePreview = (pr: number, idleHours: number) =>
  makeFakePreview({ prefix: PREFIX, pr, sha: SHA, repository: REPO, idleHours });
const exists = namespaceExists;

describe.skipIf(skip)(`sweep on the rig's shared cluster${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let github: GitHubServer;

  async function sweep(dryRun: boolean) {
    const { env, dir } = runnerEnv({
      extra: {
        GITHUB_REPOSITORY: REPO,
        GITHUB_RUN_ID: `${Date.now()}`.slice(-9),
        GITHUB_EVENT_NAME: 'schedule',
        GITHUB_SHA: SHA,
        GITHUB_API_URL: github.url,
        GITHUB_SERVER_URL: 'https://github.com',
      },
      inputs: {
        loop: 'sweep',
        'github-token': TOKEN,
        kubeconfig: rigKubeconfig(),
        'namespace-prefix': PREFIX,
        ttl: '3d',
        'max-previews': '2',
        timeout: '3m',
        'dry-run': String(dryRun),
      },
    });
    const r = runBundle('dist/index.js', env);
    const code = await r.done;
    return { code, out: r.output(), outputs: parseCommandFile(join(dir, 'output')) };
  }

  const cleanUp = (wait: boolean) => {
    for (const name of [...PRS.map(ns), FOREIGN])
      rigKubectl('delete', 'namespace', name, '--ignore-not-found', `--wait=${wait}`, '--timeout=180s');
  };

  beforeAll(async () => {
    // Leftovers of an interrupted earlier run would make the assertions below meaningless.
    cleanUp(true);
    github = await startGitHubServer({
      owner: 'jetscale',
      repo: 'app',
      token: TOKEN,
      pulls: {
        [CLOSED]: 'closed',
        [IDLE]: 'open',
        [OVER_CAP]: 'open',
        [OPEN[0] as number]: 'open',
        [OPEN[1] as number]: 'open',
      },
    });
    for (const pr of PRS) {
      makePreview(pr, IDLE_HOURS[pr] as number);
      // what the preview's runs left on GitHub: the sticky comment and a successful deployment
      github.seedComments(
        pr,
        [
          `${COMMENT_MARKER}\n### Preview environment ready\n\n${metaLine({ sha: SHA, runId: 1000, runAttempt: 1, updatedAt: new Date().toISOString(), state: 'deployed' })}`,
        ],
        'github-actions[bot]',
      );
      github.seedDeployment({
        environment: `preview/pr-${pr}`,
        ref: SHA,
        payload: { runId: 1000, runAttempt: 1 },
        states: ['in_progress', 'success'],
      });
    }
    // named like ours, without our labels: never listed, never touched
    await createForeignNamespace(FOREIGN, { team: 'payments' });
  }, 300_000);

  afterAll(async () => {
    await github?.close();
    cleanUp(false);
  }, 60_000);

  test("the sweep's dry-run lists the same previews and changes nothing (no object, no comment)", async () => {
    const before = new Map([...PRS.map(ns), FOREIGN].map((n) => [n, namespaceSnapshot(n)]));
    const requests = github.requests.length;
    const r = await sweep(true);
    expect(r.code, r.out).toBe(0);
    const plan = JSON.parse(r.outputs.plan ?? '{}') as {
      sweep: { remove: Array<{ namespace: string; reason: string }>; keep: Array<{ namespace: string }> };
    };
    expect(plan.sweep.remove.map((d) => `${d.namespace}: ${d.reason}`)).toEqual([
      `${ns(CLOSED)}: PR closed`,
      `${ns(IDLE)}: idle for 5 days`,
      `${ns(OVER_CAP)}: over the cap of 2`,
    ]);
    // other scenarios' previews on the shared cluster are listed as kept too (another prefix: left alone)
    expect(plan.sweep.keep.map((d) => d.namespace).filter((n) => n.startsWith(PREFIX))).toEqual(OPEN.map(ns));
    expect(r.out).toContain(`would remove ${ns(CLOSED)} (${REPO} PR #${CLOSED}): PR closed`);
    for (const [name, snapshot] of before) expect(namespaceSnapshot(name), name).toEqual(snapshot);
    expect(github.requests.slice(requests).filter((q) => q.method !== 'GET')).toEqual([]);
  }, 300_000);

  test('the sweep removes a closed PR’s preview, an idle one and the oldest over a cap, leaves an open one and an unlabelled namespace untouched (every object’s resourceVersion unchanged), and updates the comments', async () => {
    const kept = new Map([...OPEN.map(ns), FOREIGN].map((n) => [n, namespaceSnapshot(n)]));
    const r = await sweep(false);
    expect(r.code, r.out).toBe(0);
    for (const pr of [CLOSED, IDLE, OVER_CAP]) expect(exists(ns(pr)), ns(pr)).toBe(false);
    for (const [name, snapshot] of kept) expect(namespaceSnapshot(name), name).toEqual(snapshot);
    const comment = (pr: number) => github.state.comments.get(pr) ?? [];
    for (const [pr, why] of [
      [CLOSED, 'removed: PR closed'],
      [IDLE, 'removed: idle for 5 days'],
      [OVER_CAP, 'removed: over the cap of 2'],
    ] as const) {
      expect(comment(pr)).toHaveLength(1);
      expect(comment(pr)[0]?.body).toContain(why);
    }
    for (const pr of OPEN) expect(comment(pr)[0]?.body).toContain('Preview environment ready');
    for (const pr of PRS) {
      const [d] = github.state.deployments.filter((x) => x.environment === `preview/pr-${pr}`);
      const states = (github.state.statuses.get(d?.id as number) ?? []).map((s) => s.state);
      expect([pr, states.at(-1)]).toEqual([pr, OPEN.includes(pr) ? 'success' : 'inactive']);
    }
  }, 600_000);
});
