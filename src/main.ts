import * as core from '@actions/core';
import { Outputs, type State } from './constants.js';
import { getInputs, type RunContext, readEvent, runContext } from './context.js';
import { defaultLoopDeps } from './deps.js';
import { DryRunExecutor, ExecExecutor, type Executor } from './executor.js';
import { Reporter } from './github.js';
import { type LoopDeps, type LoopResult, planCommands, planNames, runLoop } from './loops.js';
import { writeLoopSummary } from './summary.js';
import type { ActionInputs } from './validate.js';

export async function run(): Promise<void> {
  let result: LoopResult | undefined;
  let inputs: ActionInputs | undefined;
  let warnings: string[] = [];
  try {
    const event = readEvent();
    const ctx = runContext(process.env, event);
    inputs = getInputs(ctx, event);
    const exec: Executor = inputs.dryRun ? new DryRunExecutor((line) => core.info(line)) : new ExecExecutor();
    const reporter = makeReporter(inputs, ctx);
    const names = planNames(inputs, ctx);
    setOutputs(names, ctx);
    const deps = loopDeps(inputs, exec, reporter);
    try {
      result = await runLoop(inputs, ctx, deps);
    } finally {
      warnings = reporter?.warnings ?? [];
      if (inputs.dryRun)
        core.setOutput(Outputs.Plan, JSON.stringify({ names, commands: planCommands(exec) }));
    }
    await summarize(inputs, result, warnings);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const diag = (error as { diagnosticsDir?: string }).diagnosticsDir;
    if (diag) core.setOutput(Outputs.DiagnosticsDir, diag);
    if (inputs && !result) await summarize(inputs, undefined, warnings, message).catch(() => undefined);
    core.setFailed(message);
  }
}

export function loopDeps(inputs: ActionInputs, exec: Executor, reporter: Reporter | undefined): LoopDeps {
  const base = defaultLoopDeps(inputs, exec, (line) => core.info(line));
  return {
    ...base,
    reporter,
    saveState: (key: State, value: string) => core.saveState(key, value),
    diagnostics: async (args) => {
      core.setOutput(Outputs.DiagnosticsDir, args.dir);
      return (base.diagnostics as NonNullable<LoopDeps['diagnostics']>)(args);
    },
  };
}

function makeReporter(inputs: ActionInputs, ctx: RunContext): Reporter | undefined {
  if (inputs.dryRun || !['preview', 'teardown'].includes(inputs.loop)) return undefined;
  if (!inputs.githubToken || !ctx.owner || !ctx.repo || inputs.prNumber === undefined) {
    core.info('No GitHub token or repository context: skipping the PR comment and the deployment.');
    return undefined;
  }
  return new Reporter({
    owner: ctx.owner,
    repo: ctx.repo,
    prNumber: inputs.prNumber,
    sha: inputs.sha ?? 'unknown',
    runId: Number.parseInt(ctx.runId, 10) || 0,
    runAttempt: Number.parseInt(ctx.runAttempt, 10) || 1,
    runUrl: ctx.runUrl,
    token: inputs.githubToken,
    apiUrl: ctx.apiUrl,
    comment: inputs.comment,
  });
}

function setOutputs(names: ReturnType<typeof planNames>, ctx: RunContext): void {
  if (names.namespace) core.setOutput(Outputs.Namespace, names.namespace);
  if (names.host) core.setOutput(Outputs.Host, names.host);
  if (names.url) core.setOutput(Outputs.Url, names.url);
  if (names.release) core.setOutput(Outputs.Release, names.release);
  if (names.cluster) core.setOutput(Outputs.Cluster, names.cluster);
  void ctx;
}

async function summarize(
  inputs: ActionInputs,
  result: LoopResult | undefined,
  warnings: string[],
  failure?: string,
): Promise<void> {
  await writeLoopSummary({
    title: `JetScale Stack — ${inputs.loop}${inputs.dryRun ? ' (dry run)' : ''}${failure ? ' failed' : ''}`,
    names: result
      ? {
          namespace: result.names.namespace,
          host: result.names.host,
          url: result.names.url,
          release: result.names.release,
          sha: result.names.sha,
          cluster: result.names.cluster,
        }
      : undefined,
    steps: result?.steps.map((s) => ({
      name: s.name,
      status: s.ok ? 'success' : 'failure',
      durationMs: s.ms,
    })),
    checks: result?.checks.map((c) => ({
      name: c.name,
      ok: c.ok,
      durationMs: c.durationMs,
      detail: c.detail,
    })),
    diagnostics: result?.diagnosticsDir ? { dir: result.diagnosticsDir } : undefined,
    warnings: [...warnings, ...(failure ? [failure] : [])],
  });
}
