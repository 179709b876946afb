#!/usr/bin/env node
// Benchmark: the preview loop (deploy, then teardown) through the bundled action vs the bare steps
// (kubectl create namespace + helm install --wait; helm uninstall --wait + kubectl delete namespace --wait)
// on the rig's shared cluster, each the median of N runs in the same session, so the overhead of our
// orchestration is a ratio. The action also runs the contract checks through the ingress; the bare steps do
// not. Prints figures; asserts nothing.
//   node test/bench/preview.mjs [runs=3]     (needs the rig: npm run rig:tools && npm run rig:up)
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ratio, rigValuesFile, run, runAction, table, tool, toolCache, trustedTools } from './lib.mjs';

const runs = Number(process.argv[2] ?? 3);
const rigCache = process.env.JETSCALE_RIG_CACHE ?? join(homedir(), '.cache', 'jetscale-stack', 'rig');
const kubeconfig = join(rigCache, 'kubeconfig');
const caFile = join(rigCache, 'ingress', 'ca.crt');
const dir = mkdtempSync(join(tmpdir(), 'bench-preview-'));
const values = rigValuesFile(dir);
const inspect = spawnSync(
  'docker',
  [
    'inspect',
    '-f',
    '{{with index .NetworkSettings.Networks "kind"}}{{.IPAddress}}{{end}}',
    'jetscale-rig-control-plane',
  ],
  { encoding: 'utf8' },
);
const ingressIp = inspect.stdout.trim();
if (inspect.status !== 0 || !ingressIp) {
  console.error('bench:preview: the rig cluster jetscale-rig is not up (npm run rig:up)');
  process.exit(1);
}

async function action(loop, pr) {
  const host = `pr-${pr}.app.jetscale.ai`;
  const env = {
    RUNNER_TOOL_CACHE: toolCache,
    JETSCALE_TRUSTED_TOOL_SHA256: trustedTools(),
    RUNNER_TEMP: dir,
    GITHUB_WORKSPACE: dir,
    GITHUB_RUN_ID: `bench${Date.now() % 1e6}`,
    NODE_EXTRA_CA_CERTS: caFile,
    INPUT_LOOP: loop,
    'INPUT_PR-NUMBER': String(pr),
    'INPUT_GIT-SHA': '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5',
    INPUT_IMAGES: 'backend=jetscale-rig/backend:rig\nfrontend=jetscale-rig/frontend:rig',
    INPUT_VALUES: values,
    INPUT_SET: 'ingress.className=jetscale-rig',
    INPUT_RESOLVE: `${host}=${ingressIp}`,
    INPUT_KUBECONFIG: kubeconfig,
    INPUT_TIMEOUT: '10m',
  };
  return runAction(env, `action ${loop} of PR ${pr}`);
}

async function bare(verb, pr) {
  const ns = `jetscale-pr-${pr}`;
  const steps = {};
  const env = { KUBECONFIG: kubeconfig };
  const t = async (label, cmd, args) => {
    const [code, s, out] = await run(cmd, args, env);
    if (code !== 0) throw new Error(`${label} failed (exit ${code}):\n${out.slice(-3000)}`);
    steps[label] = (steps[label] ?? 0) + s;
  };
  const t0 = performance.now();
  if (verb === 'deploy') {
    await t('namespace', tool('kubectl'), ['create', 'namespace', ns]);
    await t('helm install --wait', tool('helm'), [
      'install',
      `pr-${pr}`,
      'charts/app',
      '-n',
      ns,
      '-f',
      'charts/app/values.preview.yaml',
      '-f',
      values,
      '--set',
      `ingress.host=pr-${pr}.app.jetscale.ai`,
      '--set',
      'ingress.className=jetscale-rig',
      '--wait',
      '--timeout',
      '10m',
    ]);
  } else {
    await t('helm uninstall --wait', tool('helm'), [
      'uninstall',
      `pr-${pr}`,
      '-n',
      ns,
      '--wait',
      '--timeout',
      '10m',
    ]);
    await t('delete namespace', tool('kubectl'), ['delete', 'namespace', ns, '--wait=true', '--timeout=10m']);
  }
  return { total: (performance.now() - t0) / 1000, steps };
}

const results = { actionDeploy: [], actionTeardown: [], bareDeploy: [], bareTeardown: [] };
for (let i = 0; i < runs; i++) {
  const pr = 900 + i;
  results.actionDeploy.push(await action('preview', pr));
  results.actionTeardown.push(await action('teardown', pr));
  results.bareDeploy.push(await bare('deploy', pr + 50));
  results.bareTeardown.push(await bare('teardown', pr + 50));
  process.stderr.write(
    `run ${i + 1}/${runs}: action deploy ${results.actionDeploy[i].total.toFixed(1)} s, teardown ${results.actionTeardown[i].total.toFixed(1)} s; ` +
      `bare deploy ${results.bareDeploy[i].total.toFixed(1)} s, teardown ${results.bareTeardown[i].total.toFixed(1)} s\n`,
  );
}
table(
  'preview deploy through the action (node dist/index.js, contract checks through the ingress)',
  results.actionDeploy,
);
table('bare deploy: kubectl create namespace + helm install --wait', results.bareDeploy);
table('teardown through the action', results.actionTeardown);
table('bare teardown: helm uninstall --wait + kubectl delete namespace --wait', results.bareTeardown);
console.log(
  `\noverhead ratio, deploy (action / bare, medians): ${ratio(results.actionDeploy, results.bareDeploy)}`,
);
console.log(
  `overhead ratio, teardown (action / bare, medians): ${ratio(results.actionTeardown, results.bareTeardown)}`,
);
