/**
 * Issue 9's findings: hostile or careless input that reached places it must not, and the bugs found with them.
 * Each test is named after its finding and failed on the code before the fix (see the issue's closing note).
 */
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import {
  fileChecks,
  getInputs,
  type RunContext,
  registerSecretInputs,
  runContext,
} from '../../src/context.js';
import { ensurePrivateDir, realLoopDeps, writePrivateFile } from '../../src/deps.js';
import {
  type Command,
  CommandError,
  ExecExecutor,
  type ExecResult,
  type Executor,
} from '../../src/executor.js';
import { Reporter } from '../../src/github/index.js';
import { extraValues, planNames, runLoop } from '../../src/loops/index.js';
import { makeReporter, summarize } from '../../src/main.js';
import { clearSecrets, redact } from '../../src/redact.js';
import { type ActionInputs, InputError, parseInputs, type RawInputs } from '../../src/validate.js';
import { type GitHubServer, startGitHubServer } from '../support/github-server.js';
import { RecordingExecutor } from '../support/recording-executor.js';
import { repoRoot } from '../support/tools.js';

const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const TOKEN = 'ghs_hostileInputTestToken0123456789abcd';
const work = mkdtempSync(join(tmpdir(), 'hostile-'));
// core.summary keeps the first path it sees: one summary file for this whole file, emptied by each test.
const summaryFile = join(mkdtempSync(join(tmpdir(), 'summary-')), 'summary.md');
process.env.GITHUB_STEP_SUMMARY = summaryFile;
function freshSummary(): string {
  writeFileSync(summaryFile, '');
  return summaryFile;
}

function runCtx(workspace = work): RunContext {
  return {
    runId: '4242',
    runAttempt: '1',
    apiUrl: 'http://127.0.0.1:1',
    workspace,
    stackDir: repoRoot,
    tempDir: join(mkdtempSync(join(tmpdir(), 'hostile-run-')), 'private'),
    instance: 'abcdef',
    fromFork: false,
  };
}

function problemOf(raw: RawInputs, opts = fileChecks(work)): string {
  try {
    parseInputs(raw, opts);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error('parseInputs accepted it');
}

afterEach(() => clearSecrets());

/** kubectl and skaffold answer like a cluster that accepts everything; bash (the test command) really runs. */
class ClusterEdgeExecutor implements Executor {
  readonly dryRun = false;
  readonly commands: Command[] = [];
  private readonly real = new ExecExecutor();
  private readonly cluster = new RecordingExecutor();
  async run(command: Command): Promise<ExecResult> {
    this.commands.push(command);
    return command.cmd === 'bash' ? this.real.run(command) : this.cluster.run(command);
  }
  start(command: Command) {
    return this.cluster.start(command);
  }
}

describe('nothing secret leaves', () => {
  let github: GitHubServer | undefined;
  afterEach(async () => {
    await github?.close();
    github = undefined;
  });

  test('a test-command that prints its environment posts no secret to the PR, nor to the job summary', async () => {
    github = await startGitHubServer({
      token: TOKEN,
      owner: 'jetscale',
      repo: 'demo',
      pulls: { 101: 'open' },
    });
    const kubeconfig = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      users: [{ name: 'u', user: { token: 'kube-bearer-token-0123456789' } }],
    });
    const raw: RawInputs = {
      loop: 'preview',
      'pr-number': '101',
      'git-sha': SHA,
      images: 'backend=r/b:1\nfrontend=r/f:1',
      kubeconfig,
      'github-token': TOKEN,
      // Prints the environment (GITHUB_TOKEN and the kubeconfig's content among it), then fails.
      'test-command': 'env; env >&2; echo "token=$GITHUB_TOKEN" >&2; cat "$KUBECONFIG" >&2; exit 3',
    };
    registerSecretInputs(raw);
    const inputs = parseInputs(raw, fileChecks(work));
    const run = runCtx();
    const reporter = new Reporter({
      owner: 'jetscale',
      repo: 'demo',
      prNumber: 101,
      sha: SHA,
      runId: 4242,
      token: TOKEN,
      apiUrl: github.url,
      comment: true,
    });
    const exec = new ClusterEdgeExecutor();
    process.env.GITHUB_TOKEN = TOKEN;
    freshSummary();
    try {
      const result = await runLoop(inputs, run, {
        ...realLoopDeps(inputs, exec, () => {}),
        installTools: async () => ({}),
        contract: async () => [],
        reporter,
      });
      expect(result.error).toBeInstanceOf(CommandError);
      await summarize(inputs, result, reporter.warnings);
    } finally {
      delete process.env.GITHUB_TOKEN;
    }
    const posted = JSON.stringify(github.requests.map((r) => r.body));
    const summary = readFileSync(summaryFile, 'utf8');
    expect(posted).toContain('exit code 3'); // the failure is reported…
    for (const text of [posted, summary]) {
      expect(text).not.toContain(TOKEN); // …without the token,
      expect(text).not.toContain('kube-bearer-token-0123456789'); // the kubeconfig's credentials,
      expect(text).not.toContain('JETSCALE_SHA='); // or the environment.
    }
  });

  test('a kubeconfig given as JSON is content, not a path, and no error prints it', () => {
    const json =
      '{"apiVersion":"v1","kind":"Config","users":[{"name":"u","user":{"token":"json-secret-token-123"}}]}';
    expect(
      parseInputs({ loop: 'live', url: 'https://app.jetscale.ai', kubeconfig: json }, fileChecks(work))
        .kubeconfig,
    ).toEqual({
      content: json,
    });
    const missing = 'not-a-file-but-a-secret-value-987';
    const message = problemOf({ loop: 'live', url: 'https://app.jetscale.ai', kubeconfig: missing });
    expect(message).toContain("'kubeconfig'");
    expect(message).not.toContain(missing);
  });
});

describe('secrets stay with the action', () => {
  test('child processes never see the action’s inputs (the token, the kubeconfig) nor the runner’s tokens', async () => {
    process.env['INPUT_GITHUB-TOKEN'] = TOKEN;
    process.env.INPUT_KUBECONFIG = 'apiVersion: v1';
    process.env.ACTIONS_RUNTIME_TOKEN = 'runtime-token-123456';
    try {
      const out = await new ExecExecutor().run({
        cmd: 'env',
        args: [],
        env: { KUBECONFIG: '/k' },
        silent: true,
      });
      expect(out.stdout).toContain('KUBECONFIG=/k');
      expect(out.stdout).not.toContain(TOKEN);
      expect(out.stdout).not.toMatch(/^(INPUT_|ACTIONS_RUNTIME_TOKEN)/m);
    } finally {
      delete process.env['INPUT_GITHUB-TOKEN'];
      delete process.env.INPUT_KUBECONFIG;
      delete process.env.ACTIONS_RUNTIME_TOKEN;
    }
  });

  test('a kubeconfig given as a path registers the credentials in the file, not the path', () => {
    writeFileSync(
      join(work, 'preview.kubeconfig'),
      'apiVersion: v1\nusers:\n- user:\n    token: file-token-abcdef\n',
    );
    registerSecretInputs({ kubeconfig: 'preview.kubeconfig' }, work);
    expect(redact('used preview.kubeconfig with file-token-abcdef')).toBe('used preview.kubeconfig with ***');
  });
});

describe('set keys', () => {
  test.each(['__proto__.polluted', 'constructor.prototype.polluted', 'a.__proto__.b', 'prototype'])(
    '`set` keys that reach JavaScript object internals are refused: %s',
    (key) => {
      const message = problemOf({ set: `${key}=1` });
      expect(message).toContain("'set'");
      expect(message).toContain('__proto__, constructor and prototype are not names');
    },
  );

  test('values built from set and files never touch Object.prototype', () => {
    const file = join(work, 'proto.yaml');
    writeFileSync(file, '{"a": {"__proto__": {"pollutedByFile": "yes"}}}\n');
    // Straight to the builder, past the parser's refusal: the builder must hold on its own.
    const values = extraValues({
      values: [file, file],
      set: [
        { key: '__proto__.pollutedBySet', value: '1' },
        { key: 'a.b', value: '1' },
      ],
    });
    expect(({} as Record<string, unknown>).pollutedBySet).toBeUndefined();
    expect(({} as Record<string, unknown>).pollutedByFile).toBeUndefined();
    expect(JSON.parse(JSON.stringify(values)).a.b).toBe(1);
  });
});

describe('values, url and temp files', () => {
  test('`values` outside the workspace is refused, symlinks too', () => {
    const outside = join(mkdtempSync(join(tmpdir(), 'outside-')), 'secrets.yaml');
    writeFileSync(outside, 'password: hunter2\n');
    symlinkSync(outside, join(work, 'innocent.yaml'));
    for (const path of [outside, '../../etc/passwd', 'innocent.yaml']) {
      const message = problemOf({ values: path });
      expect(message).toContain("'values'");
      expect(message).toMatch(/outside the workspace|does not exist/);
      expect(message).not.toContain('hunter2');
    }
    writeFileSync(join(work, 'ok.yaml'), 'a: 1\n');
    expect(parseInputs({ values: 'ok.yaml' }, fileChecks(work)).values).toEqual([join(work, 'ok.yaml')]);
  });

  test('a values file that is no YAML mapping is refused before anything runs; teardown gets no values file', () => {
    writeFileSync(join(work, 'list.yaml'), '- a\n- b\n');
    writeFileSync(join(work, 'broken.yaml'), 'a: [\n');
    expect(problemOf({ values: 'list.yaml' })).toMatch(/'values': "list.yaml".*not a mapping/);
    expect(problemOf({ values: 'broken.yaml' })).toMatch(/'values': "broken.yaml".*does not parse/);
    writeFileSync(join(work, 'ok2.yaml'), 'a: 1\n');
    const teardown = parseInputs(
      { loop: 'teardown', 'pr-number': '3', values: 'ok2.yaml' },
      fileChecks(work),
    );
    expect(planNames(teardown, runCtx()).env.JETSCALE_VALUES_FILE).toBeUndefined();
  });

  test.each([
    ['https://app.jetscale.ai/"><script>alert(1)</script>', undefined],
    ['https://app.jetscale.ai/`x`', undefined],
    ['https://app.jetscale.ai/ [link](https://evil.example)', undefined],
    ['javascript:alert(1)', undefined],
    ['HTTPS://App.JetScale.AI:443/x/', 'https://app.jetscale.ai/x'],
    ['https://app.jetscale.ai/#frag', 'https://app.jetscale.ai'],
  ])('`url` is parsed and normalised, markup never kept: %s', (url, expected) => {
    if (expected === undefined) expect(problemOf({ loop: 'live', url })).toContain("'url'");
    else expect(parseInputs({ loop: 'live', url }).url).toBe(expected);
  });

  test('temp files are created exclusively in a private directory, never through a planted symlink', () => {
    const a = runContext({ RUNNER_TEMP: work });
    const b = runContext({ RUNNER_TEMP: work });
    expect(a.tempDir).not.toBe(b.tempDir); // unpredictable names
    const target = join(work, 'planted-target');
    writeFileSync(target, 'original');
    ensurePrivateDir(a.tempDir);
    symlinkSync(target, join(a.tempDir, 'kubeconfig')); // planted by a process of the same user
    expect(() => writePrivateFile(join(a.tempDir, 'kubeconfig'), 'secret')).toThrow(/EEXIST/);
    expect(readFileSync(target, 'utf8')).toBe('original');
    // A directory someone else made under the run's name is refused, not reused.
    mkdirSync(b.tempDir, { mode: 0o777 });
    expect(() => writePrivateFile(join(b.tempDir, 'values.yaml'), 'x')).toThrow();
  });
});

describe('bugs', () => {
  test('the `stack-dir` input is read as a runner sets it (INPUT_STACK-DIR)', () => {
    const stack = join(work, 'my-stack');
    mkdirSync(join(stack, 'charts'), { recursive: true });
    writeFileSync(join(stack, 'skaffold.yaml'), 'apiVersion: skaffold/v4beta13\n');
    process.env['INPUT_STACK-DIR'] = 'my-stack';
    try {
      const ctx = runContext({ GITHUB_WORKSPACE: work });
      getInputs(ctx, {});
      expect(ctx.stackDir).toBe(stack);
      process.env['INPUT_STACK-DIR'] = 'no-such-dir';
      expect(() => getInputs(runContext({ GITHUB_WORKSPACE: work }), {})).toThrow(/'stack-dir'/);
    } finally {
      delete process.env['INPUT_STACK-DIR'];
    }
  });

  test('error lines do not start with the command’s JETSCALE_* environment', () => {
    const error = new CommandError(
      { cmd: 'skaffold', args: ['deploy'], env: { JETSCALE_SHA: SHA, KUBECONFIG: '/k' } },
      { exitCode: 1, stdout: '', stderr: 'boom' },
    );
    expect(error.message).toBe('skaffold deploy failed with exit code 1: boom');
  });

  test('off a runner (run id 0 or none) reporting is skipped, not failed', () => {
    const inputs = parseInputs({
      loop: 'teardown',
      'pr-number': '5',
      'git-sha': SHA,
      'github-token': TOKEN,
    }) as ActionInputs;
    for (const env of [{ GITHUB_RUN_ID: '0', GITHUB_REPOSITORY: 'a/b' }, { GITHUB_REPOSITORY: 'a/b' }, {}])
      expect(makeReporter(inputs, runContext(env))).toBeUndefined();
    expect(makeReporter(inputs, runContext({ GITHUB_RUN_ID: '9', GITHUB_REPOSITORY: 'a/b' }))).toBeInstanceOf(
      Reporter,
    );
  });

  test('when a loop fails, the job summary keeps the names, steps, checks and diagnostics', async () => {
    freshSummary();
    {
      const inputs = parseInputs({
        loop: 'preview',
        'pr-number': '101',
        'git-sha': SHA,
        images: 'backend=r/b:1\nfrontend=r/f:1',
      });
      const exec = new RecordingExecutor();
      const result = await runLoop(inputs, runCtx(), {
        ...realLoopDeps(inputs, exec, () => {}),
        installTools: async () => ({}),
        contract: async () => [
          {
            name: 'backend-ready',
            ok: false,
            url: 'https://pr-101.app.jetscale.ai/api/readyz',
            durationMs: 5,
            attempts: 2,
            detail: '503',
          },
        ],
        diagnostics: async () => ({ summary: 'one pod not ready' }),
      });
      expect(result.error).toBeDefined();
      expect(result.diagnosticsDir).toBeDefined();
      await summarize(inputs, result, []);
      const summary = readFileSync(summaryFile, 'utf8');
      for (const part of [
        'jetscale-pr-101',
        'pr-101.app.jetscale.ai',
        'contract checks',
        'backend-ready',
        'Diagnostics',
        'one pod not ready',
      ])
        expect(summary).toContain(part);
    }
  });
});
