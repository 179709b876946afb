/**
 * teardown: removes a PR's preview, only when the namespace carries our ownership labels for that PR, and
 * deletes the namespace only if it is still the very object that was checked (its UID and resourceVersion, as
 * API preconditions), checked again right before the delete.
 */
import { helm, kubectl } from '../commands.js';
import { CommandError } from '../executor.js';
import { isOwnedBy, notOwned, type ObjectMeta, type Owner } from '../naming.js';
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
    const checked = await getNamespace(ctx, ns, 'ours');
    if (!checked.exists) {
      deps.log(`Namespace ${ns} does not exist: nothing to tear down.`);
      return;
    }
    owned(checked);
    await deps.exec.run(helm.uninstall(names.release, ns, inputs.timeoutSeconds, env));
    // Right before deleting, again: still ours, still the very object checked, unchanged since this look.
    const now = await getNamespace(ctx, ns, 'ours');
    if (!now.exists) {
      deps.log(`Namespace ${ns} is already gone.`);
      return;
    }
    owned(now);
    if (now.uid !== checked.uid)
      throw new OwnershipRefused(
        `Refusing to delete namespace ${ns}: it was replaced during the uninstall (UID ${checked.uid}, now ${now.uid}). Nothing more was deleted.`,
      );
    const command = kubectl.deleteNamespaceIf(ns, now.uid as string, now.resourceVersion as string, env);
    const deleted = await deps.exec.run(command);
    if (deleted.exitCode !== 0) {
      if (/NotFound|not found/i.test(deleted.stderr)) deps.log(`Namespace ${ns} is already gone.`);
      else if (/Conflict|precondition/i.test(deleted.stderr))
        throw new OwnershipRefused(
          `Refusing to delete namespace ${ns}: it changed after the ownership check (the API server refused the delete on its UID and version). Nothing more was deleted.`,
        );
      else throw new CommandError(command, deleted);
    }
    await deps.exec.run(kubectl.waitDeleted(ns, inputs.timeoutSeconds, env));
  });
  const reporter = deps.reporter;
  if (reporter) await ctx.step('GitHub report (torn down)', () => reporter.reportTeardown());
}
