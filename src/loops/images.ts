/**
 * Which image each service of a preview runs, and why: this PR's `images`, else the images a companion PR built
 * (`preview-with`), else the baseline the live loop recorded (`record-baseline`). One place for the concept: the
 * preview reads it, live writes it, the PR comment and the namespace's jetscale.ai/images annotation show it.
 */
import YAML from 'yaml';
import { kubectl } from '../commands.js';
import { MANAGED_BY, Ownership } from '../constants.js';
import { describeOwner, isOwnedBy, previewNames, repositoryKey } from '../naming.js';
import { type ImageOverride, isImageRef, isRepository } from '../validate.js';
import { getNamespace } from './shared.js';
import { type LoopContext, OwnershipRefused } from './types.js';

export type ImageSource = 'pr' | 'companion' | 'baseline';

export interface ServiceImage extends ImageOverride {
  source: ImageSource;
  /** In words, for the comment: "this PR", "jetscale/backend#87", "baseline (recorded 2026-11-20T…)". */
  from: string;
}

const BASELINE_SELECTOR = `${Ownership.ManagedByLabel}=${MANAGED_BY},${Ownership.BaselineLabel}=true`;

/** The ConfigMap that holds one service's baseline. */
export function baselineName(service: string): string {
  return `baseline-${service}`;
}

/** Reads the jetscale.ai/images annotation; anything unreadable is no images. */
export function parseImagesAnnotation(text: string | undefined): ServiceImage[] {
  if (!text) return [];
  try {
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list)) return [];
    return list.filter(
      (i): i is ServiceImage =>
        typeof i?.service === 'string' && typeof i?.ref === 'string' && typeof i?.source === 'string',
    );
  } catch {
    return [];
  }
}

/**
 * Every service's image for this preview that is not built by this run. In the stack's own repository without
 * `images`, Skaffold builds every service from source (as before): nothing to resolve. Otherwise a service this
 * PR neither names in `images` nor builds from its own checkout must come from a companion PR or the baseline;
 * when neither has it, the preview stops here, before anything is created.
 */
export async function resolveImages(ctx: LoopContext<'preview'>): Promise<ServiceImage[]> {
  const { inputs, deps, names } = ctx;
  const own: ServiceImage[] = inputs.images.map((i) => ({ ...i, source: 'pr', from: 'this PR' }));
  if (own.length === 0 && ctx.build.from !== 'workspace') return [];
  const resolved = [...own];
  // Every declared service runs some image: the ones this PR does not build come from elsewhere.
  const built = ctx.build.artifacts.map((a) => a.service);
  const services = ctx.declaration.services.map((s) => s.name).filter((s) => !built.includes(s));
  const missing = () => services.filter((s) => !resolved.some((i) => i.service === s));
  // What the cluster says is read like any input: an image reference, or not used (and said so).
  const usable = (ref: string, where: string) => {
    if (isImageRef(ref)) return true;
    deps.log(`${where}: ${JSON.stringify(ref.slice(0, 200))} is not an image reference; not used.`);
    return false;
  };

  for (const c of inputs.previewWith) {
    if (missing().length === 0) break;
    const companion = `${c.repository}#${c.prNumber}`;
    const ns = previewNames({
      prNumber: c.prNumber,
      sha: 'unknown',
      repository: c.repository,
      primaryRepository: inputs.primaryRepository,
      namespacePrefix: inputs.namespacePrefix,
    }).namespace;
    const info = await getNamespace(ctx, ns);
    const owner = {
      prNumber: c.prNumber,
      repository: c.repository,
      primaryRepository: inputs.primaryRepository,
    };
    if (!info.exists) {
      deps.log(
        `preview-with ${companion}: it has no preview (namespace ${ns} does not exist); using the baseline.`,
      );
      continue;
    }
    if (!isOwnedBy(info, owner)) {
      deps.log(
        `preview-with ${companion}: namespace ${ns} belongs to ${describeOwner(info)}, not to ${companion}; its images are not used.`,
      );
      continue;
    }
    // Only what the companion built itself: its own baseline entries are no better than ours.
    const built = parseImagesAnnotation(info.annotations?.[Ownership.ImagesAnnotation]).filter(
      (i) => i.source === 'pr',
    );
    for (const i of built)
      if (missing().includes(i.service) && usable(i.ref, `preview-with ${companion}`))
        resolved.push({ service: i.service, ref: i.ref, source: 'companion', from: companion });
  }

  if (missing().length > 0) {
    const out = await deps.exec.run(
      kubectl.listConfigMaps(
        inputs.baselineNamespace,
        names.env,
        'the baseline images (for the services this PR does not build; a dry run assumes one for each)',
        BASELINE_SELECTOR,
        services.map((s) => ({
          metadata: { name: baselineName(s) },
          data: { image: `baseline.invalid/${s}:as-recorded` },
        })),
      ),
    );
    const items = out.stdout.trim()
      ? ((
          JSON.parse(out.stdout) as {
            items?: Array<{ metadata?: { name?: string }; data?: Record<string, string> }>;
          }
        ).items ?? [])
      : [];
    for (const service of missing()) {
      const cm = items.find((i) => i.metadata?.name === baselineName(service));
      const ref = cm?.data?.image;
      if (!ref || !usable(ref, `baseline ${inputs.baselineNamespace}/${baselineName(service)}`)) continue;
      // Shown in the comment: only what has the shape it should (a repository, a timestamp).
      const by = cm?.data?.repository;
      const when = cm?.data?.['recorded-at'];
      resolved.push({
        service,
        ref,
        source: 'baseline',
        from:
          `baseline${by && isRepository(by) ? ` of ${by}` : ''}` +
          `${when && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(when) ? `, recorded ${when}` : ''}`,
      });
    }
  }

  const still = missing();
  if (still.length > 0)
    throw new Error(
      `No image for ${still.map((s) => `service ${s}`).join(', ')}: the images input does not name ${still.length > 1 ? 'them' : 'it'}` +
        `${inputs.previewWith.length ? ', no preview-with pull request built it' : ''}, and namespace ${inputs.baselineNamespace} holds no baseline for ${still.length > 1 ? 'them' : 'it'}. ` +
        `Give ${still.map((s) => `${s}=<image>`).join(' and ')} in images, or record a baseline (loop: live with record-baseline: true and the images live runs). Nothing was created.`,
    );
  return resolved;
}

/**
 * live with record-baseline: writes one ConfigMap per service of `images` into the baseline namespace (created
 * when absent), after the smoke checks passed. Refuses to overwrite a ConfigMap of that name we did not create.
 */
export async function recordBaseline(ctx: LoopContext<'live'>): Promise<void> {
  const { inputs, deps, names, run } = ctx;
  const ns = inputs.baselineNamespace;
  const env = names.env;
  const recordedAt = new Date().toISOString();
  const info = await getNamespace(ctx, ns);
  const baselineNamespace = { [Ownership.ManagedByLabel]: MANAGED_BY, [Ownership.BaselineLabel]: 'true' };
  if (info.exists && Object.entries(baselineNamespace).some(([k, v]) => info.labels?.[k] !== v))
    throw new OwnershipRefused(
      `Refusing to record the baseline in namespace ${ns}: it exists and is not a baseline namespace of ours ` +
        `(labels ${JSON.stringify(info.labels ?? {})}, expected ${JSON.stringify(baselineNamespace)}). Nothing was written; ` +
        `choose another baseline-namespace, or let the live loop create it.`,
    );
  const ourKey = inputs.repository ? repositoryKey(inputs.repository) : undefined;
  const existing = info.exists
    ? ((
        JSON.parse(
          (
            await deps.exec.run(
              kubectl.listConfigMaps(ns, env, `which baseline entries exist in ${ns}, and whose`),
            )
          ).stdout || '{}',
        ) as {
          items?: Array<{ metadata: { name: string; labels?: Record<string, string> } }>;
        }
      ).items ?? [])
    : [];
  for (const i of inputs.images) {
    const found = existing.find((cm) => cm.metadata.name === baselineName(i.service));
    if (found && found.metadata.labels?.[Ownership.ManagedByLabel] !== MANAGED_BY)
      throw new OwnershipRefused(
        `Refusing to record the baseline of ${i.service}: ConfigMap ${ns}/${baselineName(i.service)} exists and is not ours (no ${Ownership.ManagedByLabel}=${MANAGED_BY} label). Nothing was written.`,
      );
    // Each repository records its own services: one repository's live run never overwrites another's entry.
    const theirs = found?.metadata.labels?.[Ownership.RepoLabel];
    if (found && theirs !== ourKey)
      throw new OwnershipRefused(
        `Refusing to record the baseline of ${i.service}: ${ns}/${baselineName(i.service)} was recorded by another repository ` +
          `(${Ownership.RepoLabel}=${theirs ?? '(none)'}; this run is ${inputs.repository ?? 'without a repository'}). Nothing was written.`,
      );
  }
  const labels = {
    [Ownership.ManagedByLabel]: MANAGED_BY,
    [Ownership.BaselineLabel]: 'true',
    ...(inputs.repository ? { [Ownership.RepoLabel]: repositoryKey(inputs.repository) } : {}),
  };
  const items: object[] = [];
  if (!info.exists) items.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } });
  for (const i of inputs.images)
    items.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: baselineName(i.service),
        namespace: ns,
        labels: { ...labels, [Ownership.ServiceLabel]: i.service },
      },
      data: {
        service: i.service,
        image: i.ref,
        source: 'live',
        url: inputs.url,
        'recorded-at': recordedAt,
        ...(inputs.sha ? { sha: inputs.sha } : {}),
        ...(inputs.repository ? { repository: inputs.repository } : {}),
        ...(run.runUrl ? { run: run.runUrl } : {}),
      },
    });
  await deps.exec.run(
    kubectl.applyFromStdin(
      YAML.stringify({ apiVersion: 'v1', kind: 'List', items }),
      env,
      `record ${inputs.images.map((i) => i.service).join(', ')} as the baseline in namespace ${ns}`,
    ),
  );
  deps.log(
    `Baseline recorded in namespace ${ns}: ${inputs.images.map((i) => `${i.service}=${i.ref}`).join(', ')}.`,
  );
}
