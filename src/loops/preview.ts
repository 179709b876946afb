/**
 * preview: the images each service runs (this PR's, a companion PR's, the baseline), the PR's own namespace
 * (created with our ownership labels for this repository and PR, or refused when anyone else holds the name),
 * deploy, wait, contract checks through the preview's URL, and the PR told how it went — on failure, with the
 * first reason. A PR closed while this ran is torn down again, so no preview outlives its PR.
 */
import { kubectl } from '../commands.js';
import { Ownership } from '../constants.js';
import { isOwnedBy, notOwned, rfc3339 } from '../naming.js';
import { formatTtl } from '../validate.js';
import { deployCommand } from './build.js';
import { resolveImages, type ServiceImage } from './images.js';
import { readyAndSeed, removeSeedJobs, wantsSeed } from './seed.js';
import {
  contract,
  firstFailure,
  getNamespace,
  type NamespaceInfo,
  namespaceManifest,
  publicFailure,
  retryFailedMigrations,
  runTestCommand,
  withDiagnostics,
  writeValuesFile,
} from './shared.js';
import {
  countsTowardCap,
  duration,
  listPreviews,
  planSweep,
  removeOne,
  type SweepDecision,
} from './sweep.js';
import { removePreview } from './teardown.js';
import { type LoopBody, type LoopContext, OwnershipRefused } from './types.js';

export const preview: LoopBody<'preview'> = async (ctx) => {
  const { inputs, names, deps } = ctx;
  const ns = names.namespace;
  const env = names.env;
  let images: ServiceImage[] = [];
  // The time this deploy records on the namespace, which the sweep's TTL and the comment's expiry count from.
  const deployedAt = deps.now?.() ?? new Date();
  const report = async (
    status: 'success' | 'failure' | 'in_progress',
    failure?: { details: string; reason: string },
  ) => {
    const reporter = deps.reporter;
    // A step of its own, so the job summary and the benchmark show what reporting costs.
    if (reporter)
      await ctx.step(`GitHub report (${status.replace('_', ' ')})`, () =>
        reporter.reportDeploy({
          url: names.url,
          namespace: ns,
          host: names.host,
          status,
          details: failure?.details,
          reason: failure?.reason,
          images,
          ...(status !== 'failure' && inputs.ttlSeconds !== undefined
            ? {
                expires: {
                  at: rfc3339(new Date(deployedAt.getTime() + inputs.ttlSeconds * 1000)),
                  ttl: formatTtl(inputs.ttlSeconds),
                },
              }
            : {}),
        }),
      );
  };
  await ctx.step('tools', () => deps.installTools(['helm', 'skaffold', 'kubectl']));
  try {
    let seeding = false;
    await withDiagnostics(ctx, { namespace: ns }, async () => {
      await ctx.step('namespace', async () => {
        const ours = (info: NamespaceInfo) => {
          if (info.exists && !isOwnedBy(info, inputs))
            throw new OwnershipRefused(
              `Refusing to deploy into namespace ${ns}: ${notOwned(info, inputs)}. ` +
                `Nothing was changed. Repositories sharing a cluster must agree on primary-repository (this run's is ` +
                `${inputs.primaryRepository ?? 'unset'}); otherwise choose another namespace-prefix.`,
            );
          return info;
        };
        let info = ours(await getNamespace(ctx, ns));
        // The old preview's namespace still being deleted (a PR closed and re-opened): nothing goes into it.
        if (info.deletionTimestamp) info = ours(await untilGone(ctx, info));
        if (!info.exists && inputs.maxPreviews !== undefined)
          await ctx.step('preview cap', () => makeRoom(ctx));
        images = await resolveImages(ctx);
        seeding = wantsSeed(ctx, info);
        writeValuesFile(ctx, images.length ? images : inputs.images, seeding);
        // Every deploy (every push) records its time: the sweep's TTL counts from the last one.
        const recorded = {
          ...(images.length ? { [Ownership.ImagesAnnotation]: JSON.stringify(images) } : {}),
          [Ownership.LastDeployAnnotation]: rfc3339(deployedAt),
        };
        await report('in_progress');
        if (!info.exists)
          await deps.exec.run(
            kubectl.createFromStdin(
              namespaceManifest(ns, names.labels, { ...names.annotations, ...recorded }),
              env,
              `namespace ${ns} with our ownership labels`,
            ),
          );
        else {
          // Ours already. One patch, on the version just checked: a namespace made before repositories were
          // recorded gains the repository's labels and annotation together, never one without the other.
          const adopt = Boolean(names.labels[Ownership.RepoLabel] && !info.labels?.[Ownership.RepoLabel]);
          const repository = names.annotations[Ownership.RepositoryAnnotation];
          await deps.exec.run(
            kubectl.patchNamespace(
              ns,
              {
                ...(adopt ? { labels: names.labels } : {}),
                annotations: {
                  [Ownership.ShaAnnotation]: inputs.sha ?? 'unknown',
                  ...(repository ? { [Ownership.RepositoryAnnotation]: repository } : {}),
                  ...recorded,
                },
                resourceVersion: info.resourceVersion ?? '',
              },
              env,
              adopt
                ? 'record the repository that owns it, the SHA and the images now deployed'
                : 'record the SHA and images now deployed',
            ),
          );
        }
      });
      await ctx.step('deploy', async () => {
        await retryFailedMigrations(ctx, names.release, ns);
        if (seeding) await removeSeedJobs(ctx, ns);
        await deps.exec.run(
          deployCommand(ctx, {
            profile: 'preview',
            namespace: ns,
            images: images.length ? images : inputs.images,
            statusCheck: false,
          }),
        );
      });
      await readyAndSeed(ctx, ns, seeding);
      await ctx.step('contract checks', async () => {
        await contract(ctx, {
          target: { url: names.url },
          mode: 'full',
          deadlineMs: Math.min(inputs.timeoutSeconds, 180) * 1000,
          expectedSha: inputs.sha,
          resolve: inputs.resolve,
        });
        await runTestCommand(ctx, { ...env, JETSCALE_URL: names.url });
      });
    });
  } catch (error) {
    await report('failure', { details: publicFailure(error), reason: firstFailure(ctx, error) });
    throw error;
  }
  const reporter = deps.reporter;
  const open = reporter && (await ctx.step('GitHub PR state', () => reporter.isPullRequestOpen()));
  if (open === false) {
    deps.log(`PR #${inputs.prNumber} was closed during the deploy: tearing the preview down again.`);
    await removePreview(ctx);
    ctx.result.tornDownAfterClose = true;
    return;
  }
  await report('success');
};

/** How long a preview waits at most for its old namespace to finish Terminating (less when `timeout` is less). */
export const TERMINATING_WAIT_SECONDS = 300;

/** The preview's old namespace stayed Terminating past the wait: nothing was created. */
export class NamespaceStillTerminating extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NamespaceStillTerminating';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/**
 * Waits (bounded) until the Terminating namespace is gone, and returns what is there then: nothing, or a new
 * namespace someone made meanwhile (the caller checks whose). Throws NamespaceStillTerminating, naming what holds it.
 */
async function untilGone(ctx: LoopContext<'preview'>, old: NamespaceInfo): Promise<NamespaceInfo> {
  const { inputs, names, deps } = ctx;
  const ns = names.namespace;
  const bound = Math.min(inputs.timeoutSeconds, TERMINATING_WAIT_SECONDS);
  deps.log(
    `Namespace ${ns} is still being deleted (Terminating since ${old.deletionTimestamp}): waiting up to ${bound} s ` +
      `for it to be gone before creating it again.`,
  );
  const t0 = Date.now();
  await deps.exec.run(
    kubectl.waitDeleted(
      ns,
      bound,
      names.env,
      `until the old namespace ${ns} is gone (at most ${bound} s)`,
      true,
    ),
  );
  const now = await getNamespace(ctx, ns);
  if (now.exists && now.uid === old.uid) {
    const holding = now.holding?.length ? ` What holds it: ${now.holding.join('; ')}.` : '';
    throw new NamespaceStillTerminating(
      `Namespace ${ns} is still Terminating after waiting ${bound} s (its deletion started at ${old.deletionTimestamp}).` +
        `${holding} Nothing was created: run the preview again once the namespace is gone.`,
    );
  }
  deps.log(`Namespace ${ns} is gone after ${Math.round((Date.now() - t0) / 1000)} s.`);
  return now;
}

/** A new preview beyond max-previews is refused (before anything is created) or evicts the longest idle ones. */
export class PreviewCapReached extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PreviewCapReached';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/**
 * Room for one more preview under max-previews, counted as the sweep counts (planSweep, one preview fewer, so the
 * new one fits): over-cap fail refuses, naming the previews holding the cap; evict removes the longest idle ones
 * through the teardown's path, each PR told why. Only a new preview comes here: a redeploy holds its place already.
 */
async function makeRoom(ctx: LoopContext<'preview'>): Promise<void> {
  const { inputs, names, deps } = ctx;
  const max = inputs.maxPreviews as number;
  const now = deps.now?.() ?? new Date();
  const listed = await listPreviews(ctx);
  // PR states and the TTL are the sweep's business: here only the count and who has been idle longest.
  const plan = planSweep(listed, new Map(), now, {
    maxPreviews: max - 1,
    namespacePrefix: inputs.namespacePrefix,
    primaryRepository: inputs.primaryRepository,
  });
  if (plan.remove.length === 0) return;
  const repository = inputs.repository ?? names.annotations[Ownership.RepositoryAnnotation];
  const self = `${repository ?? 'the primary repository'}#${inputs.prNumber}`;
  if (inputs.overCap === 'fail') {
    const holders = [...plan.remove, ...plan.keep.filter(countsTowardCap)].sort((a, b) =>
      a.namespace.localeCompare(b.namespace),
    );
    const idle = (d: SweepDecision) => {
      const ms = d.lastDeploy ? Date.parse(d.lastDeploy) : Number.NaN;
      return Number.isFinite(ms) ? `idle for ${duration(now.getTime() - ms)}` : 'no deploy time recorded';
    };
    throw new PreviewCapReached(
      `The cap of ${max} previews (max-previews) is reached: ${holders.length} previews hold it, so the preview of ` +
        `${self} (${names.namespace}) is not created (over-cap: fail). Nothing was created.\n` +
        holders
          .map((d) => `- ${d.namespace}: ${d.repo ?? 'the primary repository'} PR #${d.pr}, ${idle(d)}`)
          .join('\n') +
        `\nClose one of their PRs or run the sweep, raise max-previews, or set over-cap: evict.`,
    );
  }
  // One that cannot be removed stops the deploy: the cap holds either way.
  for (const d of plan.remove)
    await removeOne(ctx, { ...d, reason: `over the cap of ${max}, to make room for ${self}` });
}
