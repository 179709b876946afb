/**
 * What the unit tests of the loops share: a run context with its own private temp dir, loop dependencies around a
 * RecordingExecutor (contract checks passing, port-forwards that never start), a reporter that records its calls.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { State } from '../../src/constants.js';
import type { RunContext } from '../../src/context.js';
import type { CheckResult } from '../../src/contract.js';
import { writePrivateFile } from '../../src/deps.js';
import { type LoopDeps, type ReporterLike, runLoop } from '../../src/loops/index.js';
import { repoRoot } from './tools.js';

export const tmp = mkdtempSync(join(tmpdir(), 'loops-'));
let runs = 0;
/** A run context with its own (not yet created) private temp dir, as runContext gives. */
export function runCtx(): RunContext {
  return {
    runId: '777',
    runAttempt: '2',
    apiUrl: 'http://127.0.0.1:1',
    workspace: tmp,
    stackDir: repoRoot,
    tempDir: join(tmp, `private-${++runs}`),
    instance: 'a1b2c3',
    fromFork: false,
  };
}

export const passing: CheckResult[] = [
  {
    name: 'backend-health',
    ok: true,
    url: 'http://x/api/healthz',
    durationMs: 1,
    attempts: 1,
    detail: '200',
  },
];

export function deps(exec: LoopDeps['exec'], over: Partial<LoopDeps> = {}) {
  const state: Array<[State, string]> = [];
  const log: string[] = [];
  const tools: string[][] = [];
  const d: LoopDeps = {
    exec,
    log: (l) => log.push(l),
    installTools: async (t) => {
      tools.push(t);
      return {};
    },
    contract: async () => passing,
    portForward: async (c) => {
      // The recording executor runs no background command: fail as a port-forward that never listens would.
      exec.start(c);
      throw new Error(`port-forward ${c.args.join(' ')} did not start`);
    },
    writeFile: (path, content) => writePrivateFile(path, content),
    saveState: (k, v) => state.push([k, v]),
    ...over,
  };
  return { d, state, log, tools };
}

/** runLoop, throwing the loop's error as the action's step would fail with it. */
export async function run(...args: Parameters<typeof runLoop>) {
  const result = await runLoop(...args);
  if (result.error) throw result.error;
  return result;
}

export type ReportedDeploy = Parameters<ReporterLike['reportDeploy']>[0];

export function recordingReporter(
  opts: { open?: boolean } = {},
): ReporterLike & { calls: string[]; deploys: ReportedDeploy[] } {
  const calls: string[] = [];
  const deploys: ReportedDeploy[] = [];
  return {
    calls,
    deploys,
    reportDeploy: async (a) => {
      calls.push(`deploy:${a.status}`);
      deploys.push(a);
    },
    reportTeardown: async () => {
      calls.push('teardown');
    },
    isPullRequestOpen: async () => opts.open ?? true,
  };
}
