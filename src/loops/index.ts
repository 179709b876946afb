/**
 * runLoop: one table from loop name to its file. Each loop gets one context; what is common to all (the plan's
 * names, the private files every command reads, the step recorder, the result kept on failure) is here.
 */
import type { AnyLoop } from '../constants.js';
import type { RunContext } from '../context.js';
import { checkImagesDeclared, readDeclaration } from '../declaration.js';
import type { ActionInputs } from '../validate.js';
import { checkEveryServiceHasImage, planBuild } from './build.js';
import { ciKind } from './ci-kind.js';
import { deployLive } from './deploy-live.js';
import { live } from './live.js';
import { extraValues, planNames } from './plan.js';
import { preview } from './preview.js';
import { writeValuesFile } from './shared.js';
import { sweep } from './sweep.js';
import { teardown } from './teardown.js';
import type { LoopBody, LoopContext, LoopDeps, LoopResult } from './types.js';

export { BuildRefused } from './build.js';
export { ContextRefused } from './deploy-live.js';
export { chartValues, extraValues, planHeader, planNames } from './plan.js';
export { forwardServices, publicFailure, serviceUrlEnv, withPortForwards } from './shared.js';
export { planSweep, type SweepDecision, type SweepPlan, sweepLines } from './sweep.js';
export { TeardownRefused } from './teardown.js';
export * from './types.js';

/** The loops that run Skaffold. */
const DEPLOYING: readonly AnyLoop[] = ['ci-kind', 'preview', 'deploy-live'];

const LOOP_BODIES: { [L in AnyLoop]: LoopBody<L> } = {
  'ci-kind': ciKind,
  preview,
  teardown,
  live,
  'deploy-live': deployLive,
  sweep,
};

/** Runs one loop. Never throws for a failure of the loop itself: the result carries the error and what ran. */
export async function runLoop(inputs: ActionInputs, run: RunContext, deps: LoopDeps): Promise<LoopResult> {
  const names = planNames(inputs, run);
  const result: LoopResult = { loop: inputs.loop, names, steps: [], checks: [] };
  const loopStart = Date.now();
  const ctx: LoopContext = {
    inputs,
    run,
    names,
    deps,
    result,
    declaration: { services: [], checks: [] },
    build: { from: 'images', artifacts: [] },
    // The start and end lines are what the benchmarks (test/bench/lib.mjs) time the steps by.
    async step(name, fn) {
      const t0 = Date.now();
      const record = (ok: boolean) => {
        const ms = Date.now() - t0;
        result.steps.push({ name, ok, startMs: t0 - loopStart, ms });
        deps.log(`${ok ? '✓' : '✗'} ${name} (${(ms / 1000).toFixed(1)} s${ok ? '' : ', failed'})`);
      };
      deps.log(`▶ ${name}`);
      try {
        const out = await fn();
        record(true);
        return out;
      } catch (error) {
        record(false);
        throw error;
      }
    },
  };
  try {
    // Read before anything runs: an `images` line naming no declared service stops the loop here. A teardown
    // (and the sweep, which tears down) removes what exists, whatever the declaration says now.
    if (inputs.loop !== 'teardown' && inputs.loop !== 'sweep') {
      ctx.declaration = readDeclaration(
        run.stackDir,
        inputs.loop,
        extraValues(inputs),
        'release' in names ? names.release : undefined,
      );
      checkImagesDeclared(inputs.images, ctx.declaration);
    }
    // What to build, and from which checkout: a repository that declares no service and gives no images is
    // refused here, before anything is created.
    if (DEPLOYING.includes(inputs.loop)) ctx.build = planBuild(inputs, run, ctx.declaration);
    // A preview fills the rest from a preview-with PR or the baseline (and refuses there); the others cannot.
    if (inputs.loop === 'ci-kind' || inputs.loop === 'deploy-live')
      checkEveryServiceHasImage(inputs.images, ctx.build, ctx.declaration);
    writePrivateFiles(ctx);
    await (LOOP_BODIES[inputs.loop] as LoopBody<AnyLoop>)(ctx as never);
  } catch (error) {
    result.error = error instanceof Error ? error : new Error(String(error));
  }
  return result;
}

/**
 * The kubeconfig given as content and the generated values file: what every command of the loop reads. A preview
 * writes its values file itself, once it knows every service's image (this PR's, a companion's, the baseline's).
 */
function writePrivateFiles(ctx: LoopContext): void {
  const { inputs, names, deps } = ctx;
  if (inputs.kubeconfig?.content !== undefined && names.env.KUBECONFIG)
    deps.writeFile(names.env.KUBECONFIG, inputs.kubeconfig.content, 'the kubeconfig input');
  if (inputs.loop !== 'preview') writeValuesFile(ctx, inputs.images);
}
