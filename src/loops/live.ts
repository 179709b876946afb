/**
 * live: read-only verification of the live URL (GET-only smoke checks), then the team's test command. With
 * record-baseline, the images live runs become the baseline previews use for the services a PR does not build,
 * written only once the smoke checks passed.
 */
import { recordBaseline } from './images.js';
import { contract, runTestCommand } from './shared.js';
import type { LoopBody } from './types.js';

export const live: LoopBody<'live'> = async (ctx) => {
  const { inputs, names } = ctx;
  if (inputs.recordBaseline) await ctx.step('tools', () => ctx.deps.installTools(['kubectl']));
  await ctx.step('smoke checks', () =>
    contract(ctx, {
      target: { url: inputs.url },
      mode: 'smoke',
      deadlineMs: Math.min(inputs.timeoutSeconds, 120) * 1000,
      resolve: inputs.resolve,
    }),
  );
  await ctx.step('test-command', () => runTestCommand(ctx, { ...names.env, JETSCALE_URL: inputs.url }));
  if (inputs.recordBaseline) await ctx.step('record baseline', () => recordBaseline(ctx));
};
