/**
 * sweep: removes the previews nobody will tear down. It lists the namespaces carrying our ownership labels, asks
 * GitHub for each one's PR (of the repository its labels name), and removes those whose PR is closed or merged,
 * those not deployed for longer than the TTL, and, with a cap, the longest-idle ones beyond it. Each goes through
 * the teardown's own code path (ownership checked again, deleted only if unchanged), and its PR is told why.
 * A namespace without our labels is never listed; one this run would not have named (another namespace-prefix or
 * primary-repository) is left alone. A dry run reads the cluster and GitHub, prints the plan and changes nothing.
 */
import { kubectl } from '../commands.js';
import { MANAGED_BY, Ownership } from '../constants.js';
import { isOwnedBy, namespaceFor, notOwned, previewId } from '../naming.js';
import type { TeardownInputs } from '../validate.js';
import { planNames } from './plan.js';
import type { NamespaceInfo } from './shared.js';
import { removePreview } from './teardown.js';
import type { LoopBody, LoopContext, NamesOf, PullRequestState, ReporterLike } from './types.js';

/** Every namespace that is ours: our managed-by label and a PR label (the baseline's has none). */
export const SWEEP_SELECTOR = `${Ownership.ManagedByLabel}=${MANAGED_BY},${Ownership.PrLabel}`;

/** A namespace as listed: its name and metadata. */
export interface ListedNamespace extends NamespaceInfo {
  name: string;
}

export interface SweepDecision {
  namespace: string;
  pr: number;
  /** The repository (owner/name) whose PR it is; unset for a namespace of the primary one made before repositories were recorded, when no primary-repository is given. */
  repo?: string;
  /** The commit it last deployed (its SHA annotation). */
  sha?: string;
  /** "PR closed", "idle for 3 days", "over the cap of 20"; for what is kept, why. */
  reason: string;
  /** When it last deployed (else was created); unset when neither is recorded. */
  lastDeploy?: string;
}

export interface SweepPlan {
  remove: SweepDecision[];
  keep: SweepDecision[];
}

export interface SweepOptions {
  /** Idle longer than this (since the last deploy) is removed; unset: idle previews stay. */
  ttlSeconds?: number;
  /** At most this many previews stay; unset: no cap. */
  maxPreviews?: number;
  /** The names this run gives: a namespace named otherwise is not this sweep's to remove. */
  namespacePrefix: string;
  primaryRepository?: string;
}

const LEFT_ALONE = 'left alone: ';

/** Whether a kept preview is one the cap counts: not one this sweep leaves alone (another prefix, another owner). */
export function countsTowardCap(d: SweepDecision): boolean {
  return !d.reason.startsWith(LEFT_ALONE);
}

/** The key of a PR in the states map: `owner/name#N` (lower-case). */
export function prKey(repository: string, prNumber: number): string {
  return `${repository.toLowerCase()}#${prNumber}`;
}

/**
 * Pure: which previews to remove and why, and which to keep and why. Namespaces without our labels (or with a PR
 * label that is no PR number) are in neither list. A PR whose state is unknown is never removed for it.
 */
export function planSweep(
  namespaces: readonly ListedNamespace[],
  prStates: ReadonlyMap<string, PullRequestState>,
  now: Date,
  options: SweepOptions,
): SweepPlan {
  const plan: SweepPlan = { remove: [], keep: [] };
  const candidates: Array<{ decision: SweepDecision; idleMs?: number }> = [];
  for (const ns of [...namespaces].sort((a, b) => a.name.localeCompare(b.name))) {
    const found = sweepable(ns, options);
    if (!found) continue;
    const { decision, leftAlone, last } = found;
    if (leftAlone) {
      plan.keep.push({ ...decision, reason: `${LEFT_ALONE}${leftAlone}` });
      continue;
    }
    const { pr, repo } = decision;
    const state = repo ? prStates.get(prKey(repo, pr)) : undefined;
    if (state === 'closed' || state === 'merged') {
      plan.remove.push({ ...decision, reason: `PR ${state}` });
      continue;
    }
    const idleMs = last ? now.getTime() - last.ms : undefined;
    if (options.ttlSeconds !== undefined && idleMs !== undefined && idleMs > options.ttlSeconds * 1000) {
      plan.remove.push({ ...decision, reason: `idle for ${duration(idleMs)}` });
      continue;
    }
    const open = state === 'open' ? 'PR open' : 'PR state unknown';
    candidates.push({
      decision: {
        ...decision,
        reason:
          idleMs === undefined
            ? `${open}, no deploy time recorded`
            : `${open}, deployed ${duration(idleMs)} ago`,
      },
      idleMs,
    });
  }
  // Beyond the cap, the longest idle go first (no recorded time: made before times were recorded, so the oldest).
  const idle = (c: (typeof candidates)[number]) => c.idleMs ?? Number.MAX_SAFE_INTEGER;
  const byIdle = [...candidates].sort((a, b) => idle(b) - idle(a));
  const over = options.maxPreviews === undefined ? 0 : Math.max(0, byIdle.length - options.maxPreviews);
  const evicted = new Set(byIdle.slice(0, over));
  for (const c of candidates) {
    if (evicted.has(c)) plan.remove.push({ ...c.decision, reason: `over the cap of ${options.maxPreviews}` });
    else plan.keep.push(c.decision);
  }
  return plan;
}

/**
 * What the sweep knows of one listed namespace: nothing when it lacks our labels (it is not listed at all), else
 * its decision's facts, and why it is left alone when this sweep may not remove it.
 */
function sweepable(
  ns: ListedNamespace,
  options: Pick<SweepOptions, 'namespacePrefix' | 'primaryRepository'>,
): { decision: SweepDecision; leftAlone?: string; last?: { text: string; ms: number } } | undefined {
  const labels = ns.labels ?? {};
  const prLabel = labels[Ownership.PrLabel] ?? '';
  if (labels[Ownership.ManagedByLabel] !== MANAGED_BY || !/^[1-9][0-9]{0,9}$/.test(prLabel)) return undefined;
  const pr = Number(prLabel);
  // The repository its annotation names; one made before repositories were recorded is the primary one's.
  const repo =
    ns.annotations?.[Ownership.RepositoryAnnotation]?.toLowerCase() ??
    (labels[Ownership.RepoLabel] === undefined ? options.primaryRepository?.toLowerCase() : undefined);
  const last = lastDeploy(ns);
  const sha = ns.annotations?.[Ownership.ShaAnnotation];
  const decision: SweepDecision = {
    namespace: ns.name,
    pr,
    ...(repo ? { repo } : {}),
    ...(sha ? { sha } : {}),
    reason: '',
    ...(last ? { lastDeploy: last.text } : {}),
  };
  const owner = { prNumber: pr, repository: repo, primaryRepository: options.primaryRepository };
  if (!isOwnedBy(ns, owner)) return { decision, last, leftAlone: notOwned(ns, owner) };
  const expected = namespaceFor(previewId(pr, repo, options.primaryRepository), options.namespacePrefix);
  if (expected !== ns.name)
    return {
      decision,
      last,
      leftAlone: `this sweep would name that preview ${expected} (another namespace-prefix or primary-repository made it)`,
    };
  return { decision, last };
}

/** The last deploy time, else the creation time recorded on the namespace. */
function lastDeploy(ns: ListedNamespace): { text: string; ms: number } | undefined {
  for (const key of [Ownership.LastDeployAnnotation, Ownership.CreatedAtAnnotation]) {
    const text = ns.annotations?.[key];
    const ms = text ? Date.parse(text) : Number.NaN;
    if (text && Number.isFinite(ms)) return { text, ms };
  }
  return undefined;
}

/** A duration in the largest whole unit: "3 days", "5 hours", "12 minutes". */
export function duration(ms: number): string {
  for (const [unit, size] of [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
  ] as const) {
    const n = Math.floor(ms / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'}`;
  }
  return 'less than a minute';
}

/** The plan as the log and a dry run print it. */
export function sweepLines(plan: SweepPlan, dryRun: boolean): string[] {
  const who = (d: SweepDecision) => `${d.namespace} (${d.repo ?? 'the primary repository'} PR #${d.pr})`;
  const lines = [
    `sweep: ${plan.remove.length} to remove, ${plan.keep.length} kept${dryRun ? ' (dry run: nothing is changed)' : ''}`,
  ];
  for (const d of plan.remove) lines.push(`${dryRun ? 'would remove' : 'remove'} ${who(d)}: ${d.reason}`);
  for (const d of plan.keep) lines.push(`keep ${who(d)}: ${d.reason}`);
  return lines;
}

export const sweep: LoopBody<'sweep'> = async (ctx) => {
  const { inputs, deps } = ctx;
  await ctx.step('tools', () => deps.installTools(['helm', 'kubectl']));
  const listed = await ctx.step('list previews', () => listPreviews(ctx));
  const states = await ctx.step('GitHub PR states', () => pullRequestStates(ctx, listed));
  const plan = planSweep(listed, states, deps.now?.() ?? new Date(), {
    ttlSeconds: inputs.ttlSeconds,
    maxPreviews: inputs.maxPreviews,
    namespacePrefix: inputs.namespacePrefix,
    primaryRepository: inputs.primaryRepository,
  });
  ctx.result.sweep = plan;
  for (const line of sweepLines(plan, inputs.dryRun)) deps.log(line);
  if (inputs.dryRun) return;
  // One preview that cannot be removed (changed since the check, an API error) does not keep the others.
  const failed: string[] = [];
  for (const d of plan.remove) {
    try {
      await removeOne(ctx, d);
    } catch (error) {
      failed.push(`${d.namespace}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (failed.length)
    throw new Error(
      `sweep: ${failed.length} of ${plan.remove.length} previews were not removed:\n- ${failed.join('\n- ')}`,
    );
};

/** Every namespace carrying our ownership labels (the sweep's, and the preview cap's, one listing). */
export async function listPreviews(ctx: LoopContext<'sweep' | 'preview'>): Promise<ListedNamespace[]> {
  const out = await ctx.deps.exec.run(
    kubectl.listNamespaces(SWEEP_SELECTOR, ctx.names.env, 'the namespaces carrying our ownership labels'),
  );
  if (!out.stdout.trim()) return [];
  const items = (JSON.parse(out.stdout) as { items?: Array<{ metadata?: Record<string, unknown> }> }).items;
  return (items ?? []).map(({ metadata: m = {} }) => ({
    name: String(m.name),
    exists: true,
    uid: m.uid as string | undefined,
    resourceVersion: m.resourceVersion as string | undefined,
    labels: (m.labels as Record<string, string> | undefined) ?? {},
    annotations: (m.annotations as Record<string, string> | undefined) ?? {},
  }));
}

/** Each listed PR's state, asked once per repository and PR; unknown ones are left out. */
async function pullRequestStates(
  ctx: LoopContext<'sweep'>,
  listed: readonly ListedNamespace[],
): Promise<Map<string, PullRequestState>> {
  const states = new Map<string, PullRequestState>();
  const github = ctx.deps.github;
  if (!github) {
    ctx.deps.log('sweep: no GitHub access (github-token): no preview is removed for its PR being closed.');
    return states;
  }
  // Only the previews this sweep may remove are asked about, each PR once.
  for (const ns of listed) {
    const found = sweepable(ns, ctx.inputs);
    const repo = found?.decision.repo;
    if (!found || found.leftAlone || !repo || states.has(prKey(repo, found.decision.pr))) continue;
    const state = await github.pullRequestState(repo, found.decision.pr);
    if (state) states.set(prKey(repo, found.decision.pr), state);
  }
  return states;
}

/** One preview, removed by the teardown's own code path, as a teardown of its PR would; its PR is told d.reason. */
export async function removeOne(ctx: LoopContext<'sweep' | 'preview'>, d: SweepDecision): Promise<void> {
  const inputs: TeardownInputs = {
    ...ctx.inputs,
    loop: 'teardown',
    prNumber: d.pr,
    repository: d.repo,
    sha: d.sha && /^[0-9a-f]{7,40}$/i.test(d.sha) ? d.sha.toLowerCase() : ctx.inputs.sha,
  };
  const names = planNames(inputs, ctx.run) as NamesOf<'teardown'>;
  // planSweep only removes what this run would name so; a mismatch here would tear down something else.
  if (names.namespace !== d.namespace)
    throw new Error(
      `derived namespace ${names.namespace} is not the one planned (${d.namespace}); left alone`,
    );
  const reporter =
    d.repo && inputs.sha
      ? ctx.deps.github?.reporter({ repository: d.repo, prNumber: d.pr, sha: inputs.sha })
      : undefined;
  const told: ReporterLike | undefined = reporter && {
    reportDeploy: (a) => reporter.reportDeploy(a),
    reportTeardown: () => reporter.reportTeardown(d.reason),
    isPullRequestOpen: () => reporter.isPullRequestOpen(),
  };
  ctx.deps.log(`removing ${d.namespace}: ${d.reason}`);
  await removePreview<'teardown'>({
    ...ctx,
    inputs,
    names,
    deps: { ...ctx.deps, reporter: told },
    step: (name, fn) => ctx.step(`${name} ${d.namespace}`, fn),
  });
}
