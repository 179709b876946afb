/**
 * The ci-kind loop end to end on real Kubernetes: the bundled action (node dist/index.js, as a runner runs it)
 * creates its own Kind cluster from kind/cluster.ci.yaml, loads the example services' images, deploys with
 * Skaffold's ci-kind profile, runs the contract checks and removes the cluster — also when a check fails, and
 * from the post step when the main step is killed.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseCommandFile, runBundle, runnerEnv, waitForOutput } from '../support/runner.js';
import {
  diagnosticsFiles,
  FULL_CHECKS,
  kindClusters,
  RIG_IMAGES,
  RIG_NODE_IMAGE,
  RIG_VALUES,
  rigSkipReason,
} from './rig.js';

const skip = rigSkipReason();
const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';

function ciKindEnv(runId: string, extra: Record<string, string> = {}) {
  const r = runnerEnv({
    extra: { GITHUB_RUN_ID: runId, GITHUB_REPOSITORY: 'jetscale/app' },
    inputs: {
      loop: 'ci-kind',
      'git-sha': SHA,
      'node-image': RIG_NODE_IMAGE,
      images: `backend=${RIG_IMAGES.backend}\nfrontend=${RIG_IMAGES.frontend}`,
      'kind-images': `${RIG_IMAGES.postgres}\n${RIG_IMAGES.redis}`,
      timeout: '8m',
      ...extra,
    },
  });
  writeFileSync(join(r.dir, 'rig-values.yaml'), RIG_VALUES);
  r.env.INPUT_VALUES = join(r.dir, 'rig-values.yaml');
  return r;
}

describe.skipIf(skip)(`ci-kind on the rig${skip ? ` (skipped: ${skip})` : ''}`, () => {
  test('deploys, passes the contract checks and removes its cluster', async () => {
    const { env, dir } = ciKindEnv(`${Date.now()}`.slice(-8));
    const run = runBundle('dist/index.js', env);
    const code = await run.done;
    const out = run.output();
    expect(code, out).toBe(0);
    const outputs = parseCommandFile(join(dir, 'output'));
    expect(outputs.namespace).toBe('jetscale-ci');
    for (const check of FULL_CHECKS) expect(out).toMatch(new RegExp(`✓ ${check} `));
    expect(kindClusters()).not.toContain(outputs.cluster);
    const state = parseCommandFile(join(dir, 'state'));
    expect(state).toMatchObject({
      clusterName: outputs.cluster,
      clusterCreated: 'true',
      clusterDeleted: 'true',
    });
  });

  test('a failing contract check fails the job, names the check, collects diagnostics, and still removes the cluster', async () => {
    // The backend reports another SHA than the one the run expects (as when stale images are deployed):
    // frontend-api must fail, while every pod is Ready.
    const { env, dir } = ciKindEnv(`${Date.now()}`.slice(-8), { timeout: '3m' });
    writeFileSync(join(dir, 'stale.yaml'), 'services:\n  backend:\n    env: { GIT_SHA: "0000000" }\n');
    env.INPUT_VALUES = `${env.INPUT_VALUES}\n${join(dir, 'stale.yaml')}`;
    const run = runBundle('dist/index.js', env);
    const code = await run.done;
    const out = run.output();
    expect(code, out).toBe(1);
    expect(out).toMatch(
      /::error::Contract checks failed: frontend-api \(http:\/\/127\.0\.0\.1:\d+\/api\/version\)/,
    );
    const outputs = parseCommandFile(join(dir, 'output'));
    expect(kindClusters()).not.toContain(outputs.cluster);
    const diag = outputs['diagnostics-dir'] as string;
    expect(existsSync(diag), out).toBe(true);
    // What the files hold, for a failure with every pod healthy: the namespace's objects and their events, and
    // the services' logs (from the Kind node), where the backend says which SHA it runs.
    const files = diagnosticsFiles(diag);
    const listing = files.map((f) => f.path).join('\n');
    const all = files.map((f) => f.text).join('\n');
    for (const object of [
      'deployment.apps/app-backend',
      'deployment.apps/app-frontend',
      'service/app-backend',
    ])
      expect(all, `${object} in none of:\n${listing}`).toContain(object);
    const events = all
      .split('\n')
      .filter((l) => /\bpod\/app-backend-/.test(l) && /\b(Scheduled|Pulled|Created|Started)\b/.test(l));
    expect(events, `no event of the backend's pod in:\n${listing}`).not.toEqual([]);
    const logOf = (component: string) =>
      files
        .filter((f) => f.path.includes(`app-${component}-`) && f.path.endsWith('.log'))
        .flatMap((f) => f.text.split('\n'))
        .filter((l) => l.includes('"msg":"listening"'));
    expect(logOf('backend'), `no backend log in:\n${listing}`).toEqual(
      expect.arrayContaining([expect.stringContaining('"gitSha":"0000000"')]),
    );
    expect(logOf('frontend'), `no frontend log in:\n${listing}`).toEqual(
      expect.arrayContaining([expect.stringContaining(`"gitSha":"${SHA}"`)]),
    );
  });

  test('the post step removes the cluster when the main step is killed', async () => {
    const { env, dir } = ciKindEnv(`${Date.now()}`.slice(-8));
    const run = runBundle('dist/index.js', env);
    // the cluster step has ended (the images may still be loading into it): the cluster exists
    await waitForOutput(run, /✓ cluster \(/, 300_000);
    run.child.kill('SIGKILL');
    await run.done;
    const state = parseCommandFile(join(dir, 'state'));
    expect(state.clusterCreated).toBe('true');
    // kind is not on this PATH: the post step must find it through the state the main step saved.
    expect(state.kindPath).toMatch(/\/kind$/);
    expect(kindClusters()).toContain(state.clusterName);
    const postEnv = { ...env };
    for (const [k, v] of Object.entries(state)) postEnv[`STATE_${k}`] = v;
    const post = runBundle('dist/post/index.js', postEnv);
    expect(await post.done, post.output()).toBe(0);
    expect(post.output()).toContain(`removing Kind cluster ${state.clusterName}`);
    expect(post.output()).not.toContain('::warning::');
    expect(kindClusters()).not.toContain(state.clusterName);
  });
});
