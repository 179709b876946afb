/**
 * deploy-live (the CLI's `deploy live`): the live profile into the live kube context, refused unless the
 * current context is the one named. The platform owns the namespace and its Secrets, so nothing is created.
 * A deploy that fails (a new image that never becomes ready, a failed migration: Skaffold's status check stops
 * at the Deployments' progress deadline, the timeout input) is rolled back with Helm to the revision that was
 * deployed before it; maxUnavailable 0 keeps the old pods serving until then.
 */
import { helm, kubectl } from '../commands.js';
import { CommandError } from '../executor.js';
import { LIVE_NAMESPACE } from '../naming.js';
import { deployCommand } from './build.js';
import { retryFailedMigrations } from './shared.js';
import { type LoopBody, type LoopContext, OwnershipRefused } from './types.js';

/** The current kube context is not the live one: nothing was deployed. */
export class ContextRefused extends OwnershipRefused {
  constructor(message: string) {
    super(message);
    this.name = 'ContextRefused';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** The live deploy failed; `rolledBackTo`: the revision the release was rolled back to (unset: none was). */
export class LiveDeployFailed extends Error {
  constructor(
    message: string,
    readonly rolledBackTo?: number,
  ) {
    super(message);
    this.name = 'LiveDeployFailed';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export interface Revision {
  revision: number;
  status: string;
  description?: string;
}

/** `helm history -o json`, oldest first; no release yet (helm exits 1, "release: not found") is no history. */
export function parseHistory(r: { exitCode: number; stdout: string; stderr: string }): Revision[] {
  if (r.exitCode !== 0) {
    if (/release: not found/.test(r.stderr)) return [];
    throw new Error(`helm history failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  }
  const parsed = r.stdout.trim() ? (JSON.parse(r.stdout) as Revision[]) : [];
  return [...parsed].sort((a, b) => a.revision - b.revision);
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
    const history = () =>
      deps.exec
        .run(
          helm.history(
            names.release,
            LIVE_NAMESPACE,
            wanted,
            names.env,
            'the release revision deployed now: a failed deploy is rolled back to it',
          ),
        )
        .then(parseHistory);
    const before = (await history()).filter((r) => r.status === 'deployed').at(-1);
    try {
      await deps.exec.run(
        deployCommand(ctx, {
          profile: 'live',
          namespace: LIVE_NAMESPACE,
          images: inputs.images,
          kubeContext: wanted,
        }),
      );
    } catch (error) {
      await rollBack(ctx, before, (await history()).at(-1), error);
    }
  });
};

/** After a failed deploy: Helm's rollback to `before` when the deploy made a newer revision; always throws. */
async function rollBack(
  ctx: LoopContext<'deploy-live'>,
  before: Revision | undefined,
  latest: Revision | undefined,
  error: unknown,
): Promise<never> {
  const { names, inputs, deps } = ctx;
  // Skaffold prints its status check's verdict (which Deployment failed, and why) on stdout, not stderr.
  const said =
    error instanceof CommandError
      ? error.result.stdout.trim().split('\n').filter(Boolean).slice(-5).join('\n')
      : '';
  const reason = `${error instanceof Error ? error.message : String(error)}${said ? `\nSkaffold said:\n${said}` : ''}`;
  const release = `release ${names.release} (namespace ${LIVE_NAMESPACE})`;
  if (!before)
    throw new LiveDeployFailed(
      `deploy live failed: ${reason}\nNot rolled back: the ${release} had no deployed revision before this deploy.`,
    );
  if (!latest || latest.revision === before.revision)
    throw new LiveDeployFailed(
      `deploy live failed: ${reason}\nNot rolled back: Helm recorded no new revision, the ${release} is still at revision ${before.revision}.`,
    );
  deps.log(
    `deploy live failed; rolling the ${release} back from revision ${latest.revision} to revision ${before.revision}, the last deployed before it (helm rollback)`,
  );
  try {
    await deps.exec.run(
      helm.rollback(
        names.release,
        before.revision,
        LIVE_NAMESPACE,
        inputs.kubeContext,
        inputs.timeoutSeconds,
        names.env,
      ),
    );
  } catch (rollbackError) {
    throw new LiveDeployFailed(
      `deploy live failed: ${reason}\nThe rollback to revision ${before.revision} failed too: ${
        rollbackError instanceof Error ? rollbackError.message : String(rollbackError)
      }\nRun: helm rollback ${names.release} ${before.revision} --namespace ${LIVE_NAMESPACE} --kube-context ${inputs.kubeContext}`,
    );
  }
  throw new LiveDeployFailed(
    `deploy live failed: ${reason}\nRolled back: the ${release} runs revision ${before.revision} again (helm rollback; revision ${latest.revision}, the failed deploy, stays in helm history).`,
    before.revision,
  );
}
