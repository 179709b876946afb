// helm lint --strict and helm template over every way the chart is meant to be rendered: the three stage
// files (with what the deployer adds) and, chart-testing style, each ci/*-values.yaml on its own.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { chartDir, helm, render, runHelm, type Scenario, stages, values } from './render.js';

const ciScenarios: Scenario[] = readdirSync(join(chartDir, 'ci'))
  .filter((file) => file.endsWith('-values.yaml'))
  .sort()
  .map((file) => ({ name: `ci/${file}`, release: 'app', files: [values(`ci/${file}`)] }));

const scenarios: Scenario[] = [...Object.values(stages), ...ciScenarios];

describe.skipIf(helm.skip)('charts/app renders for every stage and ci scenario', () => {
  test('ci/ holds the chart-testing scenarios (only *-values.yaml files)', () => {
    const files = readdirSync(join(chartDir, 'ci'));
    expect(files.filter((f) => !f.endsWith('-values.yaml'))).toEqual([]);
    expect(ciScenarios.map((s) => s.name)).toEqual(
      expect.arrayContaining(['ci/default-values.yaml', 'ci/live-values.yaml', 'ci/preview-values.yaml']),
    );
  });

  test.each(scenarios.map((s) => [s.name, s] as const))('helm lint --strict: %s', async (_name, scenario) => {
    const args = ['lint', '--strict', chartDir];
    for (const file of scenario.files) args.push('-f', file);
    for (const set of scenario.set ?? []) args.push('--set', set);
    const result = await runHelm(args);
    expect(result.stderr + result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  test.each(scenarios.map((s) => [s.name, s] as const))('helm template: %s', async (_name, scenario) => {
    const manifests = await render(scenario);
    const kinds = new Set(manifests.map((m) => m.kind));
    expect(kinds).toContain('Deployment');
    expect(kinds).toContain('Service');
    expect(kinds).toContain('NetworkPolicy');
    // every object carries the release's labels, so selectors and `kubectl -l` find them
    for (const m of manifests) {
      expect(m.metadata.labels?.['app.kubernetes.io/instance'], `${m.kind}/${m.metadata.name}`).toBe(
        scenario.release,
      );
    }
  });
});
