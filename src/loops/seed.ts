/**
 * A preview's seed (services.<name>.seed; charts/app README "services.<name>.seed"): the data a new preview starts
 * with. The deploy that finds the namespace without jetscale.ai/seeded-at (a new preview, or one whose seed never
 * completed), or that is asked to reseed, renders the seed Jobs (global.seed). The step "seed" waits for them
 * beside "ready", then records the time on the namespace, so a redeploy leaves the data alone.
 */
import { kubectl } from '../commands.js';
import { Ownership } from '../constants.js';
import { parseJobs } from '../diagnostics.js';
import { rfc3339 } from '../naming.js';
import { getNamespace, type NamespaceInfo, waitJobs, waitReady } from './shared.js';
import type { LoopContext } from './types.js';

type Ctx = LoopContext<'preview'>;

/** Whether this deploy seeds: a service seeds in previews, and the preview was never seeded or a reseed is asked. */
export function wantsSeed(ctx: Ctx, info: NamespaceInfo): boolean {
  const services = ctx.declaration.services
    .filter((s) => s.seed?.stages.includes('preview'))
    .map((s) => s.name);
  if (services.length === 0) return false;
  const seededAt = info.annotations?.[Ownership.SeededAnnotation];
  const why = ctx.inputs.reseed
    ? 'reseed asked'
    : !info.exists
      ? 'a new preview'
      : !seededAt
        ? 'no seed of this preview completed yet'
        : undefined;
  ctx.deps.log(
    why
      ? `seed: ${services.join(', ')} in this deploy (${why})`
      : `seed: not run, the preview was seeded at ${seededAt} (reseed: true, or the preview-reseed label, seeds again)`,
  );
  return why !== undefined;
}

/** Our seed Jobs in the release (the chart's labels on them). */
async function seedJobs(ctx: Ctx, ns: string, why: string, assume: string[] = []) {
  const { release, env } = ctx.names;
  return parseJobs(
    (await ctx.deps.exec.run(kubectl.migrationJobs(release, ns, env, 'seed', why, assume))).stdout,
  );
}

/**
 * Before a seeding deploy: our earlier seed Jobs are removed, or one with the same pod template (so the same name)
 * would stand Complete (or Failed) and the deploy would not run it again.
 */
export async function removeSeedJobs(ctx: Ctx, ns: string): Promise<void> {
  for (const job of await seedJobs(
    ctx,
    ns,
    'seed Jobs left by an earlier seed (removed: this deploy seeds again)',
  ))
    await ctx.deps.exec.run(
      kubectl.deleteJob(
        job.name,
        ns,
        ctx.names.env,
        `remove the earlier seed ${job.name}: the deploy seeds again`,
      ),
    );
}

/**
 * "ready", and when this deploy seeds, "seed" beside it (its own time in the summary): the seed Jobs waited like
 * migrations (a failed one fails the run with its last log lines), then the time recorded on the namespace. The
 * first failure in that order is thrown, after both ended.
 */
export async function readyAndSeed(ctx: Ctx, ns: string, seeding: boolean): Promise<void> {
  if (!seeding) {
    await ctx.step('ready', () => waitReady(ctx, ns));
    return;
  }
  const settled = await Promise.allSettled([
    ctx.step('ready', () => waitReady(ctx, ns, { seeds: false })),
    ctx.step('seed', () => seed(ctx, ns)),
  ]);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function seed(ctx: Ctx, ns: string): Promise<void> {
  const jobs = await seedJobs(ctx, ns, 'the seed Jobs this deploy created', ['<each>']);
  if (jobs.length === 0) {
    // The values turned it off (global.seed set false, or no stage matches): nothing ran, nothing is recorded.
    ctx.deps.log(
      'seed: the release has no seed Job (the values render none); the preview is not marked seeded',
    );
    return;
  }
  await waitJobs(
    ctx,
    ns,
    jobs.map((j) => j.name),
  );
  const info = await getNamespace(ctx, ns, 'ours');
  await ctx.deps.exec.run(
    kubectl.patchNamespace(
      ns,
      {
        annotations: { [Ownership.SeededAnnotation]: rfc3339(ctx.deps.now?.() ?? new Date()) },
        resourceVersion: info.resourceVersion ?? '',
      },
      ctx.names.env,
      'record that the preview is seeded: a redeploy does not seed again',
    ),
  );
}
