// skaffold.yaml with the real skaffold (and helm): every profile passes `skaffold diagnose`, and
// `skaffold render` of every profile, fed the environment the action sets, produces exactly what
// `helm template` of charts/app gives with that environment's release, namespace, values files, host,
// SHA and images.
import { cpSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { repoRoot, requireTool } from '../support/tools.js';
import {
  find,
  type K8sObject,
  mustRun,
  objects,
  PROFILES,
  type Profile,
  run,
  skaffoldConfig,
  toolEnv,
} from './stack-tools.js';

const skaffold = requireTool('skaffold');
const helm = requireTool('helm');
const skip = skaffold.skip ?? helm.skip;
const env = (extra: Record<string, string> = {}) => toolEnv({ helm: helm.path }, extra);
const sk = (args: string[], extra: Record<string, string> = {}) =>
  mustRun(skaffold.path as string, args, env(extra));

const work = mkdtempSync(join(tmpdir(), 'jetscale-skaffold-'));
// an extra values file like the one the action writes (JETSCALE_VALUES_FILE): applied last, it wins
const extraValues = join(work, 'extra-values.yaml');
writeFileSync(extraValues, 'services:\n  backend:\n    env: { LOG_LEVEL: warn }\n');
// live also needs the TLS Secret and the managed services' Secrets on top of values.live.yaml
const liveValues = join(work, 'live-values.yaml');
writeFileSync(
  liveValues,
  [
    'global:',
    '  postgres: { existingSecret: jetscale-postgres }',
    '  redis: { existingSecret: jetscale-redis }',
    'ingress:',
    '  tls: { secretName: jetscale-tls }',
    'services:',
    '  backend:',
    '    env: { LOG_LEVEL: warn }',
    '',
  ].join('\n'),
);

const DIGEST = `sha256:${'ab12'.repeat(16)}`;

interface Image {
  repository: string;
  /** what the chart's `<service>.image.tag` must be: the tag, or skaffold's `<tag>@<digest>` */
  tag: string;
}
interface Case {
  profile: Profile;
  env: Record<string, string>;
  namespace: string;
  images: { backend: Image; frontend: Image };
  expect: {
    release: string;
    host: string;
    sha: string;
    valuesFile: string;
    /** JETSCALE_VALUES_FILE is set (it sets services.backend.env.LOG_LEVEL=warn) */
    extra: boolean;
    set?: string[];
    /** false: postgres and redis are managed services, not in the cluster (live) */
    inCluster?: false;
  };
}

const CASES: Case[] = [
  {
    profile: 'local-kind',
    env: {},
    namespace: 'default',
    images: {
      backend: { repository: 'backend', tag: 'dev' },
      frontend: { repository: 'frontend', tag: 'dev' },
    },
    expect: {
      release: 'app',
      host: 'localhost',
      sha: 'unknown',
      valuesFile: 'values.local.yaml',
      extra: false,
    },
  },
  {
    profile: 'ci-kind',
    env: { JETSCALE_SHA: '0a1b2c3d4e5f', JETSCALE_VALUES_FILE: extraValues },
    namespace: 'default',
    images: {
      backend: { repository: 'localhost:5001/backend', tag: 'ci-0a1b2c3' },
      frontend: { repository: 'localhost:5001/frontend', tag: 'ci-0a1b2c3' },
    },
    expect: {
      release: 'app',
      host: 'localhost',
      sha: '0a1b2c3d4e5f',
      valuesFile: 'values.yaml',
      set: ['global.environment=ci'],
      extra: true,
    },
  },
  {
    profile: 'preview',
    env: {
      JETSCALE_RELEASE: 'pr-42',
      JETSCALE_HOST: 'pr-42.preview.example.test',
      JETSCALE_SHA: 'feedbeef',
      JETSCALE_VALUES_FILE: extraValues,
    },
    namespace: 'jetscale-pr-42',
    images: {
      // a pushed image pinned by digest as well as tag
      backend: { repository: 'ghcr.io/acme/backend', tag: `pr-42-feedbeef@${DIGEST}` },
      frontend: { repository: 'ghcr.io/acme/frontend', tag: 'pr-42-feedbeef' },
    },
    expect: {
      release: 'pr-42',
      host: 'pr-42.preview.example.test',
      sha: 'feedbeef',
      valuesFile: 'values.preview.yaml',
      extra: true,
    },
  },
  {
    profile: 'live',
    env: { JETSCALE_HOST: 'app.example.test', JETSCALE_SHA: 'c0ffee', JETSCALE_VALUES_FILE: liveValues },
    namespace: 'jetscale',
    images: {
      backend: { repository: 'ghcr.io/acme/backend', tag: '1.2.3' },
      frontend: { repository: 'ghcr.io/acme/frontend', tag: '1.2.3' },
    },
    expect: {
      release: 'jetscale',
      host: 'app.example.test',
      sha: 'c0ffee',
      valuesFile: 'values.live.yaml',
      extra: true,
      inCluster: false,
    },
  },
];

const ref = (i: Image) => `${i.repository}:${i.tag}`;

function render(c: Case): K8sObject[] {
  const args = [
    'render',
    '-p',
    c.profile,
    '--offline=true',
    '--digest-source=tag',
    '--namespace',
    c.namespace,
  ];
  args.push('--images', `backend=${ref(c.images.backend)}`, '--images', `frontend=${ref(c.images.frontend)}`);
  return objects(sk(args, c.env));
}

/** What the profile must amount to, straight from helm. */
function helmTemplate(c: Case): K8sObject[] {
  const args = ['template', c.expect.release, 'charts/app', '--namespace', c.namespace];
  args.push('-f', `charts/app/${c.expect.valuesFile}`);
  if (c.expect.extra) args.push('-f', c.env.JETSCALE_VALUES_FILE as string);
  const sets = [
    `services.backend.image.repository=${c.images.backend.repository}`,
    `services.backend.image.tag=${c.images.backend.tag}`,
    `services.frontend.image.repository=${c.images.frontend.repository}`,
    `services.frontend.image.tag=${c.images.frontend.tag}`,
    `global.gitSha=${c.expect.sha}`,
    `ingress.host=${c.expect.host}`,
    ...(c.expect.set ?? []),
  ];
  for (const kv of sets) args.push('--set', kv);
  return objects(mustRun(helm.path as string, args, env()));
}

const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
/** Objects by key; a generated Secret's values are random on every render, so only its keys compare. */
function byKey(objs: K8sObject[]): Map<string, unknown> {
  const mask = (d?: Record<string, string>) =>
    d && Object.fromEntries(Object.keys(d).map((k) => [k, '<random>']));
  return new Map(
    objs.map((o) => {
      if (o.kind !== 'Secret') return [key(o), o];
      const secret = o as K8sObject & { data?: Record<string, string>; stringData?: Record<string, string> };
      return [key(o), { ...secret, data: mask(secret.data), stringData: mask(secret.stringData) }];
    }),
  );
}

/** The same objects, field for field (generated Secrets: the same keys). */
function expectSameObjects(rendered: K8sObject[], expected: K8sObject[]): void {
  expect([...byKey(rendered).keys()].sort()).toEqual([...byKey(expected).keys()].sort());
  const want = byKey(expected);
  for (const [k, o] of byKey(rendered)) expect(o, k).toEqual(want.get(k));
}

// biome-ignore lint/suspicious/noExplicitAny: a rendered container
const container = (o: K8sObject): any => o.spec.template.spec.containers[0];
const envOf = (o: K8sObject): Record<string, string | undefined> =>
  Object.fromEntries(container(o).env.map((e: { name: string; value?: string }) => [e.name, e.value]));

describe.skipIf(skip !== undefined)(`skaffold.yaml${skip ? ` (skipped: ${skip})` : ''}`, () => {
  test('apiVersion is the newest schema skaffold v2.16.1 knows', () => {
    const versions = sk(['schema', 'list'])
      .split('\n')
      .filter((l) => l.startsWith('skaffold/'));
    expect(versions.at(-1)).toBe(skaffoldConfig().apiVersion);
  });

  test.each(PROFILES)('skaffold diagnose -p %s accepts the config', (profile) => {
    const out = sk(['diagnose', '-p', profile, '--yaml-only'], {
      JETSCALE_RELEASE: 'pr-1',
      JETSCALE_HOST: 'example.test',
    });
    const effective = parse(out);
    expect(effective.build.artifacts.map((a: { image: string }) => a.image)).toEqual(['backend', 'frontend']);
    expect(effective.deploy.helm.releases).toHaveLength(1);
  });

  test.each(CASES)(
    'skaffold render -p $profile: release, namespace, values files, host, SHA and images',
    (c) => {
      const rendered = render(c);
      // the same objects, field for field, as helm with this environment's inputs
      expectSameObjects(rendered, helmTemplate(c));

      // and the contract-level facts, read directly
      const backend = find(rendered, 'Deployment', `${c.expect.release}-backend`);
      const frontend = find(rendered, 'Deployment', `${c.expect.release}-frontend`);
      expect(container(backend).image).toBe(ref(c.images.backend));
      expect(container(frontend).image).toBe(ref(c.images.frontend));
      const data = rendered.filter((o) => o.kind === 'Service' && /-(postgres|redis)$/.test(o.metadata.name));
      expect(data.map((o) => o.metadata.name).sort()).toEqual(
        c.expect.inCluster === false ? [] : [`${c.expect.release}-postgres`, `${c.expect.release}-redis`],
      );
      for (const o of rendered)
        if (o.metadata.namespace) expect(o.metadata.namespace, key(o)).toBe(c.namespace);
      expect(envOf(backend).GIT_SHA).toBe(c.expect.sha);
      expect(envOf(backend).LOG_LEVEL === 'warn').toBe(c.expect.extra);
      const hosts = rendered
        .filter((o) => o.kind === 'Ingress')
        .flatMap((o) => o.spec.rules.map((r: { host: string }) => r.host));
      expect(hosts).toEqual([c.expect.host]);
    },
  );

  test('JETSCALE_SOURCES=siblings builds ../backend and ../frontend; unset, examples/<service>', () => {
    // a product checkout next to the stack repository: <dir>/stack, <dir>/backend, <dir>/frontend
    const dir = mkdtempSync(join(tmpdir(), 'jetscale-siblings-'));
    const stack = join(dir, 'stack');
    mkdirSync(stack);
    cpSync(join(repoRoot, 'skaffold.yaml'), join(stack, 'skaffold.yaml'));
    cpSync(join(repoRoot, 'charts'), join(stack, 'charts'), { recursive: true });
    for (const s of ['backend', 'frontend']) {
      mkdirSync(join(dir, s));
      writeFileSync(join(dir, s, 'Dockerfile'), 'FROM scratch AS dev\nFROM scratch\n');
      mkdirSync(join(stack, 'examples', s), { recursive: true });
    }
    const contexts = (extra: Record<string, string>) =>
      parse(
        mustRun(skaffold.path as string, ['diagnose', '-p', 'local-kind', '--yaml-only'], env(extra), stack),
      ).build.artifacts.map((a: { context: string }) => a.context);
    expect(contexts({ JETSCALE_SOURCES: 'siblings' })).toEqual([join(dir, 'backend'), join(dir, 'frontend')]);
    expect(contexts({})).toEqual([join(stack, 'examples', 'backend'), join(stack, 'examples', 'frontend')]);
  });

  test('skaffold writes nothing into the chart directory (no helm dependency build): deploys from one checkout can run at once', () => {
    // The subcharts ship in charts/app/charts. `helm dependency build` moves that directory aside and back
    // (charts/app/tmpcharts-<pid>), and ten previews deployed at once from one checkout raced on it
    // (test/e2e/ten-previews.test.ts: "lstat charts/app/tmpcharts-8927: no such file or directory").
    const stack = mkdtempSync(join(tmpdir(), 'jetscale-depbuild-'));
    cpSync(join(repoRoot, 'skaffold.yaml'), join(stack, 'skaffold.yaml'));
    cpSync(join(repoRoot, 'charts'), join(stack, 'charts'), { recursive: true });
    const chart = join(stack, 'charts', 'app');
    const before = statSync(chart).mtimeMs;
    const args = ['render', '-p', 'preview', '--offline=true', '--digest-source=tag', '--namespace', 'ns'];
    args.push('--images', 'backend=b:pr-1', '--images', 'frontend=f:pr-1');
    const extra = { JETSCALE_RELEASE: 'pr-1', JETSCALE_HOST: 'pr-1.example.test' };
    const rendered = objects(mustRun(skaffold.path as string, args, env(extra), stack));
    expect(statSync(chart).mtimeMs, 'charts/app was written to').toBe(before);
    // the subcharts are rendered all the same, from charts/app/charts
    const data = rendered.filter((o) => o.kind === 'StatefulSet').map((o) => o.metadata.name);
    expect(data.sort()).toEqual(['pr-1-postgres', 'pr-1-redis']);
  });

  test('skaffold render -p local-kind without --images tags with the build time (offline, never latest)', () => {
    const rendered = objects(sk(['render', '-p', 'local-kind', '--offline=true', '--digest-source=tag']));
    for (const s of ['backend', 'frontend']) {
      expect(container(find(rendered, 'Deployment', `app-${s}`)).image).toMatch(
        new RegExp(`^${s}:\\d{8}-\\d{6}$`),
      );
    }
  });

  test('ci-kind without JETSCALE_VALUES_FILE (local use) renders the chart defaults for ci', () => {
    const ciKind = CASES[1] as Case;
    const c: Case = {
      ...ciKind,
      env: { JETSCALE_SHA: '0a1b2c3d4e5f' },
      expect: { ...ciKind.expect, extra: false },
    };
    const rendered = render(c);
    expectSameObjects(rendered, helmTemplate(c));
    expect(envOf(find(rendered, 'Deployment', 'app-backend')).LOG_LEVEL).toBe('info');
  });

  test.each([
    [
      'preview',
      { JETSCALE_HOST: 'x.example.test' },
      /JETSCALE_RELEASE \(the release name, pr-<N>\) must be set/,
    ],
    ['preview', { JETSCALE_RELEASE: 'pr-7' }, /JETSCALE_HOST \(the preview host name\) must be set/],
    ['live', {}, /JETSCALE_HOST \(the live host name\) must be set/],
  ] as const)('skaffold render -p %s fails naming the missing variable (%o)', (profile, extra, message) => {
    const r = run(
      skaffold.path as string,
      [
        'render',
        '-p',
        profile,
        '--offline=true',
        '--digest-source=tag',
        '--images',
        'backend=b:1',
        '--images',
        'frontend=f:1',
      ],
      env(extra),
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(message);
  });
});
