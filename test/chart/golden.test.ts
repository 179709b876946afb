/**
 * The chart's render, frozen: every stage (values.<stage>.yaml plus what the deployer adds) and every ci/*-values.yaml
 * scenario, normalised (the chart-version label and the passwords made at install masked), equal to the files in
 * test/chart/golden/. A change to the templates that changes any object shows here as a diff; when the change is
 * meant, `UPDATE_GOLDEN=1 npx vitest run test/chart/golden.test.ts` writes the new render, and the diff is reviewed
 * with the change. (Issue 11 turns the templates over to a services declaration: this is what proves today's
 * defaults render the same afterwards.)
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import YAML from 'yaml';
import { chartDir, helm, type Manifest, render, type Scenario, stages, values } from './render.js';

const GOLDEN = join(import.meta.dirname, 'golden');
const scenarios: Scenario[] = [
  ...Object.values(stages),
  ...readdirSync(join(chartDir, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .sort()
    .map((file) => ({ name: `ci/${file}`, release: 'app', files: [values(`ci/${file}`)] })),
];

/** Map keys sorted (their order means nothing to Kubernetes); list order kept (env order does). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  return value;
}

/**
 * What may differ between two renders of the same values, or says nothing about the objects: the chart label,
 * passwords, the order of objects (it follows template file names) and of map keys.
 */
function normalise(manifests: Manifest[]): unknown[] {
  const copy = structuredClone(manifests) as Array<
    Manifest & { data?: Record<string, string>; stringData?: Record<string, string> }
  >;
  for (const m of copy) {
    const labelSets = [
      m.metadata.labels,
      m.spec?.template?.metadata?.labels,
      m.spec?.jobTemplate?.spec?.template?.metadata?.labels,
    ];
    for (const labels of labelSets) if (labels) delete labels['helm.sh/chart'];
    if (m.kind === 'Secret')
      for (const field of ['data', 'stringData'] as const)
        if (m[field])
          for (const k of Object.keys(m[field] as object))
            (m[field] as Record<string, string>)[k] = '<made at install>';
  }
  const id = (m: Manifest) => `${m.kind}/${m.metadata.name}`;
  return copy.sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0)).map(sortKeys);
}

const fileOf = (s: Scenario) =>
  join(
    GOLDEN,
    `${s.name
      .replace(/\.yaml$/, '')
      .replace(/[^a-z0-9]+/gi, '-')
      .replace(/^-|-$/g, '')
      .toLowerCase()}.yaml`,
  );

describe.skipIf(helm.skip)('golden render', () => {
  test.each(scenarios.map((s) => [s.name, s] as const))('%s renders as recorded', async (_name, scenario) => {
    const text = YAML.stringify(normalise(await render(scenario)), { lineWidth: 0 });
    const file = fileOf(scenario);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
    expect(
      existsSync(file),
      `${file} is missing: UPDATE_GOLDEN=1 npx vitest run test/chart/golden.test.ts`,
    ).toBe(true);
    expect(text).toBe(readFileSync(file, 'utf8'));
  });
});
