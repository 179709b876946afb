/**
 * teardown: removes a PR's preview, only when the namespace carries our ownership labels for that PR, and
 * deletes the namespace only if it is still the very object that was checked (its UID and resourceVersion, as
 * API preconditions), checked again right before the delete.
 */
import { helm, kubectl } from '../commands.js';
import { CommandError } from '../executor.js';
import { isOwnedBy, notOwned, type ObjectMeta, type Owner } from '../naming.js';
import { KUBE_RETRY, transientFault } from '../retry.js';
import { getNamespace, type NamespaceInfo } from './shared.js';
import { type LoopBody, type LoopContext, OwnershipRefused } from './types.js';

export class TeardownRefused extends OwnershipRefused {
  constructor(namespace: string, owner: Owner, meta: ObjectMeta) {
    super(
      `Refusing to tear down namespace ${namespace}: ${notOwned(meta, owner)}. ` + `Nothing was deleted.`,
    );
    this.name = 'TeardownRefused';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** A teardown that stopped part-way (the API server failing, a wait running out): what it was doing, what is left. */
export class TeardownIncomplete extends Error {
  constructor(namespace: string, doing: string, left: string, cause: unknown) {
    super(
      `Teardown of ${namespace} stopped while ${doing}: ${cause instanceof Error ? cause.message : String(cause)}\n` +
        `Left: ${left}. Run the teardown again to finish it: each of its steps is safe to repeat.`,
    );
    this.name = 'TeardownIncomplete';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export const teardown: LoopBody<'teardown'> = async (ctx) => {
  await ctx.step('tools', () => ctx.deps.installTools(['helm', 'kubectl']));
  await removePreview(ctx);
};

/** The teardown itself, also run by preview when its PR was closed during the deploy. */
export async function removePreview<L extends 'preview' | 'teardown'>(ctx: LoopContext<L>): Promise<void> {
  const { deps, names, inputs } = ctx;
  const ns = names.namespace;
  const env = names.env;
  const owned = (info: NamespaceInfo) => {
    if (!isOwnedBy(info, inputs)) throw new TeardownRefused(ns, inputs, info);
    if (!info.uid || !info.resourceVersion)
      throw new OwnershipRefused(
        `Refusing to tear down namespace ${ns}: the API server gave no UID to check. Nothing was deleted.`,
      );
  };
  await ctx.step('teardown', async () => {
    // What this run is doing and what would be left if it stopped here: the message when the API server fails.
    let doing = `checking that namespace ${ns} is ours`;
    let left = `release ${names.release} and namespace ${ns}`;
    try {
      const checked = await getNamespace(ctx, ns, 'ours');
      if (!checked.exists) {
        deps.log(`Namespace ${ns} does not exist: nothing to tear down.`);
        return;
      }
      owned(checked);
      doing = `uninstalling release ${names.release}`;
      left = `release ${names.release} (perhaps partly uninstalled) and namespace ${ns}`;
      await deps.exec.run(helm.uninstall(names.release, ns, inputs.timeoutSeconds, env));
      doing = `checking namespace ${ns} again before deleting it`;
      left = `namespace ${ns} (release ${names.release} is uninstalled)`;
      // Right before deleting, again: still ours, still the very object checked, unchanged since this look.
      let now = await getNamespace(ctx, ns, 'ours');
      for (let attempt = 1; ; attempt++) {
        if (!now.exists) {
          deps.log(`Namespace ${ns} is already gone.`);
          return;
        }
        owned(now);
        if (now.uid !== checked.uid)
          throw new OwnershipRefused(
            `Refusing to delete namespace ${ns}: it was replaced during the uninstall (UID ${checked.uid}, now ${now.uid}). Nothing more was deleted.`,
          );
        // Deleted already (by an earlier run stopped while waiting, or by the try below): only the wait is left.
        if (now.deletionTimestamp) {
          deps.log(`Namespace ${ns} is being deleted (since ${now.deletionTimestamp}).`);
          break;
        }
        doing = `deleting namespace ${ns}`;
        const command = kubectl.deleteNamespaceIf(ns, now.uid as string, now.resourceVersion as string, env);
        const deleted = await deps.exec.run(command);
        if (deleted.exitCode === 0) break;
        if (/NotFound|not found/i.test(deleted.stderr)) {
          deps.log(`Namespace ${ns} is already gone.`);
          return;
        }
        // The answer was lost, not the delete perhaps: look again (a read, retried) before another try.
        const fault = transientFault(deleted.stderr);
        if (fault && attempt < KUBE_RETRY.attempts) {
          deps.log(
            `deleting namespace ${ns} hit a transient fault (${fault}): looking again before retrying`,
          );
          now = await getNamespace(ctx, ns, 'ours');
          continue;
        }
        if (/Conflict|precondition/i.test(deleted.stderr))
          throw new OwnershipRefused(
            `Refusing to delete namespace ${ns}: it changed after the ownership check (the API server refused the delete on its UID and version). Nothing more was deleted.`,
          );
        throw new CommandError(command, deleted, attempt);
      }
      doing = `waiting for namespace ${ns} to be gone`;
      left = `namespace ${ns}, Terminating (the cluster removes it once its contents are gone)`;
      await deps.exec.run(kubectl.waitDeleted(ns, inputs.timeoutSeconds, env));
    } catch (error) {
      if (error instanceof OwnershipRefused) throw error;
      throw new TeardownIncomplete(ns, doing, left, error);
    }
  });
  const reporter = deps.reporter;
  if (reporter) await ctx.step('GitHub report (torn down)', () => reporter.reportTeardown());
}
