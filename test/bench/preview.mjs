#!/usr/bin/env node
// Benchmark: the preview loop (deploy, then teardown) through the bundled action vs the bare steps (kubectl
// create namespace + helm install --wait; helm uninstall --wait + kubectl delete namespace --wait) on the rig's
// shared cluster, interleaved in one invocation (action, bare, action, bare, …) so machine noise hits both.
// The action also runs the contract checks through the ingress; the bare steps do not. Per step: median, min,
// max, and where the deploy's overhead goes; the last two lines are the ratios of the median totals. Prints
// figures; asserts nothing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchMain,
  duration,
  durationOf,
  ganttOfMedianRuns,
  interleave,
  ownTime,
  ratioLine,
  rigValuesFile,
  run,
  runAction,
  stepRows,
  stopwatch,
  tableLines,
  tool,
  toolCache,
  trustedTools,
} from './lib.mjs';

const USAGE = `usage: node test/bench/preview.mjs [--runs N] [--gantt FILE]     (npm run bench:preview -- …)
  --runs N      runs of each side, interleaved action, bare, action, bare, …; at least 5 (default 5)
  --gantt FILE  also write the median deploy and teardown of each side as a Mermaid gantt chart to FILE
Needs the rig (npm run rig:tools && npm run rig:up). Ends with the lines
  preview deploy: <ratio>x bare (median of <N>)
  preview teardown: <ratio>x bare (median of <N>)`;

const EXPECTED = {
  preview: ['tools', 'namespace', 'deploy', 'ready', 'contract checks'],
  teardown: ['tools', 'teardown'],
};
const github = (name) => name.startsWith('GitHub ');

/** Where the action's deploy time goes, next to what the bare steps do. */
const OVERHEAD = [
  ['startup (Node, inputs)', (r) => duration(r.steps, 'startup')],
  ['tools (cached)', (r) => duration(r.steps, 'tools')],
  ['namespace and ownership checks', (r) => ownTime(r.steps, 'namespace')],
  // Skaffold's own status check is off: the loop's readiness wait (ready) is the only wait for the rollout.
  ['skaffold deploy (helm upgrade, no wait)', (r) => duration(r.steps, 'deploy')],
  ['our readiness wait (ready; the seed beside it)', (r) => duration(r.steps, 'ready')],
  ['GitHub reporting', (r) => durationOf(r.steps, github)],
  ['contract checks', (r) => duration(r.steps, 'contract checks')],
  ['total', (r) => r.total],
];

await benchMain('bench:preview', USAGE, async ({ runs, gantt }) => {
  const rigCache = process.env.JETSCALE_RIG_CACHE ?? join(homedir(), '.cache', 'jetscale-stack', 'rig');
  const kubeconfig = join(rigCache, 'kubeconfig');
  const caFile = join(rigCache, 'ingress', 'ca.crt');
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
  const ingressIp = inspect.stdout?.trim();
  if (inspect.status !== 0 || !ingressIp)
    throw new Error('the rig cluster jetscale-rig is not up (npm run rig:up)');
  const dir = mkdtempSync(join(tmpdir(), 'bench-preview-'));
  const values = rigValuesFile(dir);

  const action = (loop, pr) => {
    const host = `pr-${pr}.app.jetscale.ai`;
    return runAction(
      {
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
      },
      `action ${loop} of PR ${pr}`,
      EXPECTED[loop],
    );
  };

  const bare = async (verb, pr) => {
    const ns = `jetscale-pr-${pr}`;
    const clock = stopwatch();
    const must = async (label, cmd, args) => {
      const [code, , out] = await run(cmd, args, { KUBECONFIG: kubeconfig });
      if (code !== 0)
        throw new Error(`bare ${verb} of PR ${pr}: ${label} failed (exit ${code}):\n${out.slice(-3000)}`);
    };
    if (verb === 'deploy') {
      await clock.step('kubectl create namespace', () =>
        must('kubectl create namespace', tool('kubectl'), ['create', 'namespace', ns]),
      );
      await clock.step('helm install --wait', () =>
        must('helm install', tool('helm'), [
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
        ]),
      );
    } else {
      await clock.step('helm uninstall --wait', () =>
        must('helm uninstall', tool('helm'), [
          'uninstall',
          `pr-${pr}`,
          '-n',
          ns,
          '--wait',
          '--timeout',
          '10m',
        ]),
      );
      await clock.step('kubectl delete namespace --wait', () =>
        must('kubectl delete namespace', tool('kubectl'), [
          'delete',
          'namespace',
          ns,
          '--wait=true',
          '--timeout=10m',
        ]),
      );
    }
    return { total: clock.total(), steps: clock.steps };
  };

  const r = { actionDeploy: [], actionTeardown: [], bareDeploy: [], bareTeardown: [] };
  const sides = {
    action: async (i) => {
      r.actionDeploy.push(await action('preview', 900 + i));
      r.actionTeardown.push(await action('teardown', 900 + i));
      return `deploy ${r.actionDeploy[i].total.toFixed(1)} s, teardown ${r.actionTeardown[i].total.toFixed(1)} s`;
    },
    bare: async (i) => {
      r.bareDeploy.push(await bare('deploy', 950 + i));
      r.bareTeardown.push(await bare('teardown', 950 + i));
      return `deploy ${r.bareDeploy[i].total.toFixed(1)} s, teardown ${r.bareTeardown[i].total.toFixed(1)} s`;
    },
  };
  for (const { variant, i } of interleave(runs, ['action', 'bare']))
    process.stderr.write(`run ${i + 1}/${runs} ${variant}: ${await sides[variant](i)}\n`);

  const print = (lines) => console.log(`\n${lines.join('\n')}`);
  print(
    tableLines(
      'preview deploy through the action (node dist/index.js, contract checks through the ingress)',
      r.actionDeploy,
      stepRows(r.actionDeploy),
    ),
  );
  print(
    tableLines(
      'where the deploy overhead goes (missing: did not run in this benchmark)',
      r.actionDeploy,
      OVERHEAD,
    ),
  );
  print(
    tableLines(
      'bare deploy: kubectl create namespace + helm install --wait',
      r.bareDeploy,
      stepRows(r.bareDeploy),
    ),
  );
  print(tableLines('teardown through the action', r.actionTeardown, stepRows(r.actionTeardown)));
  print(
    tableLines(
      'bare teardown: helm uninstall --wait + kubectl delete namespace --wait',
      r.bareTeardown,
      stepRows(r.bareTeardown),
    ),
  );
  if (gantt) {
    writeFileSync(
      gantt,
      `${ganttOfMedianRuns('preview deploy, median runs', [
        ['action', r.actionDeploy],
        ['bare', r.bareDeploy],
      ])}\n${ganttOfMedianRuns('preview teardown, median runs', [
        ['action', r.actionTeardown],
        ['bare', r.bareTeardown],
      ])}`,
    );
    console.log(`\ngantt charts of the median runs: ${gantt}`);
  }
  // Last, for a script to read.
  const totals = (rs) => rs.map((x) => x.total);
  console.log(ratioLine('preview deploy', totals(r.actionDeploy), totals(r.bareDeploy)));
  console.log(ratioLine('preview teardown', totals(r.actionTeardown), totals(r.bareTeardown)));
});
