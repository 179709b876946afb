/**
 * What the tests that run workflows with act (host mode, no Docker) share: a staged copy of this checkout as
 * the git repository jetscale/stack (tag v1, and commits the tests add), stand-ins for actions/checkout and
 * actions/upload-artifact (they cannot be downloaded here, and act resolves every action of a job before the
 * job starts), a service repository, act's flags for all of that, and act itself with the job.workflow_*
 * context GitHub's runner provides and act 0.2.89 lacks (see actWithJobWorkflow).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { type PullRequestAction, pullRequestEventPayload } from './github-objects.js';
import { repoRoot, rigTrustedToolChecksums } from './tools.js';

const previewYml = readFileSync(join(repoRoot, '.github', 'workflows', 'preview.yml'), 'utf8');

/** The pinned actions/upload-artifact reference preview.yml uses (owner/name@sha). */
export const UPLOAD_ARTIFACT = /uses:\s*(actions\/upload-artifact@[0-9a-f]{40})/.exec(previewYml)?.[1];

/** The pinned actions/checkout reference the workflows use (owner/name@sha). */
export const CHECKOUT = /uses:\s*(actions\/checkout@[0-9a-f]{40})/.exec(previewYml)?.[1];

/** Where the staged jetscale/stack repository's working tree (at tag v1) lives under `work`. */
const stackDir = (work: string) => join(work, 'stack');

function git(dir: string, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} in ${dir}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Stages, under `work`:
 * - `stack/`: a git repository holding what a checkout of jetscale/stack gives a workflow and the action (this
 *   working tree's action.yml, dist, charts, kind, skaffold.yaml, workflows), one commit tagged v1; act reads
 *   the reusable workflows at @v1 from its working tree, and the checkout stand-in clones it (as
 *   `git/jetscale/stack`) for the workflows' check-out of their own commit;
 * - `checkout/`: the actions/checkout stand-in (see checkoutStandIn);
 * - `upload-artifact/`: a stand-in that fails loudly if it ever runs (preview.yml uploads only after a failure).
 */
export function stageStack(work: string): void {
  const stage = stackDir(work);
  for (const p of ['action.yml', 'dist', 'charts', 'kind', 'skaffold.yaml', '.github/workflows'])
    cpSync(join(repoRoot, p), join(stage, p), { recursive: true });
  git(stage, 'init', '-q', '-b', 'main');
  git(stage, 'add', '-A');
  git(stage, 'commit', '-q', '-m', 'jetscale/stack as of this working tree');
  git(stage, 'tag', 'v1');
  mkdirSync(join(work, 'git', 'jetscale'), { recursive: true });
  symlinkSync(stage, join(work, 'git', 'jetscale', 'stack'));

  const checkout = join(work, 'checkout');
  mkdirSync(checkout);
  writeFileSync(join(checkout, 'action.yml'), 'name: stand-in\nruns:\n  using: node24\n  main: index.js\n');
  writeFileSync(join(checkout, 'index.js'), CHECKOUT_STAND_IN);

  const standIn = join(work, 'upload-artifact');
  mkdirSync(standIn);
  writeFileSync(join(standIn, 'action.yml'), 'name: stand-in\nruns:\n  using: node24\n  main: index.js\n');
  writeFileSync(
    join(standIn, 'index.js'),
    'console.log("::error::stand-in for actions/upload-artifact ran: a step failed before it");\nprocess.exit(1);\n',
  );
}

/**
 * Replaces the failing actions/upload-artifact stand-in (see stageStack) with one that stores: the zip of the
 * `path` input (as upload-artifact makes it) goes to $JETSCALE_TEST_ARTIFACTS/<GITHUB_RUN_ID>/<name>.zip, where a
 * test picks it up and serves it as that run's artifact (the GitHub double's addArtifact), as GitHub would. Like
 * upload-artifact, it fails when `path` holds nothing and if-no-files-found is error.
 */
export function stageArtifactStore(work: string): void {
  writeFileSync(join(work, 'upload-artifact', 'index.js'), ARTIFACT_STORE_STAND_IN);
}

const ARTIFACT_STORE_STAND_IN = `const { execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, readdirSync } = require('node:fs');
const { join } = require('node:path');
const input = (name) => (process.env['INPUT_' + name.toUpperCase()] ?? '').trim();
const fail = (message) => {
  console.log('::error::stand-in for actions/upload-artifact: ' + message);
  process.exit(1);
};
const name = input('name') || 'artifact';
const path = input('path');
const store = process.env.JETSCALE_TEST_ARTIFACTS;
if (!store) fail('JETSCALE_TEST_ARTIFACTS is not set');
if (!existsSync(path) || readdirSync(path).length === 0) {
  if (input('if-no-files-found') === 'error') fail('no files found at ' + path);
  process.exit(0);
}
const dir = join(store, process.env.GITHUB_RUN_ID);
mkdirSync(dir, { recursive: true });
// -1: the fastest deflate (upload-artifact's compression-level is a trade of time for size, as here)
execFileSync('zip', ['-q', '-r', '-1', join(dir, name + '.zip'), '.'], { cwd: path });
console.log('stand-in for actions/upload-artifact: stored ' + name + ' of run ' + process.env.GITHUB_RUN_ID);
`;

/**
 * The actions/checkout stand-in: what the real action does for a repository other than the workflow's own
 * (act skips the check-out of the calling repository itself, whose files it copies into the workspace).
 * It clones `repository` from $JETSCALE_TEST_GIT_ROOT/<owner>/<name> and checks out `ref` (detached) into
 * `path` under the workspace. It refuses a path outside the workspace (as actions/checkout does) and the
 * workspace itself (that would replace the calling repository's files), and a missing ref.
 */
const CHECKOUT_STAND_IN = `const { execFileSync } = require('node:child_process');
const { existsSync, rmSync } = require('node:fs');
const { join, resolve, sep } = require('node:path');
const input = (name) => (process.env['INPUT_' + name.toUpperCase()] ?? '').trim();
const fail = (message) => {
  console.log('::error::stand-in for actions/checkout: ' + message);
  process.exit(1);
};
const workspace = resolve(process.env.GITHUB_WORKSPACE);
const repository = input('repository') || process.env.GITHUB_REPOSITORY;
const ref = input('ref');
const dest = resolve(workspace, input('path') || '.');
if (!dest.startsWith(workspace + sep)) fail('path ' + dest + ' is the workspace or outside it: it would replace the calling repository');
if (!ref) fail('no ref for ' + repository);
const root = process.env.JETSCALE_TEST_GIT_ROOT;
if (!root || !existsSync(join(root, repository))) fail('no local repository for ' + repository + ' under JETSCALE_TEST_GIT_ROOT');
rmSync(dest, { recursive: true, force: true });
const git = (...args) => execFileSync('git', args, { encoding: 'utf8' }).trim();
git('clone', '-q', '--no-checkout', join(root, repository), dest);
git('-C', dest, 'checkout', '-q', '--detach', ref);
console.log('stand-in for actions/checkout: ' + repository + '@' + ref + ' (' + git('-C', dest, 'rev-parse', 'HEAD') + ') into ' + dest + ', persist-credentials ' + (input('persist-credentials') || 'true'));
`;

/**
 * Adds a commit to the staged jetscale/stack (see stageStack) on a branch of its own, v1 untouched: `edit`
 * changes the files of a copy of v1's tree. Returns the commit's SHA; act reads the reusable workflows at
 * @<sha> from `<work>/stack@<sha>` (actHostFlags maps them), the checkout stand-in clones the commit.
 */
export function stageCommit(work: string, message: string, edit: (dir: string) => void): string {
  const branch = `staged-${readdirSync(work).filter((e) => e.startsWith('stack@')).length + 1}`;
  const tree = join(work, `${branch}-tree`);
  git(stackDir(work), 'worktree', 'add', '-q', '-b', branch, tree, 'v1');
  edit(tree);
  git(tree, 'add', '-A');
  git(tree, 'commit', '-q', '-m', message);
  const sha = git(tree, 'rev-parse', 'HEAD');
  symlinkSync(tree, join(work, `stack@${sha}`));
  return sha;
}

/**
 * A commit of the staged jetscale/stack whose action says so first thing: its dist/index.js prints `marker`
 * before anything else, so a run shows whose action it ran. Returns the commit's SHA and the marker.
 */
export function stageMarkedCommit(work: string): { sha: string; marker: string } {
  const marker = `jetscale-stack test build: the action of a pinned commit (${randomTag()})`;
  const sha = stageCommit(work, 'an action that prints a marker', (dir) => {
    const index = join(dir, 'dist', 'index.js');
    writeFileSync(index, `console.log(${JSON.stringify(marker)});\n${readFileSync(index, 'utf8')}`);
  });
  return { sha, marker };
}

function randomTag(): string {
  return createHash('sha256')
    .update(`${process.pid}-${Date.now()}-${Math.random()}`)
    .digest('hex')
    .slice(0, 8);
}

/**
 * act's flags for a job on this host with the staged stack (v1 and every commit stageCommit added) and the
 * stand-ins (see stageStack), caches under `work`.
 */
export function actHostFlags(work: string): string[] {
  const pinned = readdirSync(work)
    .filter((e) => /^stack@[0-9a-f]{40}$/.test(e))
    .flatMap((e) => ['--local-repository', `jetscale/${e}=${join(work, e)}`]);
  return [
    '-P',
    'ubuntu-latest=-self-hosted',
    '--local-repository',
    `jetscale/stack@v1=${stackDir(work)}`,
    ...pinned,
    '--local-repository',
    `${CHECKOUT}=${join(work, 'checkout')}`,
    '--local-repository',
    `${UPLOAD_ARTIFACT}=${join(work, 'upload-artifact')}`,
    '--action-cache-path',
    join(work, 'act-cache'),
    '--no-cache-server',
  ];
}

/**
 * act 0.2.89 (the rig's) with GitHub's job.workflow_repository, job.workflow_sha, job.workflow_ref and
 * job.workflow_file_path context (actions/runner#4335), which act does not have: the reusable workflows run
 * their action from job.workflow_repository at job.workflow_sha, and without the context they stop (and
 * must). test/workflows/act-job-workflow.patch adds it (for a job of a called workflow: the called workflow's
 * repository, the commit act resolved its `uses:` ref to, which for a --local-repository override is the ref
 * as written); everything else is act as released. Built once per recipe (the rig's act module, the patch,
 * the Go version) from the Go module cache, like the rig builds tilt with its overlay, into
 * ~/.cache/jetscale-stack/act-job-workflow/<recipe>/act. Needs Go (and the Go module proxy, or a module cache
 * holding act, which npm run rig:tools fills).
 */
export function actWithJobWorkflow():
  | { path: string; skip?: undefined }
  | { path?: undefined; skip: string } {
  const moduleDir = join(repoRoot, 'test', 'rig', 'tools', 'act');
  const patch = join(repoRoot, 'test', 'workflows', 'act-job-workflow.patch');
  const go = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  const noGo = "go not found: act with the job.workflow_* context is built from the rig's act module";
  if (go.status !== 0) {
    if (process.env.CI === 'true') throw new Error(noGo);
    return { skip: noGo };
  }
  const recipe = createHash('sha256')
    .update(readFileSync(join(moduleDir, 'go.mod')))
    .update(readFileSync(join(moduleDir, 'go.sum')))
    .update(readFileSync(patch))
    .update(go.stdout)
    .digest('hex')
    .slice(0, 16);
  const out = join(homedir(), '.cache', 'jetscale-stack', 'act-job-workflow', recipe, 'act');
  if (existsSync(out)) return { path: out };

  const run = (cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) => {
    const r = spawnSync(cmd, args, { ...opts, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
    return r.stdout;
  };
  const src = (
    JSON.parse(run('go', ['mod', 'download', '-json', 'github.com/nektos/act'], { cwd: moduleDir })) as {
      Dir: string;
    }
  ).Dir;
  const work = mkdtempSync(join(tmpdir(), 'act-job-workflow-'));
  try {
    cpSync(src, join(work, 'act'), { recursive: true });
    run('chmod', ['-R', 'u+w', join(work, 'act')], { cwd: work });
    run('patch', ['-s', '-p1', '-i', patch], { cwd: join(work, 'act') });
    writeFileSync(
      join(work, 'go.mod'),
      `${readFileSync(join(moduleDir, 'go.mod'), 'utf8')}\nreplace github.com/nektos/act => ${join(work, 'act')}\n`,
    );
    cpSync(join(moduleDir, 'go.sum'), join(work, 'go.sum'));
    mkdirSync(dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    run('go', ['build', '-trimpath', '-ldflags', '-s -w -buildid=', '-o', tmp, 'github.com/nektos/act'], {
      cwd: moduleDir,
      env: {
        ...process.env,
        CGO_ENABLED: '0',
        GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=readonly -buildvcs=false -modfile=${join(work, 'go.mod')}`,
      },
    });
    chmodSync(tmp, 0o755);
    renameSync(tmp, out); // atomic: a concurrent build of the same recipe just wins or loses the rename
    return { path: out };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Makes `dir` a git repository with remote jetscale/demo and one commit of what is in it. */
export function commitServiceRepo(dir: string, message: string): void {
  const git = (...args: string[]) => {
    const r = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args], {
      cwd: dir,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  git('init', '-q', '-b', 'main');
  git('remote', 'add', 'origin', 'https://github.com/jetscale/demo.git');
  git('add', '.');
  git('commit', '-q', '-m', message);
}

let trusted: string | undefined;
function trustedRigTools(): string {
  trusted ??= rigTrustedToolChecksums();
  return trusted;
}

/** One line of act's --json log (the fields the tests read). */
export interface ActLine {
  jobID?: string;
  jobResult?: string;
  msg?: string;
  command?: string;
  name?: string;
  arg?: string;
}

export interface ActRun {
  status: number | null;
  /** Everything act printed. */
  out: string;
  lines: ActLine[];
  /** job id → result, from the jobResult lines. */
  results: Record<string, string>;
  /** The log messages, one per line. */
  text: string;
}

/**
 * Runs act (`args` after the act binary) in `<work>/demo`, the service repository, asynchronously, so a loopback
 * server in this process keeps answering. act's host mode runs the `node` it finds on PATH: `nodeDir` first.
 * Killed after `timeoutMs`.
 */
export async function runActOnHost(opts: {
  act: string;
  args: string[];
  work: string;
  nodeDir: string;
  timeoutMs: number;
  env?: Record<string, string>;
}): Promise<ActRun> {
  const child = spawn(opts.act, opts.args, {
    cwd: join(opts.work, 'demo'),
    env: {
      PATH: `${opts.nodeDir}${delimiter}${process.env.PATH}`,
      HOME: process.env.HOME,
      XDG_CACHE_HOME: join(opts.work, 'xdg'),
      TMPDIR: process.env.TMPDIR ?? tmpdir(),
      // act's host mode passes its environment to the steps: where the checkout stand-in finds jetscale/stack,
      // and the rig's tools vouched for (they are built from source, not the pinned release assets).
      JETSCALE_TEST_GIT_ROOT: join(opts.work, 'git'),
      JETSCALE_TRUSTED_TOOL_SHA256: trustedRigTools(),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
  const status = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  }).finally(() => clearTimeout(timer));
  const lines = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ActLine);
  const results = Object.fromEntries(
    lines.filter((l) => l.jobResult).map((l) => [l.jobID as string, l.jobResult as string]),
  );
  return { status, out, lines, results, text: lines.map((l) => l.msg ?? '').join('\n') };
}

/**
 * A pull_request event payload on jetscale/demo, head branch `feature` of `headRepo` (a fork when not
 * jetscale/demo): the complete payload GitHub delivers, valid against its webhook description
 * (test/support/github-objects.ts builds it).
 */
export function pullRequestEvent(action: string, headRepo: string, number: number, sha: string) {
  return pullRequestEventPayload({
    action: action as PullRequestAction,
    repository: 'jetscale/demo',
    headRepository: headRepo,
    number,
    headSha: sha,
    headRef: 'feature',
    baseRef: 'main',
    title: 'a change',
  });
}
