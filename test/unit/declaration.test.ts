// src/declaration.ts: which services a loop deploys (the chart's values, the stage file, the inputs, merged as
// Helm merges them), and the refusal of an `images` line naming no declared service before anything runs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DeclarationError, declarationOf, mergeValues, readDeclaration } from '../../src/declaration.js';
import { runLoop } from '../../src/loops/index.js';
import { parseInputs, type RawInputs } from '../../src/validate.js';
import { deps, runCtx, tmp } from '../support/loop-harness.js';
import { RecordingExecutor } from '../support/recording-executor.js';
import { repoRoot } from '../support/tools.js';

const names = (d: ReturnType<typeof readDeclaration>) => d.services.map((s) => s.name);

describe('merging values as Helm does', () => {
  test('maps merge, lists and scalars replace, null deletes', () => {
    const base = { services: { a: { port: 1, needs: ['postgres', 'redis'], env: { X: '1', Y: '2' } } } };
    const over = { services: { a: { needs: ['postgres'], env: { Y: null, Z: '3' } }, b: { port: 2 } } };
    expect(JSON.parse(JSON.stringify(mergeValues(base, over)))).toEqual({
      services: { a: { port: 1, needs: ['postgres'], env: { X: '1', Z: '3' } }, b: { port: 2 } },
    });
  });
});

describe('the declaration a loop deploys', () => {
  test("the chart's defaults: backend and frontend, with their ports", () => {
    const d = readDeclaration(repoRoot, 'preview', {});
    expect(d.services).toEqual([
      {
        name: 'backend',
        port: 8080,
        servicePort: 80,
        routes: { api: { path: '/api', host: undefined } },
        needs: ['postgres', 'redis'],
        readinessPath: '/readyz',
        localPort: 8081,
        dev: { localPort: 8081, buildArgs: {} },
        imageRepository: 'ghcr.io/jetscale/backend',
        // a new preview starts with the example's items (examples/backend/src/seed.ts)
        seed: { command: ['node', 'dist/seed.js'], args: [], stages: ['preview'] },
        build: {
          context: 'examples/backend',
          dockerfile: 'Dockerfile',
          devTarget: 'dev',
          example: 'examples/backend',
        },
      },
      {
        name: 'frontend',
        port: 8080,
        servicePort: 80,
        routes: { web: { path: '/', host: undefined } },
        needs: ['backend'],
        readinessPath: '/healthz',
        localPort: 8080,
        dev: { localPort: 8080, buildArgs: {} },
        imageRepository: 'ghcr.io/jetscale/frontend',
        build: {
          context: 'examples/frontend',
          dockerfile: 'Dockerfile',
          devTarget: 'dev',
          example: 'examples/frontend',
        },
      },
    ]);
    expect(d.checks.map((c) => c.id)).toEqual([
      'backend/backend-health',
      'backend/backend-ready',
      'backend/api-create-item',
      'backend/api-round-trip',
      'frontend/frontend-page',
      'frontend/frontend-api',
    ]);
  });

  test('the inputs disable one, add another and delete a third with null', () => {
    const d = readDeclaration(repoRoot, 'ci-kind', {
      services: {
        frontend: { enabled: false },
        backend: null,
        'go-api': { port: 9000, image: { repository: 'g', tag: '1' } },
      },
    });
    expect(d.services).toEqual([
      {
        name: 'go-api',
        port: 9000,
        servicePort: 80,
        routes: {},
        needs: [],
        readinessPath: undefined,
        localPort: undefined,
        dev: { buildArgs: {} },
        imageRepository: 'g',
      },
    ]);
    expect(d.checks).toEqual([]);
  });

  test("the stage's file is read for the loop's stage", () => {
    // values.live.yaml keeps both services; a stage file that dropped one would show here
    expect(names(readDeclaration(repoRoot, 'live', {}))).toEqual(['backend', 'frontend']);
  });
});

describe("an 'images' line must name a declared service", () => {
  const preview = (extra: RawInputs) =>
    parseInputs(
      { loop: 'preview', 'pr-number': '7', 'git-sha': 'a'.repeat(40), kubeconfig: 'kc', ...extra },
      {
        fileExists: () => true,
        valuesFile: (p) => ({ path: p }),
      },
    );

  test('an unknown service is refused, naming it and the services that exist; no command runs', async () => {
    const exec = new RecordingExecutor();
    const r = await runLoop(
      preview({ images: 'api=ghcr.io/acme/api:1\nbackend=ghcr.io/acme/backend:1' }),
      runCtx(),
      deps(exec).d,
    );
    expect(r.error?.message).toBe(
      "Input 'images' names 'api', which the services declaration does not have. Expected one of the declared services: backend, frontend (charts/app values `services`, after the stage file and the values and set inputs). Nothing was run.",
    );
    expect(exec.commands).toEqual([]);
    expect(r.steps).toEqual([]);
  });

  test('a service the values input declares is accepted, and the others come from the baseline', async () => {
    const file = join(tmp, 'go-api-values.yaml');
    writeFileSync(
      file,
      'services:\n  go-api:\n    image: { repository: go-api, tag: "1" }\n    port: 9000\n',
    );
    const exec = new RecordingExecutor();
    const r = await runLoop(
      preview({ images: 'go-api=ghcr.io/acme/go-api:1', values: file, 'dry-run': 'true' }),
      runCtx(),
      deps(exec).d,
    );
    // the baseline is read for the services this PR does not build; the recording cluster has none
    expect(exec.commands.some((c) => c.args.includes('configmaps'))).toBe(true);
    expect(r.error?.message).toMatch(/^No image for service backend, service frontend: /);
  });
});

/** The error readDeclaration gives for an "api" service with these checks (and routes, and other services). */
function declarationProblem(
  checks: unknown,
  routes: unknown = { v1: { path: '/v1' } },
  extra: Record<string, unknown> = {},
): string {
  try {
    readDeclaration(repoRoot, 'ci-kind', {
      services: {
        backend: null,
        frontend: null,
        api: { port: 9000, image: { repository: 'a', tag: '1' }, routes, checks },
        ...extra,
      },
    });
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

describe('a wrong contract declaration names the field, the value and the accepted form', () => {
  const problem = (checks: unknown) => declarationProblem(checks);
  const ok = { request: { path: '/v1/x' }, expect: { status: 200 } };

  test.each([
    [
      'a write that would run in live',
      { w: { ...ok, request: { method: 'POST', path: '/v1/x' } } },
      'services.api.checks.w sends POST and would run in live, which only reads; add stages: [local, ci, preview] to it',
    ],
    [
      'a path without a slash',
      { c: { ...ok, request: { path: 'v1' } } },
      'services.api.checks.c.request.path is "v1"; accepted: an absolute path starting with /',
    ],
    [
      'an unknown route',
      { c: { ...ok, request: { path: '/x', via: { route: 'v2' } } } },
      'services.api.checks.c.request.via.route is "v2"; accepted: a route of an enabled service: one of [api/v1]',
    ],
    [
      'a status out of range',
      { c: { ...ok, expect: { status: 700 } } },
      'services.api.checks.c.expect.status is 700; accepted: an HTTP status (100-599)',
    ],
    [
      'a misspelt key',
      { c: { ...ok, expct: {} } },
      'services.api.checks.c.expct is {}; accepted: a check has only stages, uses, request, expect, save',
    ],
    [
      'an unknown stage',
      { c: { ...ok, stages: ['prod'] } },
      'services.api.checks.c.stages is ["prod"]; accepted: a list of local, ci, preview, live',
    ],
    [
      'a check it uses that does not exist',
      { c: { ...ok, uses: ['nope'] } },
      'services.api.checks.c.uses is "nope"; accepted: a check of an enabled service',
    ],
    [
      'a cycle',
      { a: { ...ok, uses: ['b'] }, b: { ...ok, uses: ['a'] } },
      'uses makes a cycle: api/a → api/b → api/a',
    ],
    [
      'two tests in one JSON assertion',
      { c: { ...ok, expect: { status: 200, json: [{ path: 'a', equals: 1, type: 'number' }] } } },
      'accepted: exactly one of equals, includes, matches, type, nonEmpty',
    ],
  ])('%s', (_what, checks, message) => {
    expect(problem(checks)).toContain(message);
  });

  test('a write in live is refused before anything runs', async () => {
    const file = join(tmp, 'write-in-live.yaml');
    writeFileSync(
      file,
      'services:\n  backend:\n    checks:\n      purge:\n        request: { method: DELETE, path: /api/items }\n        expect: { status: 204 }\n',
    );
    const exec = new RecordingExecutor();
    const r = await runLoop(
      parseInputs(
        { loop: 'live', url: 'https://app.example.com', values: file },
        { valuesFile: (p) => ({ path: p }) },
      ),
      runCtx(),
      deps(exec).d,
    );
    expect(r.error?.message).toContain('services.backend.checks.purge sends DELETE and would run in live');
    expect(exec.commands).toEqual([]);
    expect(r.checks).toEqual([]);
  });

  test('contract.enabled: false runs no declared check', () => {
    expect(readDeclaration(repoRoot, 'preview', { contract: { enabled: false } }).checks).toEqual([]);
  });
});

describe('what a check refers to must exist (review)', () => {
  const problemOf = declarationProblem;
  const ok = { request: { path: '/v1/x' }, expect: { status: 200 } };

  test.each([
    [
      'a saved value of a check it does not use',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: ${…} is the contract's own variable syntax
      { a: { ...ok, save: { id: 'id' } }, b: { ...ok, request: { path: '/v1/${api/a.id}' } } },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: ${…} is the contract's own variable syntax
      'services.api.checks.b.request.path uses ${api/a.id}; accepted: one of ${run.id}, ${git.sha}, ${release}',
    ],
    [
      'a misspelt when',
      { c: { ...ok, expect: { status: 200, json: [{ path: 'x', equals: 1, when: 'gitsha' }] } } },
      'services.api.checks.c.expect.json when is "gitsha"; accepted: run.id, git.sha, release',
    ],
    [
      'nonEmpty: false',
      { c: { ...ok, expect: { status: 200, json: [{ path: 'x', nonEmpty: false }] } } },
      'services.api.checks.c.expect.json[0].nonEmpty is false; accepted: true',
    ],
    [
      'a body on a GET',
      { c: { ...ok, request: { path: '/v1/x', json: { a: 1 } } } },
      'services.api.checks.c.request.json is {"a":1}; accepted: nothing: a GET request sends no body',
    ],
    [
      'a body expected from a HEAD',
      { c: { request: { method: 'HEAD', path: '/v1/x' }, expect: { status: 200, body: { contains: 'x' } } } },
      'services.api.checks.c.expect.body is {"contains":"x"}; accepted: nothing: a HEAD response has no body',
    ],
  ])('%s', (_what, checks, message) => {
    expect(problemOf(checks)).toContain(message);
  });

  test('a route of a worker (a service with no port)', () => {
    const worker = { w: { image: { repository: 'w', tag: '1' }, routes: { r: { path: '/w' } } } };
    expect(
      problemOf(
        { c: { request: { path: '/w', via: { route: 'w/r' } }, expect: { status: 200 } } },
        {},
        worker,
      ),
    ).toContain(
      'services.api.checks.c.request.via.route is "w/r"; accepted: a route of a service with a port (w has none)',
    );
  });
});

describe('routes with stripPrefix', () => {
  const api = (route: Record<string, unknown>, ingress: Record<string, unknown> = {}) => ({
    ingress,
    services: {
      backend: null,
      frontend: null,
      api: { port: 9000, image: { repository: 'a', tag: '1' }, routes: { py: route } },
    },
  });

  test("a check via the route carries the route's path to strip; a route without it carries none", () => {
    const check = { c: { request: { path: '/py/x', via: { route: 'py' } }, expect: { status: 200 } } };
    const d = readDeclaration(repoRoot, 'ci-kind', {
      services: {
        backend: null,
        frontend: null,
        api: {
          port: 9000,
          image: { repository: 'a', tag: '1' },
          routes: { py: { path: '/py', stripPrefix: true }, keep: { path: '/keep' } },
          checks: {
            ...check,
            k: { request: { path: '/keep', via: { route: 'keep' } }, expect: { status: 200 } },
          },
        },
      },
    });
    expect(d.services[0]?.routes).toEqual({
      py: { path: '/py', stripPrefix: true },
      keep: { path: '/keep' },
    });
    expect(d.checks.map((c) => [c.name, c.target])).toEqual([
      ['c', { service: 'api', stripPrefix: '/py' }],
      ['k', { service: 'api' }],
    ]);
  });

  test.each([
    [
      'on an Exact route',
      api({ path: '/py', pathType: 'Exact', stripPrefix: true }),
      'services.api.routes.py.stripPrefix is true with pathType Exact; accepted: stripPrefix only on a Prefix route (an Exact path leaves nothing to keep)',
    ],
    [
      'on /',
      api({ path: '/', stripPrefix: true }),
      'services.api.routes.py.stripPrefix is true on path "/"; accepted: stripPrefix only on a path below /, e.g. /py',
    ],
    [
      'not a boolean',
      api({ path: '/py', stripPrefix: 'yes' }),
      'services.api.routes.py.stripPrefix is "yes"; accepted: true or false',
    ],
    [
      'an ingress strip mechanism the chart does not know',
      api({ path: '/py' }, { stripPrefix: 'nginx' }),
      `ingress.stripPrefix is "nginx"; accepted: annotation (jetscale.dev/strip-prefix on the Ingress, which the rig's controller reads), traefik (a Traefik Middleware) or "" (traefik when ingress.className is traefik and the cluster serves Traefik Middlewares, else annotation)`,
    ],
  ])('refused %s', (_what, extra, message) => {
    expect(() => readDeclaration(repoRoot, 'ci-kind', extra)).toThrow(message);
  });
});

describe('services.<n>.dev: the laptop loop settings, each problem named', () => {
  const devProblems = (dev: unknown): string[] => {
    try {
      declarationOf({ services: { api: { port: 8080, dev } } });
    } catch (error) {
      if (error instanceof DeclarationError) return error.problems;
      throw error;
    }
    return [];
  };

  test('every field is read as declared', () => {
    const dev = {
      localPort: 9000,
      source: '../go-api',
      command: ['air'],
      args: ['-c', '.air.toml'],
      buildArgs: { GOFLAGS: '-mod=mod' },
      sync: [{ from: 'cmd', to: '/src/cmd' }],
      run: [{ command: 'go mod download', trigger: ['go.mod', 'go.sum'] }, { command: 'true' }],
      rebuildOn: ['Dockerfile.dev'],
      ignore: ['bin'],
    };
    const [s] = declarationOf({ services: { api: { port: 8080, workingDir: '/src', dev } } }).services;
    expect(s?.workingDir).toBe('/src');
    expect(s?.localPort).toBe(9000);
    expect(s?.dev).toEqual({ ...dev, run: [dev.run[0], { command: 'true', trigger: [] }] });
  });

  test.each([
    ['a misspelt key', { synk: [] }, 'services.api.dev.synk is []; accepted: dev has only localPort, source'],
    [
      'a port out of range',
      { localPort: 70000 },
      'services.api.dev.localPort is 70000; accepted: a TCP port, 1-65535',
    ],
    [
      'a relative container path',
      { sync: [{ from: '.', to: 'app' }] },
      'services.api.dev.sync[0].to is "app"; accepted: an absolute path in the container, e.g. /app',
    ],
    [
      'a sync source outside the context',
      { sync: [{ from: '../shared', to: '/shared' }] },
      'services.api.dev.sync[0].from is "../shared"; accepted: . or a path inside the build context',
    ],
    [
      'src/dest instead of from/to',
      { sync: [{ src: '.', dest: '/app' }] },
      'services.api.dev.sync[0] is {"src":".","dest":"/app"}; accepted: {from: <path in the context>, to: <absolute path in the container>}',
    ],
    [
      'a run without a command',
      { run: [{ trigger: ['go.mod'] }] },
      'services.api.dev.run[0].command is missing; accepted: a shell command run in the container',
    ],
    [
      'an absolute trigger',
      { run: [{ command: 'yarn install', trigger: ['/app/yarn.lock'] }] },
      'services.api.dev.run[0].trigger is ["/app/yarn.lock"]; accepted: a list of a path inside the build context',
    ],
    [
      'a command as one string',
      { command: 'air -c x' },
      'services.api.dev.command is "air -c x"; accepted: a list of strings',
    ],
    [
      'a numeric build argument',
      { buildArgs: { N: 1 } },
      'services.api.dev.buildArgs is {"N":1}; accepted: a map of build argument name to text',
    ],
    [
      'rebuildOn as one path',
      { rebuildOn: 'Dockerfile' },
      'services.api.dev.rebuildOn is "Dockerfile"; accepted: a list of a path inside',
    ],
  ])('%s', (_name, dev, message) => {
    const problems = devProblems(dev);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
  });

  test('dev problems and contract problems are reported together', () => {
    expect(() =>
      declarationOf({
        services: {
          api: {
            port: 8080,
            dev: { localPort: 0 },
            checks: { c: { request: { path: 'x' }, expect: { status: 200 } } },
          },
        },
      }),
    ).toThrow(/2 problem\(s\)[\s\S]*dev\.localPort is 0[\s\S]*request\.path is "x"/);
  });
});

describe('services.<n>.build: where the sources are (not rendered; the action and Skaffold read it)', () => {
  const buildProblem = (build: unknown) => declarationProblem({}, {}, { api: { port: 9000, build } });

  test.each([
    [
      'a context outside the checkout',
      { context: '../api' },
      'services.api.build.context is "../api"; accepted: a relative path without ..',
    ],
    [
      'an absolute context',
      { context: '/srv/api' },
      'services.api.build.context is "/srv/api"; accepted: a relative path without ..',
    ],
    [
      'a .. inside the context',
      { context: 'a/../../b' },
      'services.api.build.context is "a/../../b"; accepted: a relative path without ..',
    ],
    [
      'an absolute Dockerfile',
      { context: '.', dockerfile: '/etc/Dockerfile' },
      'services.api.build.dockerfile is "/etc/Dockerfile"; accepted: a path relative to the context without ..',
    ],
    [
      'a repository that is not owner/name',
      { context: '.', repository: 'acme' },
      'services.api.build.repository is "acme"; accepted: a GitHub repository as owner/name (e.g. acme/go-api), or empty for this stack',
    ],
    [
      'a misspelt key',
      { context: '.', dockerFile: 'x' },
      'services.api.build.dockerFile is "x"; accepted: build has only repository, context, dockerfile, target, devTarget, example',
    ],
  ])('%s is refused, naming the field, the value and the accepted form', (_what, build, message) => {
    expect(buildProblem(build)).toContain(message);
  });

  test('the accepted form: repository lower-cased, Dockerfile by default, no context is no build', () => {
    const d = readDeclaration(repoRoot, 'ci-kind', {
      services: {
        backend: null,
        frontend: null,
        api: { port: 9000, build: { repository: 'Acme/Go-Api', context: 'services/api', target: 'prod' } },
        worker: { build: { repository: 'acme/worker' } },
      },
    });
    expect(d.services.map((s) => [s.name, s.build])).toEqual([
      [
        'api',
        { repository: 'acme/go-api', context: 'services/api', dockerfile: 'Dockerfile', target: 'prod' },
      ],
      ['worker', undefined],
    ]);
  });
});

describe('migrations: the same refusals as the chart, before anything runs', () => {
  const withMigrations = (migrations: unknown, release?: string) =>
    readDeclaration(
      repoRoot,
      'ci-kind',
      { services: { backend: { migrations, needs: ['postgres', 'redis'] } } },
      release,
    );
  const problem = (migrations: unknown, release?: string) => {
    try {
      withMigrations(migrations, release);
    } catch (e) {
      return (e as Error).message;
    }
    return 'no error';
  };

  test('a command and its args are declared; {} or none declares no migration', () => {
    const backend = (m: unknown) => withMigrations(m).services.find((s) => s.name === 'backend');
    expect(
      backend({ command: ['/usr/local/bin/go-api'], args: ['migrate'], backoffLimit: 0 })?.migrations,
    ).toEqual({
      command: ['/usr/local/bin/go-api'],
      args: ['migrate'],
    });
    expect(backend({})?.migrations).toBeUndefined();
    expect(backend(null)?.migrations).toBeUndefined();
  });

  test.each([
    [
      { args: ['migrate'] },
      'services.backend.migrations.command is missing; accepted: a non-empty list of strings',
    ],
    [{ command: [] }, 'services.backend.migrations.command is []; accepted: a non-empty list of strings'],
    [{ command: 'migrate' }, 'services.backend.migrations.command is "migrate"; accepted: a non-empty list'],
    [{ command: ['m', 1] }, 'services.backend.migrations.command is ["m",1]; accepted: a non-empty list'],
    [{ command: ['m'], args: 'up' }, 'services.backend.migrations.args is "up"; accepted: a list of strings'],
    [
      { command: ['m'], backoffLimit: -1 },
      'services.backend.migrations.backoffLimit is -1; accepted: an integer from 0 to 100',
    ],
    [
      { command: ['m'], activeDeadlineSeconds: 0 },
      'services.backend.migrations.activeDeadlineSeconds is 0; accepted: seconds from 1 to 21600',
    ],
    [
      { command: ['m'], retries: 2 },
      'services.backend.migrations.retries is 2; accepted: migrations has only command, args, backoffLimit, activeDeadlineSeconds',
    ],
    ['migrate', 'services.backend.migrations is "migrate"; accepted: {command: [..]'],
  ])('%j', (migrations, message) => {
    expect(problem(migrations)).toContain(message);
  });

  test('a release that makes the Job name "<release>-<service>-migrate-xxxxxxxx" over 63 characters', () => {
    const release = 'r'.repeat(39);
    expect(problem({ command: ['m'] }, release)).toContain(
      `services.backend.migrations: the Job name ${release}-backend-migrate-xxxxxxxx is over 63 characters; shorten the service name or the release`,
    );
    expect(problem({ command: ['m'] }, 'r'.repeat(38))).toBe('no error');
    // no migration, no Job name
    expect(problem({}, release)).toBe('no error');
  });
});
