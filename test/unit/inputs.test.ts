import { tmpdir } from 'node:os';
import { describe, expect, test } from 'vitest';
import { cli } from '../../src/cli-impl.js';
import { fileChecks } from '../../src/context.js';
import { InputError, parseInputs, type RawInputs } from '../../src/validate.js';
import { RecordingExecutor } from '../support/recording-executor.js';

const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';

/** Each row: the raw inputs, the input named in the error, and a fragment of the accepted form. */
const bad: Array<[string, RawInputs, string, string]> = [
  ['PR abc', { loop: 'preview', 'pr-number': 'abc' }, 'pr-number', 'digits only'],
  ['PR 0', { loop: 'preview', 'pr-number': '0' }, 'pr-number', '1 to 2147483647'],
  ['PR -1', { loop: 'preview', 'pr-number': '-1' }, 'pr-number', 'no sign'],
  ['PR 1e3', { loop: 'preview', 'pr-number': '1e3' }, 'pr-number', 'digits only'],
  ['PR with trailing space', { loop: 'preview', 'pr-number': '12 ' }, 'pr-number', 'no spaces'],
  [
    'PR of 20 digits',
    { loop: 'preview', 'pr-number': '12345678901234567890' },
    'pr-number',
    '1 to 2147483647',
  ],
  ['PR 2^31', { loop: 'preview', 'pr-number': '2147483648' }, 'pr-number', '1 to 2147483647'],
  ['PR with leading zeros', { loop: 'preview', 'pr-number': '007' }, 'pr-number', 'no leading zeros'],
  ['SHA not hex', { 'git-sha': 'zzzzzzz' }, 'git-sha', '7 to 40 hexadecimal'],
  ['SHA too short', { 'git-sha': 'abc123' }, 'git-sha', '7 to 40 hexadecimal'],
  ['SHA too long', { 'git-sha': `${SHA}0` }, 'git-sha', '7 to 40 hexadecimal'],
  ['SHA with space', { 'git-sha': '4f2c9e1 ' }, 'git-sha', '7 to 40 hexadecimal'],
  [
    'prefix too long',
    { loop: 'preview', 'pr-number': '101', 'namespace-prefix': `${'a'.repeat(60)}-` },
    'namespace-prefix',
    'at most 63',
  ],
  ['prefix upper case', { 'namespace-prefix': 'Jetscale-pr-' }, 'namespace-prefix', 'DNS-1123'],
  ['prefix underscore', { 'namespace-prefix': 'jet_scale-' }, 'namespace-prefix', 'DNS-1123'],
  ['prefix starting with -', { 'namespace-prefix': '-pr-' }, 'namespace-prefix', 'DNS-1123'],
  ['domain underscore', { 'base-domain': 'app_jetscale.ai' }, 'base-domain', 'DNS name'],
  ['domain single label', { 'base-domain': 'localhost' }, 'base-domain', 'at least two labels'],
  ['domain empty label', { 'base-domain': 'app..jetscale.ai' }, 'base-domain', 'DNS name'],
  [
    'domain leading hyphen',
    { 'base-domain': '-app.jetscale.ai' },
    'base-domain',
    'not starting or ending with -',
  ],
  ['domain with path', { 'base-domain': 'app.jetscale.ai/x' }, 'base-domain', 'DNS name'],
  [
    'image with ;',
    { images: 'backend=ghcr.io/acme/backend:1.0;rm -rf /' },
    'images',
    'no spaces or shell characters',
  ],
  ['image with space', { images: 'backend=ghcr.io/acme/back end:1' }, 'images', 'service=image'],
  ['image with $()', { images: 'backend=$(whoami)' }, 'images', 'service=image'],
  ['image with backtick', { images: 'frontend=ghcr.io/acme/`id`:1' }, 'images', 'service=image'],
  ['image without service', { images: 'ghcr.io/acme/backend:1' }, 'images', 'service=image'],
  ['image service twice', { images: 'backend=a/b:1\nbackend=a/b:2' }, 'images', 'given twice'],
  ['unknown loop', { loop: 'deploy' }, 'loop', 'ci-kind, preview, teardown, live'],
  ['loop upper case', { loop: 'CI-KIND' }, 'loop', 'ci-kind, preview, teardown, live'],
  ['set without key', { set: '=3' }, 'set', 'key.path=value'],
  ['timeout words', { timeout: '10 minutes' }, 'timeout', '1s to 6h'],
  ['timeout zero', { timeout: '0' }, 'timeout', '1s to 6h'],
  ['timeout too long', { timeout: '7h' }, 'timeout', '1s to 6h'],
  ['dry-run yes', { 'dry-run': 'yes' }, 'dry-run', 'true or false'],
  ['comment 1', { comment: '1' }, 'comment', 'true or false'],
  ['bot-login of a user', { 'bot-login': 'octocat' }, 'bot-login', 'its slug followed by [bot]'],
  ['bot-login with markup', { 'bot-login': 'x[bot]<b>' }, 'bot-login', 'its slug followed by [bot]'],
  ['url ftp', { loop: 'live', url: 'ftp://example.com' }, 'url', 'http:// or https://'],
  ['url with credentials', { loop: 'live', url: 'https://u:p@example.com' }, 'url', 'without credentials'],
  ['kind version', { 'kind-version': 'latest' }, 'kind-version', 'v1.2.3'],
  ['unpinned kind version', { 'kind-version': 'v9.9.9' }, 'kind-version', 'the pinned version v0.30.0'],
  ['unpinned helm version', { 'helm-version': 'v3.18.0' }, 'helm-version', 'pins:update -- helm=v3.18.0'],
  ['node image', { 'node-image': 'kindest/node:v1.34.4 --privileged' }, 'node-image', 'image reference'],
  ['resolve', { resolve: 'pr-1.app.jetscale.ai=localhost' }, 'resolve', 'host=IP'],
  ['teardown without PR', { loop: 'teardown' }, 'pr-number', "required for loop 'teardown'"],
  ['preview without PR', { loop: 'preview' }, 'pr-number', "required for loop 'preview'"],
  ['live without URL', { loop: 'live' }, 'url', "required for loop 'live'"],
];

describe('parseInputs rejects bad input naming the input, the value and the accepted form', () => {
  test.each(bad)('%s', (_name, raw, input, form) => {
    let error: unknown;
    try {
      parseInputs(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    const message = (error as Error).message;
    expect(message).toContain(`'${input}'`);
    expect(message).toContain(form);
    const value = raw[input as keyof RawInputs];
    if (value !== undefined) expect(message).toContain(JSON.stringify(value.split('\n').pop()));
  });

  test('all problems are reported at once', () => {
    expect(() =>
      parseInputs({ loop: 'preview', 'pr-number': 'abc', 'git-sha': 'xyz', timeout: 'soon' }),
    ).toThrow(/pr-number[\s\S]*git-sha[\s\S]*timeout/);
  });
});

describe('parseInputs accepts and normalises good input', () => {
  test.each([
    ['PR from input', { loop: 'preview', 'pr-number': '101' } as RawInputs, 101],
    ['largest PR', { loop: 'preview', 'pr-number': '2147483647' } as RawInputs, 2147483647],
  ])('%s', (_n, raw, pr) => {
    expect(parseInputs(raw).prNumber).toBe(pr);
  });

  test('PR number and SHA default from the pull_request event', () => {
    const inputs = parseInputs({ loop: 'teardown' }, { event: { prNumber: 55, sha: SHA.toUpperCase() } });
    expect(inputs.prNumber).toBe(55);
    expect(inputs.sha).toBe(SHA);
  });

  test('an explicit input wins over the event', () => {
    expect(parseInputs({ loop: 'preview', 'pr-number': '7' }, { event: { prNumber: 55 } }).prNumber).toBe(7);
  });

  test('defaults', () => {
    const inputs = parseInputs({});
    expect(inputs).toMatchObject({
      loop: 'ci-kind',
      baseDomain: 'app.jetscale.ai',
      namespacePrefix: 'jetscale-pr-',
      comment: true,
      dryRun: false,
      timeoutSeconds: 600,
      images: [],
    });
    expect(inputs.tools.kind).toMatch(/^v\d+\.\d+\.\d+$/);
  });

  test('lists: images, set, values, resolve; comments and blank lines ignored', () => {
    const inputs = parseInputs(
      {
        images: `backend=localhost:5001/backend:ci-1\n# a comment\n\nfrontend=ghcr.io/acme/frontend@sha256:${'a'.repeat(64)}`,
        set: 'services.backend.replicas=2\ningress.host=x.example.com',
        values: 'a.yaml',
        resolve: 'pr-1.app.jetscale.ai=127.0.0.1',
        timeout: '90s',
      },
      { fileExists: () => true },
    );
    expect(inputs.images).toEqual([
      { service: 'backend', ref: 'localhost:5001/backend:ci-1' },
      { service: 'frontend', ref: `ghcr.io/acme/frontend@sha256:${'a'.repeat(64)}` },
    ]);
    expect(inputs.set).toEqual([
      { key: 'services.backend.replicas', value: '2' },
      { key: 'ingress.host', value: 'x.example.com' },
    ]);
    expect(inputs.resolve).toEqual({ 'pr-1.app.jetscale.ai': '127.0.0.1' });
    expect(inputs.timeoutSeconds).toBe(90);
  });

  test('a values file that does not exist is named', () => {
    expect(() => parseInputs({ values: 'missing.yaml' }, fileChecks(tmpdir()))).toThrow(
      /'values': "missing.yaml".*does not exist/,
    );
  });
});

/** The same bad inputs through the CLI: exit code 2, the input named, and no command run. */
const cliCases: Array<[string, string[], Record<string, string>, string]> = [
  ['pr abc', ['deploy', 'preview', '--pr', 'abc'], {}, 'pr-number'],
  ['pr 0', ['deploy', 'preview', '--pr', '0'], {}, 'pr-number'],
  ['pr -1', ['deploy', 'preview', '--pr=-1'], {}, 'pr-number'],
  ['pr 1e3', ['deploy', 'preview', '--pr', '1e3'], {}, 'pr-number'],
  ['pr "12 "', ['deploy', 'preview', '--pr', '12 '], {}, 'pr-number'],
  ['pr 20 digits', ['deploy', 'preview', '--pr', '12345678901234567890'], {}, 'pr-number'],
  ['pr 007 from env', ['deploy', 'preview'], { PR_NUMBER: '007' }, 'pr-number'],
  ['sha', ['ci', '--sha', 'not-a-sha'], {}, 'git-sha'],
  ['sha from env', ['ci'], { GIT_SHA: 'abc' }, 'git-sha'],
  [
    'prefix',
    ['deploy', 'preview', '--pr', '1', '--namespace-prefix', `${'x'.repeat(62)}-`],
    {},
    'namespace-prefix',
  ],
  ['domain', ['deploy', 'preview', '--pr', '1', '--base-domain', 'not a domain'], {}, 'base-domain'],
  ['image', ['ci', '--image', 'backend=repo/backend:1|sh'], {}, 'images'],
  ['image from env', ['ci'], { IMAGES: 'backend=repo/backend:1 && curl x' }, 'images'],
  ['loop', ['plan', 'deploy-everything'], {}, 'loop'],
  ['teardown without PR', ['teardown'], {}, 'pr-number'],
  ['live without URL', ['test:live'], {}, 'url'],
  ['timeout', ['ci', '--timeout', 'forever'], {}, 'timeout'],
];

describe('CLI: bad input exits non-zero naming the input, and runs no command', () => {
  test.each(cliCases)('%s', async (_name, argv, env, input) => {
    const exec = new RecordingExecutor();
    const out: string[] = [];
    const err: string[] = [];
    const code = await cli(argv, {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      env,
      executor: () => exec,
    });
    expect(code).toBe(2);
    expect(err.join('')).toContain(`'${input}'`);
    expect(exec.commands).toHaveLength(0);
  });
});
