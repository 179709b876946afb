// skaffold.yaml with the real skaffold (and helm): every profile passes `skaffold diagnose`, and
// `skaffold render` of every profile, fed the environment the action sets, produces exactly what
// `helm template` of charts/app gives with that environment's release, namespace, values files, host,
// SHA and images.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { requireTool } from '../support/tools.js';
import {
  find,
  type K8sObject,
  mustRun,
  objects,
  PROFILES,
  type Profile,
  run,
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
writeFileSync(extraValues, 'backend:\n  replicaCount: 3\n');

interface Case {
  profile: Profile;
  env: Record<string, string>;
  namespace: string;
  images: { backend: string; frontend: string };
  expect: { release: string; host: string; sha: string; valuesFile: string; extra: boolean };
}

const ciImages = {
  backend: 'localhost:5001/backend:ci-0a1b2c3',
  frontend: 'localhost:5001/frontend:ci-0a1b2c3',
};
const CASES: Case[] = [
  {
    profile: 'local-kind',
    env: {},
    namespace: 'default',
    images: { backend: 'backend:dev', frontend: 'frontend:dev' },
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
    images: ciImages,
    expect: {
      release: 'app',
      host: 'localhost',
      sha: '0a1b2c3d4e5f',
      valuesFile: 'values.ci.yaml',
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
      backend: 'ghcr.io/acme/backend:pr-42-feedbeef',
      frontend: 'ghcr.io/acme/frontend:pr-42-feedbeef',
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
    env: { JETSCALE_HOST: 'app.example.test', JETSCALE_SHA: 'c0ffee', JETSCALE_VALUES_FILE: extraValues },
    namespace: 'jetscale',
    images: { backend: 'ghcr.io/acme/backend:1.2.3', frontend: 'ghcr.io/acme/frontend:1.2.3' },
    expect: {
      release: 'jetscale',
      host: 'app.example.test',
      sha: 'c0ffee',
      valuesFile: 'values.live.yaml',
      extra: true,
    },
  },
];

function split(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return [ref.slice(0, i), ref.slice(i + 1)];
}

function render(c: Case): K8sObject[] {
  return objects(
    sk(
      [
        'render',
        '-p',
        c.profile,
        '--offline=true',
        '--add-skaffold-labels=false',
        '--namespace',
        c.namespace,
        '--images',
        `backend=${c.images.backend}`,
        '--images',
        `frontend=${c.images.frontend}`,
      ],
      c.env,
    ),
  );
}

/** What the profile must amount to, straight from helm. */
function helmTemplate(c: Case): K8sObject[] {
  const [backendRepo, backendTag] = split(c.images.backend);
  const [frontendRepo, frontendTag] = split(c.images.frontend);
  const args = ['template', c.expect.release, 'charts/app', '--namespace', c.namespace];
  args.push('-f', `charts/app/${c.expect.valuesFile}`);
  if (c.expect.extra) args.push('-f', extraValues);
  args.push(
    '--set',
    `backend.image.repository=${backendRepo}`,
    '--set',
    `backend.image.tag=${backendTag}`,
    '--set',
    `frontend.image.repository=${frontendRepo}`,
    '--set',
    `frontend.image.tag=${frontendTag}`,
    '--set',
    `global.gitSha=${c.expect.sha}`,
    '--set',
    `ingress.host=${c.expect.host}`,
  );
  return objects(mustRun(helm.path as string, args, env()));
}

const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const byKey = (objs: K8sObject[]) => new Map(objs.map((o) => [key(o), o]));

function containerImage(o: K8sObject): string {
  return o.spec.template.spec.containers[0].image;
}

describe.skipIf(skip !== undefined)(`skaffold.yaml${skip ? ` (skipped: ${skip})` : ''}`, () => {
  test('apiVersion is the newest schema skaffold v2.16.1 knows', () => {
    const versions = sk(['schema', 'list'])
      .split('\n')
      .filter((l) => l.startsWith('skaffold/'));
    const apiVersion = parse(mustRun('cat', ['skaffold.yaml'], env())).apiVersion;
    expect(versions.at(-1)).toBe(apiVersion);
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
      const expected = helmTemplate(c);

      // the same objects, field for field, as helm with this environment's inputs
      expect([...byKey(rendered).keys()].sort()).toEqual([...byKey(expected).keys()].sort());
      const want = byKey(expected);
      for (const [k, o] of byKey(rendered)) expect(o, k).toEqual(want.get(k));

      // and the contract-level facts, read directly
      const backend = find(rendered, 'Deployment', `${c.expect.release}-backend`);
      const frontend = find(rendered, 'Deployment', `${c.expect.release}-frontend`);
      expect(containerImage(backend)).toBe(c.images.backend);
      expect(containerImage(frontend)).toBe(c.images.frontend);
      find(rendered, 'Service', `${c.expect.release}-postgres`);
      find(rendered, 'Service', `${c.expect.release}-redis`);
      for (const o of rendered)
        if (o.metadata.namespace) expect(o.metadata.namespace, key(o)).toBe(c.namespace);
      const env = Object.fromEntries(
        backend.spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [
          e.name,
          e.value,
        ]),
      );
      expect(env.GIT_SHA).toBe(c.expect.sha);
      if (c.expect.extra) expect(backend.spec.replicas).toBe(3);
      const ingresses = rendered.filter((o) => o.kind === 'Ingress');
      for (const ing of ingresses) {
        expect(ing.spec.rules.map((r: { host: string }) => r.host)).toEqual([c.expect.host]);
      }
    },
  );

  test('ci-kind without JETSCALE_VALUES_FILE (local use) renders the CI values alone', () => {
    const c: Case = {
      ...CASES[1],
      env: { JETSCALE_SHA: '0a1b2c3d4e5f' },
      expect: { ...CASES[1].expect, extra: false },
    };
    expect(render(c)).toEqual(helmTemplate(c));
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
      ['render', '-p', profile, '--offline=true', '--images', 'backend=b:1', '--images', 'frontend=f:1'],
      env(extra),
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(message);
  });
});
