// Bad values must fail `helm template` with a message that names the setting: values.schema.json for
// shapes (types, patterns, enums, unknown keys, live => TLS), `required` in the templates for the settings a
// stage cannot run without.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../support/tools.js';
import { chartDir, helm, render, runHelm, stages, templateArgs, values } from './render.js';

const fixturesDir = join(repoRoot, 'test', 'chart', 'fixtures');
const fixture = (name: string): string => join(fixturesDir, name);

async function templateError(files: string[], set: string[] = []): Promise<string> {
  const result = await runHelm(templateArgs({ name: 'bad', release: 'app', files, set }));
  expect(
    result.code,
    `helm template should have failed; it rendered:\n${result.stdout.slice(0, 400)}`,
  ).not.toBe(0);
  return result.stderr;
}

// [values file, fragments the error must contain]
const rejected: Array<[string, string[]]> = [
  ['replicas-three.yaml', ["at '/services/backend/replicas': got string, want integer"]],
  ['host-with-spaces.yaml', ["at '/ingress/host': 'my app.example.com' does not match pattern"]],
  ['host-with-scheme.yaml', ["at '/ingress/host': 'https://app.example.com' does not match pattern"]],
  ['live-without-tls.yaml', ["at '/ingress/tls/enabled': value must be true"]],
  ['unknown-key.yaml', ["additional properties 'ingres' not allowed"]],
  [
    'unknown-subchart-key.yaml',
    ["at '/services/frontend': additional properties 'replicaCount' not allowed"],
  ],
  [
    'unknown-environment.yaml',
    ["at '/global/environment': value must be one of 'local', 'ci', 'preview', 'live'"],
  ],
  ['unquoted-numeric-tag.yaml', ["at '/services/frontend/image/tag': got number, want string"]],
  ['missing-limits.yaml', ['postgres:', "at '/resources': missing property 'limits'"]],
  ['root-user.yaml', ['redis:', "at '/securityContext/runAsUser': minimum: got 0, want 1"]],
  ['latest-tag.yaml', ['services.backend.image.tag is "latest": pin an image tag']],
];

describe.skipIf(helm.skip)('bad values are rejected with a message naming the setting', () => {
  test.each(rejected)('%s', async (file, fragments) => {
    const stderr = await templateError([fixture(file)]);
    for (const fragment of fragments) expect(stderr).toContain(fragment);
  });

  // services.<n>.build is not rendered, but a wrong one fails the render as src/declaration.ts refuses it
  test.each([
    [
      'services.backend.build.context=../x',
      "at '/services/backend/build/context': '../x' does not match pattern",
    ],
    [
      'services.backend.build.context=/srv',
      "at '/services/backend/build/context': '/srv' does not match pattern",
    ],
    [
      'services.backend.build.dockerfile=../Dockerfile',
      "at '/services/backend/build/dockerfile': '../Dockerfile' does not match pattern",
    ],
    [
      'services.backend.build.repository=acme',
      "at '/services/backend/build/repository': 'acme' does not match pattern",
    ],
    [
      'services.backend.build.dockerFile=x',
      "at '/services/backend/build': additional properties 'dockerFile' not allowed",
    ],
  ])('%s', async (set, fragment) => {
    expect(await templateError([], [set])).toContain(fragment);
  });

  test('every fixture file is in the table', () => {
    const onDisk = readdirSync(fixturesDir).filter((f) => f.endsWith('.yaml'));
    expect(onDisk.sort()).toEqual(rejected.map(([file]) => file).sort());
  });
});

describe.skipIf(helm.skip)('settings a stage requires', () => {
  const liveRequired = parse(readFileSync(join(chartDir, 'ci', 'live-values.yaml'), 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  const tmp = mkdtempSync(join(tmpdir(), 'jetscale-chart-'));

  test('live renders with exactly ci/live-values.yaml on top of values.live.yaml', async () => {
    expect((await render(stages.live)).length).toBeGreaterThan(0);
  });

  test('live without ci/live-values.yaml fails naming the first missing setting', async () => {
    const stderr = await templateError([values('values.live.yaml')]);
    expect(stderr).toContain('ingress.host is required when global.environment=live');
  });

  // Drop one setting of ci/live-values.yaml at a time: each one is needed, and the failure names it.
  const settings: Array<[string, string[], string]> = [
    ['ingress.host', ['ingress', 'host'], 'ingress.host is required when global.environment=live'],
    [
      'ingress.tls.secretName',
      ['ingress', 'tls', 'secretName'],
      'ingress.tls.secretName is required when ingress.tls.enabled=true',
    ],
    [
      'global.postgres.existingSecret',
      ['global', 'postgres', 'existingSecret'],
      'global.postgres.existingSecret is required when global.environment=live',
    ],
    [
      'global.redis.existingSecret',
      ['global', 'redis', 'existingSecret'],
      'global.redis.existingSecret is required when global.environment=live',
    ],
  ];

  test.each(settings)('live without %s fails naming it', async (setting, path, message) => {
    const copy = structuredClone(liveRequired) as Record<string, unknown>;
    let node = copy;
    for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
    const last = path[path.length - 1] as string;
    expect(node[last], `${setting} is in ci/live-values.yaml`).toBeTruthy();
    delete node[last];
    const file = join(tmp, `live-without-${setting}.yaml`);
    writeFileSync(file, stringify(copy));
    const stderr = await templateError([values('values.live.yaml'), file]);
    expect(stderr).toContain(message);
  });

  test('ci/live-values.yaml holds those settings and nothing else', () => {
    const leaves: string[] = [];
    const walk = (node: unknown, prefix: string) => {
      if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) walk(v, prefix ? `${prefix}.${k}` : k);
      } else leaves.push(prefix);
    };
    walk(liveRequired, '');
    expect(leaves.sort()).toEqual(settings.map(([s]) => s).sort());
  });

  test('preview without a host fails naming ingress.host', async () => {
    const stderr = await templateError([values('values.preview.yaml')]);
    expect(stderr).toContain('ingress.host is required when global.environment=preview');
  });

  test.each([
    ['postgres', 'global.postgres.existingSecret is required when postgres.enabled=false'],
    ['redis', 'global.redis.existingSecret is required when redis.enabled=false'],
  ])('%s.enabled=false without an existing Secret fails naming it', async (component, message) => {
    const stderr = await templateError([], [`${component}.enabled=false`]);
    expect(stderr).toContain(message);
  });

  test('gateway.enabled without parentRefs fails naming gateway.parentRefs', async () => {
    const stderr = await templateError([], ['gateway.enabled=true']);
    expect(stderr).toContain('gateway.parentRefs is required when gateway.enabled=true');
  });
});
