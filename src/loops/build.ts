/**
 * What a deploying loop builds, and the Skaffold file it runs: one place for both. The committed skaffold.yaml
 * names the example services' contexts relative to the stack; a run builds from the declaration instead
 * (services.<n>.build), so it writes its own Skaffold file with absolute contexts. Skaffold cannot template a
 * build context, so this is the only way to build a checkout outside the stack directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import YAML from 'yaml';
import { type SkaffoldDeploy, skaffoldDeploy } from '../commands.js';
import type { AnyLoop } from '../constants.js';
import type { RunContext } from '../context.js';
import { type Declaration, isMapping } from '../declaration.js';
import type { Command } from '../executor.js';
import type { ImageOverride } from '../validate.js';
import type { LoopContext } from './types.js';

export interface BuildArtifact {
  service: string;
  /** Absolute: the checkout that holds the sources, joined with build.context. */
  context: string;
  dockerfile: string;
  target?: string;
}

/**
 * Where a run's images come from: `images` (nothing is built), the calling repository's own checkout (its
 * services only; the rest as images from elsewhere), or the stack's checkout (every declared build context).
 */
export interface BuildPlan {
  from: 'images' | 'workspace' | 'stack';
  artifacts: BuildArtifact[];
}

/** Refused before anything is created: a repository's run that can neither build nor deploy given images. */
export class BuildRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildRefused';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** A checkout of a stack (this repository or a fork): it holds skaffold.yaml and the chart. */
function isStackCheckout(dir: string): boolean {
  return existsSync(join(dir, 'skaffold.yaml')) && existsSync(join(dir, 'charts', 'app', 'values.yaml'));
}

/**
 * Which services this run builds, from where: the services whose build.repository is the calling repository and
 * that no images line names, from its checkout (GITHUB_WORKSPACE), never the bundled example; else, with `images`,
 * none; else
 * in the stack's own repository (or with no repository, as the CLI on a laptop), every declared build context
 * from the stack directory, as before. Any other repository is refused: it would deploy the examples.
 */
export function planBuild(
  inputs: { images: ImageOverride[]; repository?: string },
  run: Pick<RunContext, 'workspace' | 'stackDir'>,
  declaration: Declaration,
): BuildPlan {
  const repository = inputs.repository?.toLowerCase();
  const given = new Set(inputs.images.map((i) => i.service));
  // The calling repository's own services, unless an images line names them: `images` may bring the others.
  const own = declaration.services.filter(
    (s) => repository && s.build?.repository === repository && !given.has(s.name),
  );
  const artifact = (root: string, s: (typeof own)[number]): BuildArtifact => {
    const b = s.build as NonNullable<typeof s.build>;
    return { service: s.name, context: resolve(root, b.context), dockerfile: b.dockerfile, target: b.target };
  };
  if (own.length > 0) {
    const artifacts = own.map((s) => artifact(run.workspace, s));
    for (const a of artifacts)
      if (!existsSync(a.context))
        throw new BuildRefused(
          `services.${a.service}.build.context is ${JSON.stringify(own.find((s) => s.name === a.service)?.build?.context)}, ` +
            `which is not in ${repository}'s checkout (${a.context} does not exist); accepted: a directory of the checkout, ` +
            'relative to its root (check out the repository before the action). Nothing was created.',
        );
    return { from: 'workspace', artifacts };
  }
  if (given.size > 0) return { from: 'images', artifacts: [] };
  if (!repository || isStackCheckout(run.workspace))
    return {
      from: 'stack',
      // a service whose build.repository names another repository has its context in THAT checkout: not here
      artifacts: declaration.services
        .filter((s) => s.build && !s.build.repository)
        .map((s) => artifact(run.stackDir, s)),
    };
  throw new BuildRefused(
    `${repository} declares no service (services.<n>.build.repository); give images, or set build.repository on your service ` +
      `(declared: ${declaration.services.map((s) => `${s.name} → ${s.build?.repository ?? 'the stack'}`).join(', ') || 'none'}). Nothing was created.`,
  );
}

type Doc = Record<string, unknown>;

/** Skaffold's template key of an image name: "/", "-" and "." become "_" (SanitizeHelmTemplateValue). */
const templateKey = (image: string) => image.replace(/[/.-]/g, '_');

/** A path of the stack's skaffold.yaml (plain, or the quoted defaults of a template) made absolute. */
function absolute(stackDir: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (value.includes('{{'))
    return value.replace(/"([^"{}\s]+\/[^"{}\s]+)"/g, (m, p: string) =>
      isAbsolute(p) ? m : `"${join(stackDir, p)}"`,
    );
  return isAbsolute(value) ? value : join(stackDir, value);
}

/**
 * The run's Skaffold file: the stack's skaffold.yaml with the planned artifacts (absolute contexts), each one's
 * image set through setValueTemplates, the chart and values files as absolute paths, and without the laptop
 * profiles that patch the committed artifacts (siblings, local-kind).
 */
export function runSkaffoldConfig(stackDir: string, plan: BuildPlan): Doc {
  const doc = YAML.parse(readFileSync(join(stackDir, 'skaffold.yaml'), 'utf8')) as Doc;
  const build = isMapping(doc.build) ? doc.build : {};
  doc.build = {
    ...build,
    artifacts: plan.artifacts.map((a) => ({
      image: a.service,
      context: a.context,
      docker: { dockerfile: a.dockerfile, ...(a.target ? { target: a.target } : {}) },
    })),
  };
  const deploy = isMapping(doc.deploy) ? doc.deploy : {};
  const helm = isMapping(deploy.helm) ? deploy.helm : {};
  const releases = Array.isArray(helm.releases) ? (helm.releases as Doc[]) : [];
  for (const r of releases) {
    if (r.chartPath !== undefined) r.chartPath = absolute(stackDir, r.chartPath);
    if (Array.isArray(r.valuesFiles)) r.valuesFiles = r.valuesFiles.map((v) => absolute(stackDir, v));
    const templates = isMapping(r.setValueTemplates) ? r.setValueTemplates : {};
    const kept = Object.entries(templates).filter(([k]) => !/^services\.[^.]+\.image\./.test(k));
    const images = plan.artifacts.flatMap((a) => {
      const key = templateKey(a.service);
      return [
        [`services.${a.service}.image.repository`, `{{.IMAGE_REPO_${key}}}`],
        [`services.${a.service}.image.tag`, `{{.IMAGE_TAG_${key}}}@{{.IMAGE_DIGEST_${key}}}`],
      ];
    });
    r.setValueTemplates = Object.fromEntries([...images, ...kept]);
  }
  const profiles = Array.isArray(doc.profiles) ? (doc.profiles as Doc[]) : [];
  doc.profiles = profiles
    .filter((p) => {
      const patches = Array.isArray(p.patches) ? (p.patches as Doc[]) : [];
      return !patches.some((x) => String(x.path).startsWith('/build'));
    })
    .map((p) => ({
      ...p,
      patches: ((p.patches as Doc[] | undefined) ?? []).map((x) =>
        /\/(valuesFiles|chartPath)$/.test(String(x.path))
          ? {
              ...x,
              value: Array.isArray(x.value)
                ? x.value.map((v) => absolute(stackDir, v))
                : absolute(stackDir, x.value),
            }
          : x,
      ),
    }));
  return doc;
}

/** Where a loop's Skaffold file is written: its private temp dir. */
export function skaffoldFilePath(run: Pick<RunContext, 'tempDir'>, loop: AnyLoop): string {
  return join(run.tempDir, `skaffold-${loop}.yaml`);
}

/**
 * Writes the run's Skaffold file and gives the command that deploys with it: `skaffold run` when it builds
 * something (the images of the services it does not build are in the values file), else `skaffold deploy` of the
 * given and resolved images.
 */
export function deployCommand<L extends AnyLoop>(
  ctx: LoopContext<L>,
  a: Omit<SkaffoldDeploy, 'stackDir' | 'file' | 'env'>,
): Command {
  const file = skaffoldFilePath(ctx.run, ctx.inputs.loop);
  ctx.deps.writeFile(
    file,
    // no folding: a template string stays on one line, as written in skaffold.yaml
    YAML.stringify(runSkaffoldConfig(ctx.run.stackDir, ctx.build), { lineWidth: 0 }),
    `Skaffold file of this run: ${
      ctx.build.artifacts.length
        ? `builds ${ctx.build.artifacts.map((x) => `${x.service} from ${x.context}`).join(', ')}`
        : 'builds nothing'
    }`,
  );
  return skaffoldDeploy({
    ...a,
    images: ctx.build.artifacts.length ? [] : a.images,
    file,
    stackDir: ctx.run.stackDir,
    env: ctx.names.env,
  });
}

/**
 * Refuses, before anything is created, a run that would deploy a service with no image at all: no images line
 * names it, this run does not build it, and the values declare no image repository (the chart would stop the
 * install halfway, after the cluster or namespace exists).
 */
export function checkEveryServiceHasImage(
  images: ImageOverride[],
  plan: BuildPlan,
  declaration: Declaration,
): void {
  const given = new Set([...images.map((i) => i.service), ...plan.artifacts.map((a) => a.service)]);
  const missing = declaration.services.filter((s) => !given.has(s.name) && !s.imageRepository);
  if (missing.length === 0) return;
  throw new BuildRefused(
    missing
      .map(
        (s) =>
          `services.${s.name} has no image: no images line names it, this run builds no ${s.name}, and its values declare no image.repository; ` +
          `accepted: ${s.name}=<image> in images, services.${s.name}.image.{repository,tag} in values, or services.${s.name}.build.repository naming the repository that runs this action.`,
      )
      .join('\n') + ' Nothing was created.',
  );
}
