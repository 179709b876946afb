/**
 * The GitHub workflows under .github/workflows: actionlint (with shellcheck when installed) finds nothing,
 * the security rules hold structurally (permissions, pinned actions, no untrusted expressions in scripts, no
 * pull_request_target, the action run from the reusable workflow's own commit), and the reusable workflows
 * behave as promised when run by act (nektos/act) on this host: a fork's pull request never reaches the
 * deploy job, a same-repository one deploys (dry run), a caller pinned to a commit runs that commit's action.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import {
  type ActRun,
  actHostFlags,
  actWithJobWorkflow,
  commitServiceRepo,
  pullRequestEvent,
  runActOnHost,
  stageMarkedCommit,
  stageStack,
} from '../support/act.js';
import { startContractStack } from '../support/contract-server.js';
import { node24 } from '../support/node24.js';
import { findTool, repoRoot, requireTool } from '../support/tools.js';

const workflowsDir = join(repoRoot, '.github', 'workflows');
const fixturesDir = join(repoRoot, 'test', 'workflows', 'fixtures');
const workflowFiles = readdirSync(workflowsDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const fixtureFiles = readdirSync(fixturesDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

/** The reusable workflows service repositories call, and the loop each runs. */
const reusable: Record<string, string[]> = {
  'preview.yml': ['preview', 'teardown'],
  'ci-kind.yml': ['ci-kind'],
  'live.yml': ['live'],
  'sweep.yml': ['sweep'],
  'fork-build.yml': [],
  'fork-preview.yml': ['preview'],
};

const PREVIEW_GROUP = `jetscale-preview-\${{ github.repository }}-\${{ github.event.pull_request.number }}`;
const SAME_REPO = 'github.event.pull_request.head.repo.full_name == github.repository';
/** The job context naming the reusable workflow's own repository and commit (GitHub's runner provides it). */
const SELF_REPO = `\${{ job.workflow_repository }}`;
const SELF_SHA = `\${{ job.workflow_sha }}`;
const FORK = 'github.event.pull_request.head.repo.full_name != github.repository';

type Step = {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
};
type Job = {
  name?: string;
  if?: string;
  'runs-on'?: string;
  uses?: string;
  permissions?: Record<string, string>;
  concurrency?: { group: string; 'cancel-in-progress': boolean };
  steps?: Step[];
};
type Input = { type?: string; required?: boolean; default?: unknown; description?: string };
type Workflow = {
  on: unknown;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
};

function load(file: string): Workflow {
  // The YAML 1.1 reading GitHub uses would turn a bare `on` key into true; the yaml package (YAML 1.2) keeps "on".
  return parse(readFileSync(join(workflowsDir, file), 'utf8')) as Workflow;
}

function triggers(wf: Workflow): string[] {
  if (typeof wf.on === 'string') return [wf.on];
  if (Array.isArray(wf.on)) return wf.on as string[];
  return Object.keys(wf.on as Record<string, unknown>);
}

function workflowCall(wf: Workflow): {
  inputs?: Record<string, Input>;
  secrets?: Record<string, { required?: boolean; description?: string }>;
} {
  return (wf.on as Record<string, never>).workflow_call ?? {};
}

/**
 * Expressions a pull request's author controls (GitHub's list of untrusted context fields): never to be
 * expanded inside a `run:` script, where they become shell code.
 */
const UNTRUSTED =
  /github\.head_ref|\.head\.ref\b|\.head\.label\b|default_branch|\.title\b|\.body\b|\.message\b|page_name|author\.(email|name)/;

/** Every `${{ … }}` inside `run:` scripts, with what it matched: `untrusted` ones are injection holes. */
function expressionsInRun(wf: Workflow): { job: string; step: string; expr: string; untrusted: boolean }[] {
  const found: { job: string; step: string; expr: string; untrusted: boolean }[] = [];
  for (const [jobId, job] of Object.entries(wf.jobs ?? {})) {
    for (const [i, step] of (job.steps ?? []).entries()) {
      if (typeof step.run !== 'string') continue;
      for (const m of step.run.matchAll(/\$\{\{([\s\S]*?)\}\}/g)) {
        const expr = (m[1] as string).trim();
        found.push({ job: jobId, step: step.name ?? String(i), expr, untrusted: UNTRUSTED.test(expr) });
      }
    }
  }
  return found;
}

describe('expressionsInRun (the checker itself)', () => {
  const wf = (run: string): Workflow => ({ on: 'push', jobs: { a: { steps: [{ name: 's', run }] } } });
  test.each([
    [`echo "\${{ github.event.pull_request.title }}"`, true],
    [`git checkout \${{ github.head_ref }}`, true],
    [`echo \${{ github.event.pull_request.head.ref }}`, true],
    [`echo "\${{github.event.pull_request.body}}"`, true],
    [`echo "\${{ github.event.head_commit.message }}"`, true],
    [`echo \${{ github.event.pull_request.number }}`, false],
  ])('%s → untrusted %s', (run, untrusted) => {
    expect(expressionsInRun(wf(run))).toEqual([{ job: 'a', step: 's', expr: expect.any(String), untrusted }]);
  });
  test('a script passing values through env: has no expressions', () => {
    expect(expressionsInRun(wf('echo "$TITLE"'))).toEqual([]);
  });
});

describe('actionlint', () => {
  const tool = requireTool('actionlint');
  const shellcheck = findTool('shellcheck') !== undefined; // actionlint runs it over run: scripts when on PATH
  // actionlint 1.7.12 does not know the job.workflow_* context GitHub's runner provides (rhysd/actionlint#647,
  // #705): the reusable workflows read job.workflow_repository and job.workflow_sha. Exactly that finding is
  // ignored, nothing else about the job context.
  const ignore = [
    '-ignore',
    'property "workflow_(repository|sha)" is not defined in object type \\{check_run_id',
  ];
  const lint = (files: string[]) => {
    const run = spawnSync(tool.path as string, ['-format', '{{json .}}', ...ignore, ...files], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (run.error) throw run.error;
    if (run.stderr.trim()) throw new Error(`actionlint failed (exit ${run.status}): ${run.stderr}`);
    return {
      status: run.status,
      findings: JSON.parse(run.stdout || '[]') as { message: string; kind: string }[],
    };
  };

  test.skipIf(tool.skip !== undefined)(
    `finds nothing in the workflows and fixtures (${tool.skip ?? `shellcheck ${shellcheck ? 'on' : 'not found: scripts unchecked'}`})`,
    () => {
      const files = [
        ...workflowFiles.map((f) => join('.github', 'workflows', f)),
        ...fixtureFiles.map((f) => join('test', 'workflows', 'fixtures', f)),
        join('test', 'e2e', 'fixtures', 'act', 'pr.yml'), // the caller workflow the act e2e runs
        join('test', 'e2e', 'fixtures', 'act', 'fork-build.yml'), // the fork preview's callers (act e2e)
        join('test', 'e2e', 'fixtures', 'act', 'fork-preview.yml'),
      ];
      expect(files.length).toBeGreaterThanOrEqual(5);
      const { status, findings } = lint(files);
      expect(findings).toEqual([]);
      expect(status).toBe(0);
    },
  );

  test.skipIf(tool.skip !== undefined)(
    'reports an untrusted expression in a script (the linter is live)',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'actionlint-'));
      try {
        const file = join(dir, 'bad.yml');
        writeFileSync(
          file,
          `on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "\${{ github.event.pull_request.title }}"\n`,
        );
        const { status, findings } = lint([file]);
        expect(status).toBe(1);
        expect(findings).toEqual([
          expect.objectContaining({
            kind: 'expression',
            message: expect.stringContaining('potentially untrusted'),
          }),
        ]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe.each(workflowFiles)('%s', (file) => {
  const wf = load(file);
  const raw = readFileSync(join(workflowsDir, file), 'utf8');

  test('top-level permissions are contents: read only', () => {
    expect(wf.permissions).toEqual({ contents: 'read' });
  });

  test('every job states its permissions, and writes only what preview needs', () => {
    for (const [id, job] of Object.entries(wf.jobs)) {
      // preview.yml's deploy and teardown, and the sweep, which tells each removed preview's PR
      const writes =
        (file === 'preview.yml' && (id === 'deploy' || id === 'teardown')) ||
        (file === 'sweep.yml' && id === 'sweep');
      // the fork preview's trusted stage also reads the build's artifacts
      const forkPreview = file === 'fork-preview.yml' && id === 'preview';
      expect(job.permissions, `${file} job ${id}`).toEqual(
        forkPreview
          ? { contents: 'read', actions: 'read', 'pull-requests': 'write', deployments: 'write' }
          : writes
            ? { contents: 'read', 'pull-requests': 'write', deployments: 'write' }
            : { contents: 'read' },
      );
    }
  });

  test('no pull_request_target trigger', () => {
    expect(triggers(wf)).not.toContain('pull_request_target');
  });

  test('no expression inside a run: script (values go through env:), so none from the PR author', () => {
    expect(expressionsInRun(wf)).toEqual([]);
  });

  test('third-party actions are pinned by full SHA with a # vX.Y.Z comment', () => {
    const lines = raw.split('\n').filter((l) => /^\s*(-\s+)?uses:/.test(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const ref = (line.match(/uses:\s*(\S+)/) as RegExpMatchArray)[1] as string;
      if (ref.startsWith('./') || /^jetscale\/stack(\/|@)/.test(ref)) continue;
      expect(line, line.trim()).toMatch(/uses:\s*[\w.-]+\/[\w./-]+@[0-9a-f]{40}\s+#\s*v\d+\.\d+\.\d+\s*$/);
    }
  });

  test('checkouts do not persist the token in .git/config', () => {
    for (const job of Object.values(wf.jobs))
      for (const step of job.steps ?? [])
        if (step.uses?.startsWith('actions/checkout@'))
          expect(step.with?.['persist-credentials'], `${file}: ${step.name}`).toBe(false);
  });
});

test('each third-party action is pinned to the same SHA and version in every workflow', () => {
  const pins = new Map<string, Set<string>>();
  for (const file of workflowFiles) {
    for (const m of readFileSync(join(workflowsDir, file), 'utf8').matchAll(
      /uses:\s*([\w.-]+\/[\w./-]+)@([0-9a-f]{40})\s+#\s*(v\S+)/g,
    )) {
      const set = pins.get(m[1] as string) ?? new Set<string>();
      set.add(`${m[2]} ${m[3]}`);
      pins.set(m[1] as string, set);
    }
  }
  expect(pins.size).toBeGreaterThanOrEqual(4);
  for (const [action, refs] of pins) expect([...refs], action).toHaveLength(1);
});

describe.each(Object.entries(reusable))('reusable %s', (file, loops) => {
  const wf = load(file);
  const raw = readFileSync(join(workflowsDir, file), 'utf8');
  const call = workflowCall(wf);

  test('is triggered by workflow_call only', () => {
    expect(triggers(wf)).toEqual(['workflow_call']);
  });

  test('declares every input with a type and description; defaults match the type', () => {
    const inputs = Object.entries(call.inputs ?? {});
    expect(inputs.length).toBeGreaterThan(0);
    for (const [name, input] of inputs) {
      expect(['string', 'boolean', 'number'], `${file} input ${name}`).toContain(input.type);
      expect(input.description, `${file} input ${name}`).toBeTruthy();
      if (input.default !== undefined) expect(typeof input.default, `${file} input ${name}`).toBe(input.type);
    }
  });

  test('runs on the caller-chosen runner (default ubuntu-latest)', () => {
    expect(call.inputs?.['runs-on']).toMatchObject({ type: 'string', default: 'ubuntu-latest' });
    for (const job of Object.values(wf.jobs)) expect(job['runs-on']).toBe(`\${{ inputs.runs-on }}`);
  });

  // Issue 9: "the reusable workflows call jetscale/stack@v1, a moving tag: a caller that pins
  // preview.yml@<sha> still runs whatever v1 points to, with its kubeconfig."
  test(`finding: the reusable workflows call jetscale/stack@v1, a moving tag; now each job runs the action (loop ${loops.join(', ')}) of the workflow's own commit`, () => {
    const jobs = Object.values(wf.jobs).filter((j) => (j.steps ?? []).some((s) => s.with?.loop));
    expect(
      jobs
        .flatMap((j) => j.steps ?? [])
        .filter((s) => s.with?.loop)
        .map((s) => s.with?.loop),
    ).toEqual(loops);
    expect(raw).not.toMatch(/uses:\s*jetscale\/stack@/);
    for (const job of jobs) {
      const steps = job.steps ?? [];
      const at = (pred: (s: Step) => boolean) => steps.findIndex(pred);
      const action = at((s) => s.with?.loop !== undefined);
      const self = at((s) => s.with?.repository === SELF_REPO);
      const guard = at((s) => s.env?.WORKFLOW_SHA === SELF_SHA);
      const callers = steps.filter((s) => s.uses?.startsWith('actions/checkout@') && !s.with?.repository);
      // The action is the check-out of this workflow's repository at this workflow's commit, in a directory
      // of its own under the workspace, made after the caller's check-out (whose clean would remove it) ...
      expect(steps[action]?.uses).toBe('./.jetscale-stack-action');
      expect(steps[self]).toMatchObject({
        uses: expect.stringMatching(/^actions\/checkout@[0-9a-f]{40}$/),
        with: {
          repository: SELF_REPO,
          ref: SELF_SHA,
          path: '.jetscale-stack-action',
          'persist-credentials': false,
        },
      });
      expect(self).toBeGreaterThan(-1);
      expect(self).toBeLessThan(action);
      for (const c of callers) expect(steps.indexOf(c)).toBeLessThan(self);
      expect(callers.every((c) => c.with?.path === undefined)).toBe(true);
      // ... and a runner that does not say which commit that is stops the job before anything runs.
      expect(guard).toBeGreaterThan(-1);
      expect(guard).toBeLessThan(self);
      expect(steps[guard]?.env?.WORKFLOW_REPOSITORY).toBe(SELF_REPO);
      expect(steps[guard]?.run).toMatch(
        /-z "\$WORKFLOW_REPOSITORY" \] \|\| \[ -z "\$WORKFLOW_SHA" \]; then[\s\S]*exit 1/,
      );
    }
  });
});

describe('preview.yml', () => {
  const wf = load('preview.yml');
  const { deploy, teardown, fork } = wf.jobs as Record<string, Job>;

  test('kubeconfig is a required secret; github-token is optional', () => {
    expect(workflowCall(wf).secrets).toMatchObject({
      kubeconfig: { required: true },
      'github-token': { required: false },
    });
  });

  test.each([
    ['deploy', deploy],
    ['teardown', teardown],
  ])('%s holds the per-PR concurrency group and is never cancelled by a newer run', (_id, job) => {
    expect(job?.concurrency).toEqual({ group: PREVIEW_GROUP, 'cancel-in-progress': false });
  });

  test('deploy runs only for same-repository pull requests, on opened/synchronize/reopened, and edited when the description changed (a Preview-With line)', () => {
    expect(deploy?.if).toContain("github.event_name == 'pull_request'");
    expect(deploy?.if).toContain(SAME_REPO);
    for (const action of ['opened', 'synchronize', 'reopened'])
      expect(deploy?.if).toContain(`github.event.action == '${action}'`);
    expect(deploy?.if).toContain(
      `(github.event.action == 'edited' && contains(toJSON(github.event.changes), '"body":'))`,
    );
    expect(deploy?.if).not.toContain('closed');
  });

  test('teardown runs on closed, for same-repository pull requests (the only ones deployed)', () => {
    expect(teardown?.if).toContain("github.event.action == 'closed'");
    expect(teardown?.if).toContain(SAME_REPO);
  });

  test('a fork gets a job that explains the skip and touches no secret', () => {
    expect(fork?.if).toContain(FORK);
    expect(JSON.stringify(fork)).not.toMatch(/secrets\./);
    expect(fork?.steps?.map((s) => s.run ?? '').join('\n')).toMatch(
      /::notice title=Preview skipped \(fork\)::/,
    );
  });
});

describe('the fork preview (fork-build.yml, fork-preview.yml)', () => {
  const build = load('fork-build.yml');
  const preview = load('fork-preview.yml');
  const stage2 = preview.jobs.preview as Job;

  test('stage 1 builds forks only, with a read-only token and no secret', () => {
    expect(build.jobs.build?.if).toContain(FORK);
    expect(build.jobs.build?.permissions).toEqual({ contents: 'read' });
    expect(workflowCall(build).secrets).toBeUndefined();
    expect(readFileSync(join(workflowsDir, 'fork-build.yml'), 'utf8')).not.toMatch(/secrets\./);
    const uploads = (build.jobs.build?.steps ?? []).filter((s) =>
      s.uses?.startsWith('actions/upload-artifact@'),
    );
    expect(uploads.map((s) => s.with?.name)).toEqual(['jetscale-fork-images', 'jetscale-fork-claims']);
  });

  test("stage 2 runs on a fork's successful pull_request build only, and never checks out the fork", () => {
    expect(stage2.if).toContain("github.event.workflow_run.event == 'pull_request'");
    expect(stage2.if).toContain("github.event.workflow_run.conclusion == 'success'");
    expect(stage2.if).toContain('github.event.workflow_run.head_repository.full_name != github.repository');
    const checkouts = (stage2.steps ?? []).filter((s) => s.uses?.startsWith('actions/checkout@'));
    // the base repository (the event's default-branch commit) and the stack's own commit: nothing of the head
    expect(checkouts.map((s) => s.with?.repository ?? '(base)')).toEqual(['(base)', SELF_REPO]);
    expect(checkouts[0]?.with?.ref).toBeUndefined();
    const steps = JSON.stringify(stage2.steps);
    expect(steps).not.toMatch(/workflow_run\.head|pull_request\.head/);
  });

  test("stage 2 pushes and deploys only after the gate said deploy, from the stack's own commit", () => {
    const steps = stage2.steps ?? [];
    const gate = steps.findIndex((s) => s.id === 'gate');
    expect(steps[gate]?.run).toBe('node .jetscale-stack-action/dist/fork-gate/index.js');
    expect(steps[gate]?.env).toMatchObject({ INPUT_LABEL: `\${{ inputs.label }}` });
    for (const s of steps.slice(gate + 1)) expect(s.if, s.name).toBe("steps.gate.outputs.deploy == 'true'");
    expect(steps.at(-1)?.with).toMatchObject({
      loop: 'preview',
      'pr-number': `\${{ steps.gate.outputs.pr-number }}`,
      'git-sha': `\${{ steps.gate.outputs.sha }}`,
    });
    expect(workflowCall(preview).inputs?.label).toMatchObject({ default: 'preview' });
  });
});

describe('ci.yml', () => {
  const wf = load('ci.yml');
  const runs = (job: string) => (wf.jobs[job]?.steps ?? []).map((s) => s.run ?? '').join('\n');

  test('runs on push and pull_request', () => {
    expect(triggers(wf)).toEqual(expect.arrayContaining(['push', 'pull_request']));
  });

  test('test job: npm ci, the pinned tools built from Go sources, lint, npm test', () => {
    const script = runs('test');
    for (const cmd of ['npm ci', 'bash test/rig/tools/build.sh', 'npm run lint', 'npm test'])
      expect(script).toContain(cmd);
    const uses = (wf.jobs.test?.steps ?? []).map((s) => s.uses?.split('@')[0]);
    expect(uses).toEqual(expect.arrayContaining(['actions/setup-node', 'actions/setup-go']));
  });

  test('check-dist rebuilds dist/ from scratch, fails on any change (untracked files too), uploads on failure', () => {
    const script = runs('check-dist');
    expect(script).toMatch(/rm -rf dist\s+npm run build/);
    expect(script).toContain('git status --porcelain dist');
    const upload = (wf.jobs['check-dist']?.steps ?? []).find((s) =>
      s.uses?.startsWith('actions/upload-artifact@'),
    );
    expect(upload?.if).toContain('failure()');
    expect(upload?.with?.path).toBe('dist/');
  });

  test('the action itself (uses: ./) dry-runs every loop', () => {
    const job = wf.jobs.action as Job & { strategy: { matrix: { include: { loop: string }[] } } };
    expect(job.strategy.matrix.include.map((r) => r.loop).sort()).toEqual([
      'ci-kind',
      'live',
      'preview',
      'teardown',
    ]);
    expect(job.steps?.find((s) => s.uses === './')?.with).toMatchObject({ 'dry-run': true });
  });
});

/**
 * act runs the fixture callers in a throwaway "service repository" (git remote jetscale/demo) with the host as
 * runner (-P ubuntu-latest=-self-hosted; no Docker: DOCKER_HOST points nowhere). jetscale/stack@v1 (the
 * reusable workflows and the action) resolves to a copy of this working tree. act skips actions/checkout of
 * the repository itself. The only stand-in is for actions/upload-artifact, which cannot be downloaded here:
 * it fails loudly if it ever runs (it runs only after a failed step).
 */
describe('reusable workflows under act', () => {
  const act = actWithJobWorkflow(); // act with the job.workflow_* context (see test/support/act.ts)
  const skip = act.skip !== undefined;
  const label = act.skip ?? 'act on the host';
  let work = '';
  let nodeDir = '';
  let pinned: { sha: string; marker: string } = { sha: '', marker: '' };

  beforeAll(() => {
    if (skip) return;
    nodeDir = dirname(node24()); // action.yml says node24; act runs the host's `node`
    work = mkdtempSync(join(tmpdir(), 'jetscale-act-'));
    stageStack(work);
    // A second commit of jetscale/stack, not tagged v1, whose action prints a marker first thing.
    pinned = stageMarkedCommit(work);
    const svc = join(work, 'demo');
    mkdirSync(join(svc, '.github', 'workflows'), { recursive: true });
    for (const f of fixtureFiles) cpSync(join(fixturesDir, f), join(svc, '.github', 'workflows', f));
    // The README's preview caller, pinned to that commit instead of v1.
    const caller = readFileSync(join(fixturesDir, 'preview-caller.yml'), 'utf8');
    const pinnedCaller = caller.replace('preview.yml@v1', `preview.yml@${pinned.sha}`);
    expect(pinnedCaller).not.toBe(caller);
    writeFileSync(join(svc, '.github', 'workflows', 'pinned-caller.yml'), pinnedCaller);
    commitServiceRepo(svc, 'callers');
  }, 900_000); // the first run builds act with the job.workflow_* context (minutes on a cold Go build cache)

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs act asynchronously (a loopback server in this process must keep answering), JSON log lines back. */
  async function runAct(opts: {
    eventName: string;
    workflow: string;
    event?: object;
    secrets?: Record<string, string>;
    vars?: Record<string, string>;
    /** Another act binary (default: act with the job.workflow_* context). */
    act?: string;
  }): Promise<ActRun> {
    const args = [opts.eventName, '--json', '-W', `.github/workflows/${opts.workflow}`];
    if (opts.event) {
      const eventFile = join(work, 'event.json');
      writeFileSync(eventFile, JSON.stringify(opts.event));
      args.push('-e', eventFile);
    }
    args.push(
      ...actHostFlags(work),
      ...Object.entries(opts.secrets ?? {}).flatMap(([k, v]) => ['-s', `${k}=${v}`]),
      ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}=${v}`]),
    );
    return runActOnHost({
      act: opts.act ?? (act.path as string),
      args,
      work,
      nodeDir,
      timeoutMs: 120_000,
      env: { DOCKER_HOST: `unix://${join(work, 'no-docker.sock')}` }, // no Docker: host mode only
    });
  }

  const event = (action: string, head: string, number: number) =>
    pullRequestEvent(action, head, number, '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5');
  // A fork's pull_request run gets no secrets from GitHub: the fork rows pass none.
  const KUBECONFIG = { PREVIEW_KUBECONFIG: 'apiVersion: v1' };

  test.skipIf(skip).each([
    ['same-repository opened', 'deploy', 42, event('opened', 'jetscale/demo', 42), KUBECONFIG],
    ['same-repository synchronize', 'deploy', 7, event('synchronize', 'jetscale/demo', 7), KUBECONFIG],
    ['same-repository reopened', 'deploy', 8, event('reopened', 'jetscale/demo', 8), KUBECONFIG],
    ['same-repository closed', 'teardown', 42, event('closed', 'jetscale/demo', 42), KUBECONFIG],
    [
      'same-repository edited description',
      'deploy',
      9,
      { ...event('edited', 'jetscale/demo', 9), changes: { body: { from: 'before' } } },
      KUBECONFIG,
    ],
    ['fork opened', 'fork', 43, event('opened', 'mallory/demo', 43), {}],
    ['fork synchronize', 'fork', 43, event('synchronize', 'mallory/demo', 43), {}],
    ['fork closed', 'fork', 43, event('closed', 'mallory/demo', 43), {}],
  ])(`preview: %s runs only the %s job, PR %i (${label})`, async (_name, only, pr, ev, secrets) => {
    const run = await runAct({
      eventName: 'pull_request',
      workflow: 'preview-caller.yml',
      event: ev,
      secrets,
    });
    expect(run.results, run.text.slice(-3000)).toEqual({ [only]: 'success' });
    expect(run.status).toBe(0);
    const output = (name: string) =>
      run.lines.find((l) => l.jobID === only && l.command === 'set-output' && l.name === name)?.arg;
    if (only === 'fork') {
      expect(run.text).toContain('::notice title=Preview skipped (fork)::');
      expect(run.text).not.toContain('jetscale-pr-'); // no plan, no namespace: the action never ran
      expect(output('namespace')).toBeUndefined();
    } else {
      expect(run.text).toContain(`# plan for loop ${only === 'deploy' ? 'preview' : 'teardown'} (dry run`);
      expect(output('namespace')).toBe(`jetscale-pr-${pr}`);
      expect(run.text).not.toContain('stand-in for actions/upload-artifact ran');
      // The action of the commit v1 named (act resolves a --local-repository ref to itself).
      expect(run.text).toContain('stand-in for actions/checkout: jetscale/stack@v1 (');
      expect(run.text).not.toContain(pinned.marker);
    }
    // the run's own Skaffold file (src/loops/build.ts), deploying the given images
    if (only === 'deploy')
      expect(run.text).toMatch(
        new RegExp(
          `skaffold deploy -f \\S+/skaffold-preview\\.yaml -p preview --namespace jetscale-pr-${pr} --images backend=ghcr\\.io/jetscale/backend:sha-1234567 --images frontend=ghcr\\.io/jetscale/frontend:sha-1234567`,
        ),
      );
  });

  test.skipIf(skip)(`preview: an edit of the title alone runs no job (${label})`, async () => {
    const run = await runAct({
      eventName: 'pull_request',
      workflow: 'preview-caller.yml',
      event: { ...event('edited', 'jetscale/demo', 10), changes: { title: { from: 'before' } } },
      secrets: KUBECONFIG,
    });
    expect(run.status, run.text.slice(-3000)).toBe(0);
    expect(
      Object.values(run.results).filter((r) => r !== 'skipped'),
      run.text.slice(-3000),
    ).toEqual([]);
    expect(run.text).not.toContain('# plan for loop');
  });

  test.skipIf(skip)(
    `preview: a real deploy without the kubeconfig secret fails before the action (${label})`,
    async () => {
      const run = await runAct({
        eventName: 'pull_request',
        workflow: 'preview-caller.yml',
        event: event('opened', 'jetscale/demo', 44),
        vars: { DRY_RUN: 'false' },
      });
      expect(run.results, run.text.slice(-3000)).toEqual({ deploy: 'failure' });
      expect(run.status).not.toBe(0);
      expect(run.text).toContain("secret 'kubeconfig' is empty");
      expect(run.text).not.toContain('jetscale-pr-44'); // the action never started
      expect(run.text).not.toContain('stand-in for actions/upload-artifact ran'); // no diagnostics to upload
    },
  );

  test.skipIf(skip)(`a caller pinned to a SHA runs that SHA's action, not v1's (${label})`, async () => {
    const run = await runAct({
      eventName: 'pull_request',
      workflow: 'pinned-caller.yml',
      event: event('opened', 'jetscale/demo', 45),
      secrets: KUBECONFIG,
    });
    expect(run.results, run.text.slice(-3000)).toEqual({ deploy: 'success' });
    expect(run.status).toBe(0);
    // The pinned commit's action ran (its marker), and nothing of jetscale/stack at v1 was fetched ...
    expect(run.text).toContain(pinned.marker);
    expect(run.text).not.toMatch(/LocalRepositoryCache matched \S*jetscale\/stack with ref v1\b/);
    // ... because the job checked out its own commit (job.workflow_sha) and ran the action from there,
    expect(run.text).toContain(
      `jetscale-stack: the action of jetscale/stack@${pinned.sha}, the commit this workflow was called at`,
    );
    expect(run.text).toContain(`stand-in for actions/checkout: jetscale/stack@${pinned.sha} (${pinned.sha})`);
    // and that action is what planned the deploy (dry run).
    expect(run.text).toContain('# plan for loop preview (dry run');
    expect(run.lines.find((l) => l.command === 'set-output' && l.name === 'namespace')?.arg).toBe(
      'jetscale-pr-45',
    );
  });

  test.skipIf(skip || requireTool('act').skip !== undefined)(
    `without the job.workflow_* context (act as released) the job stops before any action runs (${label})`,
    async () => {
      const run = await runAct({
        eventName: 'pull_request',
        workflow: 'preview-caller.yml',
        event: event('opened', 'jetscale/demo', 46),
        secrets: KUBECONFIG,
        act: requireTool('act').path,
      });
      expect(run.results, run.text.slice(-3000)).toEqual({ deploy: 'failure' });
      expect(run.text).toContain('::error title=Unknown workflow commit::');
      expect(run.text).not.toContain('stand-in for actions/checkout: jetscale/stack');
      expect(run.text).not.toContain('jetscale-pr-46'); // the action never started
    },
  );

  describe('live.yml against a loopback stand-in of the stack', () => {
    let stack: Awaited<ReturnType<typeof startContractStack>> | undefined;
    beforeAll(async () => {
      if (!skip) stack = await startContractStack({ sha: 'abc1234' });
    });
    afterAll(async () => {
      await stack?.close();
    });

    test.skipIf(skip)(`passes the smoke checks and runs the test command (${label})`, async () => {
      const url = (stack as NonNullable<typeof stack>).frontend.url;
      const run = await runAct({
        eventName: 'workflow_dispatch',
        workflow: 'live-caller.yml',
        vars: { LIVE_URL: url },
      });
      expect(run.results, run.text.slice(-3000)).toEqual({ live: 'success' });
      expect(run.status).toBe(0);
      expect(run.text).toContain(`live test-command saw ${url}`);
      const seen = stack?.backend.requests.map((r) => `${r.method} ${r.path}`) ?? [];
      expect(seen).toEqual(
        expect.arrayContaining(['GET /api/healthz', 'GET /api/readyz', 'GET /api/version']),
      );
    });

    test.skipIf(skip)(`fails the calling workflow when the backend is not ready (${label})`, async () => {
      const s = stack as NonNullable<typeof stack>;
      s.backend.state.redis = 'down';
      try {
        const run = await runAct({
          eventName: 'workflow_dispatch',
          workflow: 'live-caller.yml',
          vars: { LIVE_URL: s.frontend.url, LIVE_TIMEOUT: '3s' },
        });
        expect(run.results, run.text.slice(-3000)).toEqual({ live: 'failure' });
        expect(run.status).not.toBe(0);
        expect(run.text).toContain('backend-ready');
        expect(run.text).not.toContain('live test-command saw');
      } finally {
        s.backend.state.redis = 'ok';
      }
    });
  });
});
