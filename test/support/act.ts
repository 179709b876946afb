/**
 * What the tests that run workflows with act (host mode, no Docker) share: a staged copy of this checkout as
 * `jetscale/stack@v1`, a stand-in for actions/upload-artifact (it cannot be downloaded here, and act resolves
 * every action of a job before the job starts), a service repository, and act's flags for all of that.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { repoRoot } from './tools.js';

/** The pinned actions/upload-artifact reference preview.yml uses (owner/name@sha). */
export const UPLOAD_ARTIFACT = /uses:\s*(actions\/upload-artifact@[0-9a-f]{40})/.exec(
  readFileSync(join(repoRoot, '.github', 'workflows', 'preview.yml'), 'utf8'),
)?.[1];

/**
 * Stages, under `work`: `stack/` (what a checkout of jetscale/stack@v1 gives a workflow and the action) and
 * `upload-artifact/` (a stand-in that fails loudly if it ever runs: preview.yml uploads only after a failure).
 */
export function stageStack(work: string): void {
  const stage = join(work, 'stack');
  for (const p of ['action.yml', 'dist', 'charts', 'kind', 'skaffold.yaml', '.github/workflows'])
    cpSync(join(repoRoot, p), join(stage, p), { recursive: true });
  const standIn = join(work, 'upload-artifact');
  mkdirSync(standIn);
  writeFileSync(join(standIn, 'action.yml'), 'name: stand-in\nruns:\n  using: node24\n  main: index.js\n');
  writeFileSync(
    join(standIn, 'index.js'),
    'console.log("::error::stand-in for actions/upload-artifact ran: a step failed before it");\nprocess.exit(1);\n',
  );
}

/** act's flags for a job on this host with the staged stack and stand-in (see stageStack), caches under `work`. */
export function actHostFlags(work: string): string[] {
  return [
    '-P',
    'ubuntu-latest=-self-hosted',
    '--local-repository',
    `jetscale/stack@v1=${join(work, 'stack')}`,
    '--local-repository',
    `${UPLOAD_ARTIFACT}=${join(work, 'upload-artifact')}`,
    '--action-cache-path',
    join(work, 'act-cache'),
    '--no-cache-server',
  ];
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

/** A pull_request event payload on jetscale/demo, head branch `feature` of `headRepo` (a fork when not jetscale/demo). */
export function pullRequestEvent(action: string, headRepo: string, number: number, sha: string) {
  return {
    action,
    number,
    pull_request: {
      number,
      state: action === 'closed' ? 'closed' : 'open',
      title: 'a change',
      head: { ref: 'feature', sha, repo: { full_name: headRepo } },
      base: { ref: 'main', repo: { full_name: 'jetscale/demo' } },
    },
    repository: { full_name: 'jetscale/demo', name: 'demo', owner: { login: 'jetscale' } },
  };
}
