// The laptop loop's plan (src/dev.ts) over real directories laid out as a developer's are: <root>/stack (the stack
// repository, with its bundled example), <root>/<service> (a sibling checkout), and elsewhere.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { declarationOf, readStageDeclaration } from '../../src/declaration.js';
import { DEFAULT_IGNORE, devPlan, dockerfileStages } from '../../src/dev.js';
import { copyTestServices, dropStage, tiltThreeValues } from '../support/test-services.js';
import { repoRoot } from '../support/tools.js';

const DEV_DOCKERFILE = 'FROM node:24 AS base\nFROM base AS dev\nCMD ["node"]\nFROM base AS prod\n';

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** <root>/stack with examples/api (a Dockerfile with a dev stage and a package-lock.json). */
function layout(): { root: string; stack: string; example: string } {
  const root = mkdtempSync(join(tmpdir(), 'dev-plan-'));
  const stack = join(root, 'stack');
  const example = join(stack, 'examples', 'api');
  write(join(example, 'Dockerfile'), DEV_DOCKERFILE);
  write(join(example, 'package.json'), '{}');
  write(join(example, 'package-lock.json'), '{}');
  return { root, stack, example };
}

const api = (extra: Record<string, unknown> = {}) =>
  declarationOf({
    services: {
      api: {
        port: 8080,
        build: {
          context: 'examples/api',
          dockerfile: 'Dockerfile',
          devTarget: 'dev',
          example: 'examples/api',
        },
        dev: { localPort: 8081 },
        ...extra,
      },
    },
  });

describe('where each service is built from', () => {
  test('the bundled example, only when there is no sibling checkout', () => {
    const { stack, example } = layout();
    const plan = devPlan(api(), { stackDir: stack });
    expect(plan.problems).toEqual([]);
    expect(plan.services[0]).toMatchObject({
      name: 'api',
      source: 'example',
      context: example,
      dockerfile: join(example, 'Dockerfile'),
      target: 'dev',
      summary: `api: building the bundled example at ${example} (Dockerfile Dockerfile, target dev)`,
    });
  });

  test('the sibling checkout wins over the example and over dev.source', () => {
    const { root, stack } = layout();
    write(join(root, 'api', 'Dockerfile'), DEV_DOCKERFILE);
    const elsewhere = join(root, 'elsewhere');
    write(join(elsewhere, 'Dockerfile'), DEV_DOCKERFILE);
    const plan = devPlan(api({ dev: { source: '../elsewhere' } }), { stackDir: stack });
    expect(plan.problems).toEqual([]);
    expect(plan.services[0]).toMatchObject({ source: 'sibling', context: join(root, 'api') });
    expect(plan.services[0]?.summary).toContain(`api: building the sibling checkout at ${join(root, 'api')}`);
  });

  test('--sources names the directory holding the siblings', () => {
    const { root, stack } = layout();
    const sources = join(root, 'code');
    write(join(sources, 'api', 'Dockerfile'), DEV_DOCKERFILE);
    const plan = devPlan(api(), { stackDir: stack, sourcesDir: sources });
    expect(plan.services[0]).toMatchObject({ source: 'sibling', context: join(sources, 'api') });
  });

  test('dev.source (relative to the stack directory) when there is no sibling', () => {
    const { root, stack } = layout();
    write(join(root, 'checkouts', 'api-repo', 'Dockerfile'), DEV_DOCKERFILE);
    const plan = devPlan(api({ dev: { source: '../checkouts/api-repo' } }), { stackDir: stack });
    expect(plan.problems).toEqual([]);
    expect(plan.services[0]).toMatchObject({
      source: 'declared',
      context: join(root, 'checkouts', 'api-repo'),
    });
    expect(plan.services[0]?.summary).toContain('api: building the declared checkout at ');
  });

  test('a service with a repository of its own is built from build.context inside the checkout', () => {
    const { root, stack } = layout();
    write(join(root, 'api', 'services', 'api', 'build', 'Dockerfile.dev'), 'FROM golang:1.25 AS dev\n');
    const d = declarationOf({
      services: {
        api: {
          port: 8080,
          build: {
            repository: 'acme/api',
            context: 'services/api',
            dockerfile: 'build/Dockerfile.dev',
            devTarget: 'dev',
          },
        },
      },
    });
    const plan = devPlan(d, { stackDir: stack });
    expect(plan.problems).toEqual([]);
    expect(plan.services[0]).toMatchObject({
      context: join(root, 'api', 'services', 'api'),
      dockerfile: join(root, 'api', 'services', 'api', 'build', 'Dockerfile.dev'),
      rebuildOn: [join(root, 'api', 'services', 'api', 'build', 'Dockerfile.dev')],
    });
  });
});

describe('never the wrong thing in silence: each problem names the service, the path and the fix', () => {
  test('a sibling without a Dockerfile at the declared path, even though the example exists', () => {
    const { root, stack } = layout();
    mkdirSync(join(root, 'api'));
    const plan = devPlan(api(), { stackDir: stack });
    expect(plan.services).toEqual([]);
    expect(plan.problems).toEqual([
      `api: the sibling checkout ${join(root, 'api')} has no Dockerfile at ${join(root, 'api', 'Dockerfile')} (services.api.build.dockerfile is "Dockerfile"). Fix: add it, set services.api.build.dockerfile (relative to the context) to the checkout's Dockerfile, or move ${join(root, 'api')} away to build the bundled example instead.`,
    ]);
  });

  test('a Dockerfile without the dev target lists the stages it has', () => {
    const { root, stack } = layout();
    write(
      join(root, 'api', 'Dockerfile'),
      'FROM node:24 AS base\nfrom --platform=$BUILDPLATFORM base as build\nFROM base\n',
    );
    const plan = devPlan(api(), { stackDir: stack });
    expect(plan.problems).toEqual([
      `api: ${join(root, 'api', 'Dockerfile')} (in the sibling checkout ${join(root, 'api')}) has no stage "dev" (services.api.build.devTarget); its stages: base, build. Fix: add a stage \`FROM … AS dev\` to it, or set services.api.build.devTarget to one of its stages.`,
    ]);
  });

  test('a build context missing from the checkout', () => {
    const { root, stack } = layout();
    mkdirSync(join(root, 'api'));
    const d = declarationOf({
      services: { api: { port: 8080, build: { repository: 'acme/api', context: 'services/api' } } },
    });
    expect(devPlan(d, { stackDir: stack }).problems).toEqual([
      `api: the build context ${join(root, 'api', 'services', 'api')} does not exist in the sibling checkout ${join(root, 'api')} (services.api.build.context is "services/api"). Fix: set services.api.build.context to the service's directory inside its repository, or add it there.`,
    ]);
  });

  test('a declared dev.source that does not exist', () => {
    const { root, stack } = layout();
    const plan = devPlan(api({ dev: { source: '../nowhere' } }), { stackDir: stack });
    expect(plan.problems).toEqual([
      `api: services.api.dev.source is "../nowhere", and ${join(root, 'nowhere')} is not a directory (and there is no sibling checkout ${join(root, 'api')}). Fix: check the service out at ${join(root, 'nowhere')} or ${join(root, 'api')}, or correct services.api.dev.source (relative to the stack directory ${stack}).`,
    ]);
  });

  test('no sibling, no dev.source and no example', () => {
    const { root, stack } = layout();
    const d = declarationOf({ services: { api: { port: 8080 } } });
    expect(devPlan(d, { stackDir: stack }).problems).toEqual([
      `api: no source to build: no sibling checkout at ${join(root, 'api')}, and none of services.api.dev.source, services.api.build.example or a build.context in the stack's own checkout is declared. Fix: check the service out at ${join(root, 'api')} (or run with --sources <the directory holding it>), or declare services.api.dev.source.`,
    ]);
  });

  test('every service is checked: one problem does not hide another', () => {
    const { root, stack } = layout();
    mkdirSync(join(root, 'api'));
    mkdirSync(join(root, 'web'));
    const build = { devTarget: 'dev', example: 'examples/api' };
    const d = declarationOf({ services: { api: { port: 1, build }, web: { port: 2, build } } });
    const plan = devPlan(d, { stackDir: stack });
    expect(plan.problems.map((p) => p.split(':')[0])).toEqual(['api', 'web']);
  });
});

describe('defaults: the examples work with no dev settings', () => {
  test.each([
    [['package.json', 'package-lock.json'], 'npm install', ['package.json', 'package-lock.json']],
    [['package.json', 'yarn.lock'], 'yarn install', ['package.json', 'yarn.lock']],
    [['package.json', 'pnpm-lock.yaml'], 'pnpm install', ['package.json', 'pnpm-lock.yaml']],
    [['package.json'], 'npm install', ['package.json']],
    [['requirements.txt'], 'pip install -r requirements.txt', ['requirements.txt']],
    [['go.mod', 'go.sum'], 'go mod download', ['go.mod', 'go.sum']],
    [['go.mod'], 'go mod download', ['go.mod']],
  ])('%j: runs %s, triggered by %j', (files, command, trigger) => {
    const { root, stack } = layout();
    const dir = join(root, 'api');
    write(join(dir, 'Dockerfile'), DEV_DOCKERFILE);
    for (const f of files) write(join(dir, f), '');
    const [s] = devPlan(api(), { stackDir: stack }).services;
    expect(s?.run).toEqual([{ command, trigger: trigger.map((t) => join(dir, t)) }]);
  });

  test('no manifest, no install command; two languages, both', () => {
    const { root, stack } = layout();
    const dir = join(root, 'api');
    write(join(dir, 'Dockerfile'), DEV_DOCKERFILE);
    expect(devPlan(api(), { stackDir: stack }).services[0]?.run).toEqual([]);
    write(join(dir, 'go.mod'), '');
    write(join(dir, 'package.json'), '');
    expect(devPlan(api(), { stackDir: stack }).services[0]?.run.map((r) => r.command)).toEqual([
      'npm install',
      'go mod download',
    ]);
  });

  test('sync the context to workingDir, else /app; rebuild on the Dockerfile; ignore the usual', () => {
    const { stack, example } = layout();
    const [plain] = devPlan(api(), { stackDir: stack }).services;
    expect(plain).toMatchObject({
      sync: [{ from: example, to: '/app' }],
      rebuildOn: [join(example, 'Dockerfile')],
      ignore: DEFAULT_IGNORE,
      buildArgs: {},
      localPort: 8081,
      port: 8080,
    });
    expect(DEFAULT_IGNORE).toEqual(['.git', 'node_modules', 'dist', 'coverage', '__pycache__', '.venv']);
    const [withDir] = devPlan(api({ workingDir: '/srv' }), { stackDir: stack }).services;
    expect(withDir?.sync).toEqual([{ from: example, to: '/srv' }]);
  });

  test('declared settings replace the defaults, relative paths resolved in the context', () => {
    const { stack, example } = layout();
    const dev = {
      buildArgs: { X: '1' },
      sync: [{ from: 'src', to: '/app/src' }],
      run: [{ command: 'make deps', trigger: ['Makefile'] }],
      rebuildOn: ['Dockerfile', 'tsconfig.json'],
      ignore: ['tmp'],
      command: ['npm', 'run', 'dev'],
    };
    const plan = devPlan(api({ dev }), { stackDir: stack });
    expect(plan.services[0]).toMatchObject({
      buildArgs: { X: '1' },
      sync: [{ from: join(example, 'src'), to: '/app/src' }],
      run: [{ command: 'make deps', trigger: [join(example, 'Makefile')] }],
      rebuildOn: [join(example, 'Dockerfile'), join(example, 'tsconfig.json')],
      ignore: ['tmp'],
    });
    expect(plan.values).toEqual({
      services: {
        api: { image: { repository: 'api', pullPolicy: 'IfNotPresent' }, command: ['npm', 'run', 'dev'] },
      },
    });
  });

  test('image values: each service runs the image Tilt builds, named after it', () => {
    const { stack } = layout();
    expect(devPlan(api(), { stackDir: stack }).values).toEqual({
      services: { api: { image: { repository: 'api', pullPolicy: 'IfNotPresent' } } },
    });
  });
});

test('the stages of a Dockerfile', () => {
  expect(
    dockerfileStages('ARG X\nFROM $X AS base\n  FROM --platform=linux/amd64 base AS Dev \nFROM base\n'),
  ).toEqual(['base', 'Dev']);
});

test("the repository's own examples need no dev settings and no sibling", () => {
  // nothing next to this worktree is named backend/frontend
  const plan = devPlan(
    declarationOf({
      services: {
        backend: {
          port: 8080,
          build: { context: 'examples/backend', devTarget: 'dev', example: 'examples/backend' },
        },
        frontend: {
          port: 8080,
          build: { context: 'examples/frontend', devTarget: 'dev', example: 'examples/frontend' },
        },
      },
    }),
    { stackDir: repoRoot, sourcesDir: mkdtempSync(join(tmpdir(), 'no-siblings-')) },
  );
  expect(plan.problems).toEqual([]);
  expect(plan.services.map((s) => [s.name, s.source, s.target, s.run.map((r) => r.command)])).toEqual([
    ['backend', 'example', 'dev', ['npm install']],
    ['frontend', 'example', 'dev', ['npm install']],
  ]);
});

describe('test/chart/stacks/tilt-three.yaml: the Go API, the Python API and the SPA from sibling checkouts', () => {
  const THREE = ['go-api', 'py-api', 'spa'];
  /** <tmp>/{go-api,py-api,spa}: copies of test/services/*, planned as `stack dev:plan --values` plans them. */
  function three(edit?: (dir: string) => void) {
    const dir = mkdtempSync(join(tmpdir(), 'dev-three-'));
    copyTestServices(dir, THREE);
    edit?.(dir);
    const declaration = readStageDeclaration(repoRoot, 'local', tiltThreeValues());
    return { dir, plan: devPlan(declaration, { stackDir: repoRoot, sourcesDir: dir }) };
  }

  test('each is built from its sibling at its dev stage, synced and run as declared', () => {
    const { dir, plan } = three();
    const at = (name: string, p = '') => join(dir, name, p);
    expect(plan.problems).toEqual([]);
    expect(
      plan.services.map((s) => [s.name, s.source, s.context, s.dockerfile, s.target, s.localPort]),
    ).toEqual([
      ['go-api', 'sibling', at('go-api'), at('go-api', 'Dockerfile'), 'dev', 9000],
      ['py-api', 'sibling', at('py-api'), at('py-api', 'Dockerfile'), 'dev', 8000],
      ['spa', 'sibling', at('spa'), at('spa', 'Dockerfile'), 'dev', 8088],
    ]);
    const [go, py, spa] = plan.services;
    // the Go API: the whole checkout to /src, where the image's supervisor rebuilds and restarts; no install
    expect(go).toMatchObject({
      sync: [{ from: at('go-api'), to: '/src' }],
      run: [],
      rebuildOn: ['Dockerfile', 'dev', 'go.mod', 'go.sum'].map((p) => at('go-api', p)),
    });
    // the Python API: its package and requirements.txt, which runs pip into the image's venv
    expect(py).toMatchObject({
      sync: [
        { from: at('py-api', 'pyapi'), to: '/srv/pyapi' },
        { from: at('py-api', 'requirements.txt'), to: '/srv/requirements.txt' },
      ],
      run: [
        {
          command:
            '/opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /srv/requirements.txt',
          trigger: [at('py-api', 'requirements.txt')],
        },
      ],
    });
    // the SPA: its pages, served as they land
    expect(spa).toMatchObject({ sync: [{ from: at('spa', 'html'), to: '/usr/share/spa' }], run: [] });
    // the laptop runs the images Tilt builds, with each dev image's own supervisor
    expect(plan.values.services).toEqual({
      'go-api': {
        image: { repository: 'go-api', pullPolicy: 'IfNotPresent' },
        command: ['go-api-dev'],
        args: ['serve'],
      },
      'py-api': {
        image: { repository: 'py-api', pullPolicy: 'IfNotPresent' },
        command: ['python', '/usr/local/bin/pyapi-reload', '-m', 'pyapi'],
      },
      spa: { image: { repository: 'spa', pullPolicy: 'IfNotPresent' } },
    });
  });

  test("the dev images' own commands are the ones the values file runs", () => {
    // the Dockerfiles' dev stages are what check-dev.sh proves; the values must not run anything else
    const cmd = (name: string) => {
      const text = readFileSync(join(repoRoot, 'test', 'services', name, 'Dockerfile'), 'utf8');
      const dev = text.slice(text.search(/^FROM .* AS dev$/m));
      return JSON.parse((/^CMD (.*)$/m.exec(dev) as RegExpExecArray)[1] as string) as string[];
    };
    const { plan } = three();
    const go = plan.values.services['go-api'] ?? {};
    expect([...((go.command as string[]) ?? []), ...((go.args as string[]) ?? [])]).toEqual(cmd('go-api'));
    expect(plan.values.services['py-api']?.command).toEqual(cmd('py-api'));
  });

  test('the Python API without its dev stage: the problem names the service, the path and the fix', () => {
    const { dir, plan } = three((d) => dropStage(d, 'py-api', 'dev'));
    const dockerfile = join(dir, 'py-api', 'Dockerfile');
    expect(plan.problems).toEqual([
      `py-api: ${dockerfile} (in the sibling checkout ${join(dir, 'py-api')}) has no stage "dev" (services.py-api.build.devTarget); its stages: base, runtime. Fix: add a stage \`FROM … AS dev\` to it, or set services.py-api.build.devTarget to one of its stages.`,
    ]);
    expect(plan.services.map((s) => s.name)).toEqual(['go-api', 'spa']);
  });
});
