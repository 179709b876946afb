/**
 * deploy-live (the CLI's `deploy live`): the live profile into the live kube context, refused unless the
 * current context is the one named. The platform owns the namespace and its Secrets, so nothing is created.
 */
import { kubectl } from '../commands.js';
import { LIVE_NAMESPACE } from '../naming.js';
import { deployCommand } from './build.js';
import { retryFailedMigrations } from './shared.js';
import { type LoopBody, OwnershipRefused } from './types.js';

/** The current kube context is not the live one: nothing was deployed. */
export class ContextRefused extends OwnershipRefused {
  constructor(message: string) {
    super(message);
    this.name = 'ContextRefused';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export const deployLive: LoopBody<'deploy-live'> = async (ctx) => {
  const { inputs, names, deps } = ctx;
  const wanted = inputs.kubeContext;
  await ctx.step('kube context', async () => {
    const current = (
      await deps.exec.run({ ...kubectl.currentContext(names.env), dryRunStdout: wanted })
    ).stdout.trim();
    if (current !== wanted)
      throw new ContextRefused(
        `deploy live refused: the current kube context is ${JSON.stringify(current)}, not the live context ${JSON.stringify(wanted)}`,
      );
  });
  await ctx.step('deploy', async () => {
    await retryFailedMigrations(ctx, names.release, LIVE_NAMESPACE);
    await deps.exec.run(
      deployCommand(ctx, {
        profile: 'live',
        namespace: LIVE_NAMESPACE,
        images: inputs.images,
        kubeContext: wanted,
      }),
    );
  });
};
