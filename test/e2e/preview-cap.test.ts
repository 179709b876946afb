import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { COMMENT_MARKER } from '../../src/github/index.js';
import { metaLine } from '../../src/github/render.js';
import { pullRequestEventPayload } from '../support/github-objects.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { parseCommandFile, runBundle, runnerEnv } from '../support/runner.js';
import {
  helmReleaseNamespaces,
  ingressesFor,
  makeFakePreview,
  namespaceExists,
  namespaceSnapshot,
  namespacesLabelledFor,
  RIG_IMAGES,
  RIG_VALUES,
  type RigIngress,
  rigClusterSkipReason,
  rigIngress,
  rigKubeconfig,
  rigKubectl,
  rigSkipReason,
} from './rig.js';

const skip = rigSkipReason() ?? rigClusterSkipReason();
const TOKEN = 'ghs_e2eCapTokenForTheLoopbackServer';
const REPO = 'jetscale/app';
const FAIL_PREFIX = 'jetscale-capfail-';
const EVICT_PREFIX = 'jetscale-capevict-';
/** over-cap fail: 441 and 442 hold a cap of 2; 443 is refused. */
const FAIL_HOLDERS: Record<number, number> = { 441: 30, 442: 2 };
const FAIL_NEW = 443;
/** over-cap evict: 444 (idle 30 h) and 445 (idle 2 h) hold a cap of 2; 446 evicts 444. */
const EVICTED = 444;
const EVICT_KEPT = 445;
const EVICT_HOLDERS: Record<number, number> = { [EVICTED]: 30, [EVICT_KEPT]: 2 };
const EVICT_NEW = 446;
const ALL: Array<[string, number]> = [
  ...[...Object.keys(FAIL_HOLDERS).map(Number), FAIL_NEW].map((pr) => [FAIL_PREFIX, pr] as [string, number]),
  ...[...Object.keys(EVICT_HOLDERS).map(Number), EVICT_NEW].map(
    (pr) => [EVICT_PREFIX, pr] as [string, number],
  ),
];
const shaOf = (pr: number) => `${pr}b`.repeat(10);
const hostOf = (pr: number) => `pr-${pr}.app.jetscale.ai`;

const makePreview = (prefix: string, pr: number, idleHours: number) =>
  makeFakePreview({ prefix, pr, sha: shaOf(pr), repository: REPO, idleHours });
const exists = namespaceExists;

/** The ::error:: lines of a run (what the runner shows as the step's failure). */
function errorLines(out: string): string {
  return out
    .split('\n')
    .filter((l) => l.startsWith('::error'))
    .join('\n');
}

describe.skipIf(skip)(
  `the preview cap at deploy time on the rig's shared cluster${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let github: GitHubServer;
    let ingress: RigIngress;

    /** The bundled action's preview loop of `pr` (a pull_request opened event), with a cap of 2. */
    async function preview(pr: number, prefix: string, overCap: 'fail' | 'evict') {
      const { env, dir } = runnerEnv({
        event: pullRequestEventPayload({
          action: 'opened',
          repository: REPO,
          number: pr,
          headSha: shaOf(pr),
          headRef: `feature-${pr}`,
          baseRef: 'main',
        }),
        extra: {
          GITHUB_REPOSITORY: REPO,
          GITHUB_RUN_ID: `${Date.now()}`.slice(-9),
          GITHUB_EVENT_NAME: 'pull_request',
          GITHUB_API_URL: github.url,
          GITHUB_SERVER_URL: 'https://github.com',
          NODE_EXTRA_CA_CERTS: ingress.caFile,
        },
        inputs: {
          loop: 'preview',
          'github-token': TOKEN,
          kubeconfig: rigKubeconfig(),
          'namespace-prefix': prefix,
          'max-previews': '2',
          'over-cap': overCap,
          ttl: '3d',
          images: `backend=${RIG_IMAGES.backend}\nfrontend=${RIG_IMAGES.frontend}`,
          values: 'rig-values.yaml',
          set: `ingress.className=${ingress.className}`,
          resolve: `${hostOf(pr)}=${ingress.ip}`,
          timeout: '5m',
        },
      });
      writeFileSync(join(dir, 'rig-values.yaml'), RIG_VALUES);
      const r = runBundle('dist/index.js', env);
      const code = await r.done;
      return { code, out: r.output(), outputs: parseCommandFile(join(dir, 'output')) };
    }

    const comments = (pr: number) => github.state.comments.get(pr) ?? [];
    const deploymentStates = (pr: number) =>
      github.state.deployments
        .filter((d) => d.environment === `preview/pr-${pr}`)
        .map((d) => (github.state.statuses.get(d.id) ?? []).map((s) => s.state));

    const cleanUp = (wait: boolean) => {
      for (const [prefix, pr] of ALL)
        rigKubectl(
          'delete',
          'namespace',
          `${prefix}${pr}`,
          '--ignore-not-found',
          `--wait=${wait}`,
          '--timeout=180s',
        );
    };

    beforeAll(async () => {
      ingress = rigIngress();
      // Leftovers of an interrupted earlier run would make the assertions below meaningless.
      cleanUp(true);
      github = await startGitHubServer({
        owner: 'jetscale',
        repo: 'app',
        token: TOKEN,
        pulls: Object.fromEntries(ALL.map(([, pr]) => [pr, 'open' as const])),
      });
      for (const [prefix, holders] of [
        [FAIL_PREFIX, FAIL_HOLDERS],
        [EVICT_PREFIX, EVICT_HOLDERS],
      ] as const)
        for (const [pr, idleHours] of Object.entries(holders)) {
          makePreview(prefix, Number(pr), idleHours);
          // what the preview's runs left on GitHub: the sticky comment and a successful deployment
          github.seedComments(
            Number(pr),
            [
              `${COMMENT_MARKER}\n### Preview environment ready\n\n${metaLine({ sha: shaOf(Number(pr)), runId: 1000, runAttempt: 1, updatedAt: new Date().toISOString(), state: 'deployed' })}`,
            ],
            'github-actions[bot]',
          );
          github.seedDeployment({
            environment: `preview/pr-${pr}`,
            ref: shaOf(Number(pr)),
            payload: { runId: 1000, runAttempt: 1 },
            states: ['in_progress', 'success'],
          });
        }
    }, 300_000);

    afterAll(async () => {
      await github?.close();
      cleanUp(false);
    }, 60_000);

    test('a preview beyond the cap fails, naming the cap and the previews holding it; nothing is created', async () => {
      const holders = Object.keys(FAIL_HOLDERS).map((pr) => `${FAIL_PREFIX}${pr}`);
      const before = new Map(holders.map((n) => [n, namespaceSnapshot(n)]));

      const r = await preview(FAIL_NEW, FAIL_PREFIX, 'fail');

      expect(r.code, r.out).not.toBe(0);
      const errors = errorLines(r.out);
      expect(errors, r.out).toContain('The cap of 2 previews (max-previews) is reached');
      expect(errors, r.out).toContain(`${FAIL_PREFIX}441: ${REPO} PR #441, idle for 1 day`);
      expect(errors, r.out).toContain(`${FAIL_PREFIX}442: ${REPO} PR #442, idle for 2 hours`);
      // Nothing was created for the refused PR anywhere on the cluster, and the previews holding the cap are
      // untouched (every object's resourceVersion unchanged).
      expect(exists(`${FAIL_PREFIX}${FAIL_NEW}`)).toBe(false);
      expect(namespacesLabelledFor(FAIL_NEW)).toEqual([]);
      expect(helmReleaseNamespaces(`pr-${FAIL_NEW}`)).toEqual([]);
      expect(ingressesFor(hostOf(FAIL_NEW))).toEqual([]);
      for (const [name, snapshot] of before) expect(namespaceSnapshot(name), name).toEqual(snapshot);
      // The refused PR is told why; the holders' PRs are not written to.
      expect(comments(FAIL_NEW)).toHaveLength(1);
      expect(comments(FAIL_NEW)[0]?.body).toContain('The cap of 2 previews (max-previews) is reached');
      for (const pr of Object.keys(FAIL_HOLDERS).map(Number)) {
        expect(comments(pr)[0]?.body).toContain('Preview environment ready');
        expect(deploymentStates(pr).map((s) => s.at(-1))).toEqual(['success']);
      }
    }, 300_000);

    test('a preview beyond the cap evicts the oldest idle preview and tells its PR', async () => {
      const kept = `${EVICT_PREFIX}${EVICT_KEPT}`;
      const before = namespaceSnapshot(kept);

      const r = await preview(EVICT_NEW, EVICT_PREFIX, 'evict');

      expect(r.code, r.out).toBe(0);
      // The idlest preview is gone; the other is untouched; the new one is deployed.
      expect(exists(`${EVICT_PREFIX}${EVICTED}`)).toBe(false);
      expect(namespaceSnapshot(kept)).toEqual(before);
      expect(exists(`${EVICT_PREFIX}${EVICT_NEW}`), r.out).toBe(true);
      // The evicted PR is told why, and its deployments end inactive; the kept one's say it is ready.
      expect(comments(EVICTED)).toHaveLength(1);
      expect(comments(EVICTED)[0]?.body).toContain(
        `removed: over the cap of 2, to make room for ${REPO}#${EVICT_NEW}`,
      );
      expect(deploymentStates(EVICTED).map((s) => s.at(-1))).toEqual(['inactive']);
      expect(comments(EVICT_KEPT)[0]?.body).toContain('Preview environment ready');
      expect(deploymentStates(EVICT_KEPT).map((s) => s.at(-1))).toEqual(['success']);
      // The new preview's comment shows when it expires (ttl 3d).
      const body = comments(EVICT_NEW)[0]?.body ?? '';
      expect(body).toContain('Preview environment ready');
      expect(body).toMatch(
        /\| Expires \| \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \(idle TTL 3d; each push extends it\) \|/,
      );
    }, 600_000);
  },
);
