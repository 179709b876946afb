#!/usr/bin/env node
// Benchmark: the ci-kind loop through the bundled action vs the bare steps a user would script (kind create
// cluster, kind load docker-image per image, helm install --wait, kind delete cluster) on the rig, interleaved
// in one invocation (action, bare, action, bare, …) so machine noise hits both. Per step: median, min, max;
// the last line is the ratio of the median totals. Prints figures; asserts nothing.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchMain,
  ganttOfMedianRuns,
  interleave,
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

const USAGE = `usage: node test/bench/ci-kind.mjs [--runs N] [--gantt FILE]     (npm run bench:ci-kind -- …)
  --runs N      runs of each side, interleaved action, bare, action, bare, …; at least 5 (default 5)
  --gantt FILE  also write the median run of each side as a Mermaid gantt chart (Markdown) to FILE
Needs the rig (npm run rig:tools && npm run rig:up). Ends with the line
  ci-kind: <ratio>x bare (median of <N>)`;

/** The step lines the action must print on every run; a run without one of them fails the benchmark. */
const EXPECTED = [
  'tools',
  'cluster',
  'images',
  'namespace',
  'deploy',
  'ready',
  'contract checks',
  'delete cluster',
];

await benchMain('bench:ci-kind', USAGE, async ({ runs, gantt }) => {
  const nodeImage = process.env.JETSCALE_RIG_NODE_IMAGE ?? 'jetscale-rig/kind-node:v1.34.4';
  const images = {
    backend: 'jetscale-rig/backend:rig',
    frontend: 'jetscale-rig/frontend:rig',
    postgres: 'jetscale-rig/postgres:15',
    redis: 'jetscale-rig/redis:7',
  };
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const values = rigValuesFile(dir);

  const sides = {
    action: (i) =>
      runAction(
        {
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
        },
        `action run ${i + 1}`,
        EXPECTED,
      ),
    bare: async (i) => {
      const name = `bench-bare-${i}`;
      const kubeconfig = join(dir, `${name}.kubeconfig`);
      const clock = stopwatch();
      const must = async (label, cmd, args, env) => {
        const [code, , out] = await run(cmd, args, env);
        if (code !== 0)
          throw new Error(`bare run ${i + 1}: ${label} failed (exit ${code}):\n${out.slice(-3000)}`);
      };
      // Ours from here: deleted even when a later step fails, so a failed benchmark leaves no cluster behind.
      await clock.step('cluster', () =>
        must('kind create cluster', tool('kind'), [
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
        ]),
      );
      try {
        await clock.step('images', async () => {
          for (const ref of Object.values(images))
            await must(`kind load ${ref}`, tool('kind'), ['load', 'docker-image', ref, '--name', name]);
        });
        await clock.step('helm install --wait', () =>
          must(
            'helm install',
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
          ),
        );
      } finally {
        await clock.step('delete cluster', () =>
          must('kind delete cluster', tool('kind'), ['delete', 'cluster', '--name', name]),
        );
      }
      return { total: clock.total(), steps: clock.steps };
    },
  };

  const results = { action: [], bare: [] };
  for (const { variant, i } of interleave(runs, ['action', 'bare'])) {
    results[variant].push(await sides[variant](i));
    process.stderr.write(`run ${i + 1}/${runs} ${variant}: ${results[variant][i].total.toFixed(1)} s\n`);
  }

  const print = (lines) => console.log(`\n${lines.join('\n')}`);
  print(
    tableLines('ci-kind through the action (node dist/index.js)', results.action, stepRows(results.action)),
  );
  print(
    tableLines(
      'bare steps: kind create + kind load + helm install --wait + kind delete',
      results.bare,
      stepRows(results.bare),
    ),
  );
  console.log('\n(the action also runs the contract checks, which the bare steps do not)');
  if (gantt) {
    writeFileSync(
      gantt,
      ganttOfMedianRuns('ci-kind, median runs', [
        ['action', results.action],
        ['bare', results.bare],
      ]),
    );
    console.log(`gantt chart of the median runs: ${gantt}`);
  }
  // Last, for a script to read.
  console.log(
    ratioLine(
      'ci-kind',
      results.action.map((r) => r.total),
      results.bare.map((r) => r.total),
    ),
  );
});
