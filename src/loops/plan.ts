/**
 * Pure: every name a loop uses (derived from the inputs and the run), the values file it hands Skaffold, and the
 * plan header a dry run prints.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import type { RunContext } from '../context.js';
import type { DeclaredService } from '../declaration.js';
import {
  CI_NAMESPACE,
  CI_RELEASE,
  ciLabels,
  kindClusterName,
  LIVE_NAMESPACE,
  LIVE_RELEASE,
  previewNames,
} from '../naming.js';
import type { ActionInputs, PreviewInputs, TeardownInputs } from '../validate.js';
import type { PlanNames } from './types.js';

/** Derives every name a loop uses, without side effects. */
export function planNames(inputs: ActionInputs, ctx: RunContext): PlanNames {
  const base = { prNumber: inputs.prNumber, sha: inputs.sha, tools: inputs.tools };
  const valuesFile = valuesFileFor(inputs, ctx);
  const kubeconfig = kubeconfigPath(inputs, ctx);
  const withKubeconfig = (env: Record<string, string>) =>
    kubeconfig ? { ...env, KUBECONFIG: kubeconfig } : env;
  const sha = inputs.sha ?? 'unknown';
  switch (inputs.loop) {
    case 'ci-kind': {
      const cluster = kindClusterName(ctx.runId, ctx.runAttempt, ctx.instance);
      return {
        ...base,
        loop: inputs.loop,
        cluster,
        kubeContext: `kind-${cluster}`,
        namespace: CI_NAMESPACE,
        release: CI_RELEASE,
        labels: ciLabels(),
        env: {
          KUBECONFIG: join(ctx.tempDir, `${cluster}.kubeconfig`),
          JETSCALE_RELEASE: CI_RELEASE,
          JETSCALE_HOST: '',
          JETSCALE_SHA: sha,
          JETSCALE_VALUES_FILE: valuesFile,
        },
      };
    }
    case 'preview':
      return { ...base, ...pullRequestNames(inputs, ctx, withKubeconfig), loop: inputs.loop };
    case 'teardown':
      return { ...base, ...pullRequestNames(inputs, ctx, withKubeconfig), loop: inputs.loop };
    case 'live':
      return { ...base, loop: inputs.loop, url: inputs.url, release: LIVE_RELEASE, env: withKubeconfig({}) };
    case 'sweep':
      return { ...base, loop: inputs.loop, env: withKubeconfig({}) };
    case 'deploy-live':
      return {
        ...base,
        loop: inputs.loop,
        url: inputs.url,
        namespace: LIVE_NAMESPACE,
        release: LIVE_RELEASE,
        kubeContext: inputs.kubeContext,
        host: new URL(inputs.url).hostname,
        env: withKubeconfig({
          JETSCALE_RELEASE: LIVE_RELEASE,
          JETSCALE_HOST: new URL(inputs.url).hostname,
          JETSCALE_SHA: sha,
          JETSCALE_VALUES_FILE: valuesFile,
        }),
      };
  }
}

/** A pull request's names (preview and teardown derive the same ones). */
function pullRequestNames(
  inputs: PreviewInputs | TeardownInputs,
  ctx: RunContext,
  withKubeconfig: (env: Record<string, string>) => Record<string, string>,
) {
  const sha = inputs.sha ?? 'unknown';
  const n = previewNames({
    prNumber: inputs.prNumber,
    sha,
    namespacePrefix: inputs.namespacePrefix,
    baseDomain: inputs.baseDomain,
    repository: inputs.repository,
    primaryRepository: inputs.primaryRepository,
    run: ctx.runUrl ?? ctx.runId,
  });
  return {
    ...n,
    prNumber: inputs.prNumber,
    url: inputs.url ?? n.url,
    env: withKubeconfig({
      JETSCALE_RELEASE: n.release,
      JETSCALE_HOST: n.host,
      JETSCALE_SHA: sha,
      // Teardown deploys nothing: it gets no values file (a bad one must never block a teardown).
      ...(inputs.loop === 'preview' ? { JETSCALE_VALUES_FILE: valuesFileFor(inputs, ctx) } : {}),
    }),
  };
}

/** The generated values file a deploying loop hands Skaffold (JETSCALE_VALUES_FILE). */
function valuesFileFor(inputs: ActionInputs, ctx: RunContext): string {
  return join(ctx.tempDir, `values-${inputs.loop}.yaml`);
}

function kubeconfigPath(inputs: ActionInputs, ctx: RunContext): string | undefined {
  if (inputs.kubeconfig?.content !== undefined) return join(ctx.tempDir, 'kubeconfig');
  return inputs.kubeconfig?.path === undefined ? undefined : resolve(ctx.workspace, inputs.kubeconfig.path);
}

type Values = Record<string, unknown>;

/**
 * The values file the action hands Skaffold: the `values` files merged in order, then `set` entries. Objects
 * have no prototype and keys are own properties only, so no key reaches JavaScript object internals.
 */
export function extraValues(inputs: Pick<ActionInputs, 'values' | 'set'>): Values {
  let merged: Values = Object.create(null);
  for (const file of inputs.values) {
    const doc = YAML.parse(readFileSync(file, 'utf8')) ?? {};
    if (typeof doc !== 'object' || Array.isArray(doc))
      throw new Error(`Values file ${file} is not a YAML mapping.`);
    merged = deepMerge(merged, doc as Values);
  }
  for (const { key, value } of inputs.set) {
    const path = key.split('.');
    let node = merged;
    for (const part of path.slice(0, -1)) {
      const next = Object.hasOwn(node, part) ? node[part] : undefined;
      if (!isMapping(next)) node[part] = Object.create(null);
      node = node[part] as Values;
    }
    node[path[path.length - 1] as string] = scalar(value);
  }
  return merged;
}

/**
 * The values file the action writes: what the action itself sets, then extraValues over it (the user has the last
 * word), then each service's image: an `images` line, or an image this run builds (Skaffold sets those through
 * setValueTemplates), runs even where the values declare another repository, tag or digest. The owner labels (a preview's PR and repository; managed-by stays Helm's) go on every object the chart
 * makes, so a listing by repository and PR finds them. The Deployments' progress deadline is the timeout input, so a pod that never becomes ready fails the
 * deploy (Skaffold's status check stops there) when the user said, not after Kubernetes' default 10 minutes.
 */
export function chartValues(
  inputs: Pick<ActionInputs, 'values' | 'set' | 'timeoutSeconds'> & Partial<Pick<ActionInputs, 'images'>>,
  ownerLabels: Record<string, string> = {},
  run: {
    built?: readonly string[];
    declared?: readonly Pick<DeclaredService, 'name' | 'imageDigest'>[];
    /** This deploy runs the services' seeds (global.seed; src/loops/seed.ts). */
    seed?: boolean;
  } = {},
): Values {
  const own: Values = Object.assign(Object.create(null), {
    global: Object.assign(Object.create(null), {
      progressDeadlineSeconds: inputs.timeoutSeconds,
      ...(Object.keys(ownerLabels).length ? { ownerLabels } : {}),
      ...(run.seed ? { seed: true } : {}),
    }),
  });
  const extra = extraValues(inputs);
  // A digest wins over a tag in the chart: one the values declare is cleared, or it would run instead.
  const declaredDigest = (service: string) => {
    const fromExtra = mapping(mapping(mapping(extra.services)[service]).image).digest;
    return Boolean(fromExtra || run.declared?.find((s) => s.name === service)?.imageDigest);
  };
  const images: Values = Object.create(null);
  // Skaffold's setValueTemplates set the image of what it builds only; every `images` line goes into the values,
  // so a service the team declared runs the image given for it.
  for (const i of inputs.images ?? []) {
    const image: Values = imageValues(i.ref);
    if (image.digest === undefined && declaredDigest(i.service)) image.digest = '';
    images[i.service] = { image };
  }
  for (const service of run.built ?? [])
    if (declaredDigest(service) && !images[service]) images[service] = { image: { digest: '' } };
  const values = deepMerge(own, extra);
  return Object.keys(images).length ? deepMerge(values, { services: images }) : values;
}

function mapping(v: unknown): Values {
  return isMapping(v) ? v : {};
}

/** An image reference as the chart's image values: repository, and tag or digest (a digest wins in the chart). */
export function imageValues(ref: string): { repository: string; tag?: string; digest?: string } {
  const [nameTag, digest] = ref.split('@', 2) as [string, string | undefined];
  const colon = nameTag.lastIndexOf(':');
  const hasTag = colon > nameTag.lastIndexOf('/');
  return {
    repository: hasTag ? nameTag.slice(0, colon) : nameTag,
    ...(hasTag ? { tag: nameTag.slice(colon + 1) } : {}),
    ...(digest ? { digest } : {}),
  };
}

function isMapping(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scalar(value: string): unknown {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (value === 'null') return null;
  if (/^-?(0|[1-9][0-9]{0,14})$/.test(value)) return Number(value);
  return value;
}

function deepMerge(a: Values, b: Values): Values {
  const out: Values = Object.assign(Object.create(null), a);
  for (const [k, v] of Object.entries(b)) {
    const prev = Object.hasOwn(out, k) ? out[k] : undefined;
    out[k] = isMapping(prev) && isMapping(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

/** The names a dry run prints before its commands. */
export function planHeader(names: PlanNames): string[] {
  const lines = [`# plan for loop ${names.loop} (dry run: nothing is executed)`];
  for (const key of [
    'prNumber',
    'sha',
    'namespace',
    'host',
    'url',
    'release',
    'environment',
    'imageTag',
    'cluster',
    'kubeContext',
  ] as const) {
    if (names[key] !== undefined) lines.push(`#   ${key}: ${names[key]}`);
  }
  if (names.labels)
    lines.push(
      `#   labels: ${Object.entries(names.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  const env = Object.entries(names.env).map(([k, v]) => `${k}=${v}`);
  lines.push(`#   environment of commands: ${env.join(' ') || '(none)'}`);
  return lines;
}
