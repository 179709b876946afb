import * as core from '@actions/core';
import { Outputs, type State } from './constants.js';
import { getInputs, type RunContext, readEvent, runContext } from './context.js';
import { dryRunLoopDeps, planCommands, realLoopDeps } from './deps.js';
import { ExecExecutor } from './executor.js';
import { Reporter, sweepGitHub } from './github/index.js';
import {
  type LoopDeps,
  type LoopResult,
  planHeader,
  planNames,
  publicFailure,
  runLoop,
} from './loops/index.js';
import { redact } from './redact.js';
import { writeLoopSummary } from './summary.js';
import type { ActionInputs } from './validate.js';

export async function run(): Promise<void> {
  let inputs: ActionInputs | undefined;
  try {
    const event = readEvent();
    const ctx = runContext(process.env, event);
    inputs = getInputs(ctx, event);
    const names = planNames(inputs, ctx);
    setOutputs(names);
    const reporter = makeReporter(inputs, ctx);
    const deps = loopDeps(inputs, ctx, reporter);
    if (inputs.dryRun) for (const line of planHeader(names)) core.info(line);
    const result = await runLoop(inputs, ctx, deps);
    if (inputs.dryRun)
      core.setOutput(
        Outputs.Plan,
        JSON.stringify({
          names,
          commands: planCommands(deps),
          ...(result.sweep ? { sweep: result.sweep } : {}),
        }),
      );
    if (result.diagnosticsDir) core.setOutput(Outputs.DiagnosticsDir, result.diagnosticsDir);
    // The loop's own outcome decides the step; a summary that cannot be written only warns.
    await summarize(inputs, result, reporter?.warnings ?? []).catch((error: unknown) =>
      core.warning(
        `Could not write the job summary: ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
    if (result.error) core.setFailed(result.error.message);
  } catch (error) {
    // Bad inputs, or a failure before any loop ran: the summary says why, when there is one to write.
    const message = error instanceof Error ? error.message : String(error);
    if (inputs) await summarize(inputs, undefined, [], message).catch(() => undefined);
    core.setFailed(message);
  }
}

function loopDeps(inputs: ActionInputs, ctx: RunContext, reporter: Reporter | undefined): LoopDeps {
  const log = (line: string) => core.info(line);
  // A sweep's plan is what is on the cluster and on GitHub: its dry run reads both and the loop writes nothing.
  if (inputs.dryRun && inputs.loop !== 'sweep') return dryRunLoopDeps(inputs, log);
  return {
    ...realLoopDeps(inputs, new ExecExecutor(), log),
    reporter,
    // A preview that may evict others over the cap tells their PRs as the sweep would.
    github:
      inputs.loop === 'sweep' || (inputs.loop === 'preview' && evicts(inputs))
        ? makeSweepGitHub(inputs, ctx)
        : undefined,
    saveState: (key: State, value: string) => core.saveState(key, value),
  };
}

function evicts(inputs: ActionInputs): boolean {
  return inputs.maxPreviews !== undefined && inputs.overCap === 'evict';
}

/** The sweep's GitHub access: reads with the token; writes (comments, deployments) only from a run, not dry. */
function makeSweepGitHub(inputs: ActionInputs, ctx: RunContext) {
  if (!inputs.githubToken) {
    core.info(
      inputs.loop === 'sweep'
        ? 'No github-token: the sweep cannot tell which PRs are closed, and tells no PR.'
        : 'No github-token: a preview evicted over the cap is not told on its PR.',
    );
    return undefined;
  }
  const runId = /^[1-9][0-9]*$/.test(ctx.runId) ? Number(ctx.runId) : undefined;
  return sweepGitHub({
    token: inputs.githubToken,
    apiUrl: ctx.apiUrl,
    run:
      runId === undefined
        ? undefined
        : { runId, runAttempt: Number.parseInt(ctx.runAttempt, 10) || 1, runUrl: ctx.runUrl },
    write: !inputs.dryRun,
    comment: inputs.comment,
    identity: inputs.botLogin,
  });
}

/** GitHub reporting runs on a runner only: a pull-request loop with a token, a repository and a run id. */
export function makeReporter(inputs: ActionInputs, ctx: RunContext): Reporter | undefined {
  if (inputs.dryRun || (inputs.loop !== 'preview' && inputs.loop !== 'teardown')) return undefined;
  const runId = /^[1-9][0-9]*$/.test(ctx.runId) ? Number(ctx.runId) : undefined;
  const missing = [
    !inputs.githubToken && 'github-token',
    (!ctx.owner || !ctx.repo) && 'GITHUB_REPOSITORY',
    runId === undefined && 'GITHUB_RUN_ID',
    !inputs.sha && 'git-sha',
  ].filter(Boolean);
  if (missing.length > 0) {
    core.info(`Not on a runner (no ${missing.join(', ')}): skipping the PR comment and the deployment.`);
    return undefined;
  }
  return new Reporter({
    owner: ctx.owner as string,
    repo: ctx.repo as string,
    prNumber: inputs.prNumber,
    sha: inputs.sha as string,
    runId: runId as number,
    runAttempt: Number.parseInt(ctx.runAttempt, 10) || 1,
    runUrl: ctx.runUrl,
    token: inputs.githubToken as string,
    apiUrl: ctx.apiUrl,
    comment: inputs.comment,
    identity: inputs.botLogin,
  });
}

function setOutputs(names: ReturnType<typeof planNames>): void {
  if (names.namespace) core.setOutput(Outputs.Namespace, names.namespace);
  if (names.host) core.setOutput(Outputs.Host, names.host);
  if (names.url) core.setOutput(Outputs.Url, names.url);
  if (names.release) core.setOutput(Outputs.Release, names.release);
  if (names.cluster) core.setOutput(Outputs.Cluster, names.cluster);
}

/** The one writer of the job summary: names, steps, checks, diagnostics and warnings, on failure too. */
export async function summarize(
  inputs: ActionInputs,
  result: LoopResult | undefined,
  warnings: string[],
  failedBeforeLoop?: string,
): Promise<void> {
  const error = result?.error ?? failedBeforeLoop;
  const failure = error === undefined ? undefined : publicFailure(error);
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
    steps: result?.steps,
    checks: result?.checks.map((c) => ({
      name: c.name,
      ok: c.ok,
      durationMs: c.durationMs,
      detail: redact(c.detail),
    })),
    diagnostics: result?.diagnosticsDir
      ? { dir: result.diagnosticsDir, found: result.diagnostics && redact(result.diagnostics) }
      : undefined,
    warnings: [...warnings.map(redact), ...(failure ? [failure] : [])],
  });
}
