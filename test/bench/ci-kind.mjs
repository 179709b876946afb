#!/usr/bin/env node
// Benchmark: the ci-kind loop through the bundled action vs the bare steps (kind create cluster + kind load +
// helm install --wait + kind delete) on the rig, each the median of N runs in the same session, so the
// overhead of our orchestration is a ratio. Prints figures; asserts nothing.
//   node test/bench/ci-kind.mjs [runs=3]        (needs the rig: npm run rig:tools && npm run rig:up)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ratio, rigValuesFile, run, runAction, table, tool, toolCache, trustedTools } from './lib.mjs';

const runs = Number(process.argv[2] ?? 3);
const nodeImage = process.env.JETSCALE_RIG_NODE_IMAGE ?? 'jetscale-rig/kind-node:v1.34.4';
const images = {
  backend: 'jetscale-rig/backend:rig',
  frontend: 'jetscale-rig/frontend:rig',
  postgres: 'jetscale-rig/postgres:15',
  redis: 'jetscale-rig/redis:7',
};
const dir = mkdtempSync(join(tmpdir(), 'bench-'));
const values = rigValuesFile(dir);

async function actionRun(i) {
  const env = {
    RUNNER_TOOL_CACHE: toolCache,
    JETSCALE_TRUSTED_TOOL_SHA256: trustedTools(),
    RUNNER_TEMP: dir,
    GITHUB_WORKSPACE: dir,
    GITHUB_RUN_ID: `bench${Date.now() % 1e6}${i}`,
    INPUT_LOOP: 'ci-kind',
    'INPUT_GIT-SHA': '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5',
    'INPUT_NODE-IMAGE': nodeImage,
    INPUT_IMAGES: `backend=${images.backend}\nfrontend=${images.frontend}`,
    'INPUT_KIND-IMAGES': `${images.postgres}\n${images.redis}`,
    INPUT_VALUES: values,
    INPUT_TIMEOUT: '10m',
  };
  return runAction(env, `action run ${i}`);
}

async function bareRun(i) {
  const name = `bench-bare-${i}`;
  const kubeconfig = join(dir, `${name}.kubeconfig`);
  const steps = {};
  const t = async (label, cmd, args, env) => {
    const [code, s] = await run(cmd, args, env);
    if (code !== 0) throw new Error(`${label} failed (exit ${code})`);
    steps[label] = (steps[label] ?? 0) + s;
  };
  const t0 = performance.now();
  await t('cluster', tool('kind'), [
    'create',
    'cluster',
    '--name',
    name,
    '--config',
    'kind/cluster.ci.yaml',
    '--image',
    nodeImage,
    '--kubeconfig',
    kubeconfig,
    '--wait',
    '300s',
  ]);
  for (const ref of Object.values(images))
    await t('images', tool('kind'), ['load', 'docker-image', ref, '--name', name]);
  await t(
    'deploy+ready',
    tool('helm'),
    [
      'install',
      'app',
      'charts/app',
      '-n',
      'jetscale-ci',
      '--create-namespace',
      '-f',
      values,
      '--set',
      'global.environment=ci',
      '--wait',
      '--timeout',
      '10m',
    ],
    { KUBECONFIG: kubeconfig },
  );
  await t('delete cluster', tool('kind'), ['delete', 'cluster', '--name', name]);
  return { total: (performance.now() - t0) / 1000, steps };
}

const action = [];
const bare = [];
for (let i = 0; i < runs; i++) {
  action.push(await actionRun(i));
  bare.push(await bareRun(i));
  process.stderr.write(
    `run ${i + 1}/${runs}: action ${action[i].total.toFixed(1)} s, bare ${bare[i].total.toFixed(1)} s\n`,
  );
}
table('ci-kind through the action (node dist/index.js)', action);
table('bare steps: kind create + kind load + helm install --wait + kind delete', bare);
console.log(`\noverhead ratio (action / bare, medians): ${ratio(action, bare)}`);
console.log('(the action also runs the contract checks, which the bare steps do not)');
