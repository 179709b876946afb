/**
 * The laptop loop's plan: for each declared service, which checkout Tilt builds, with which Dockerfile and stage,
 * and how it live-updates (services.<n>.dev, with defaults that make the examples work without any). The Tiltfile
 * reads it through `stack dev:plan`; `stack dev` refuses before Tilt starts when it has problems.
 *
 * The source, in order: the sibling checkout <sourcesDir>/<name>; else dev.source; else build.example (bundled
 * with the stack); else, for a service of the stack's own repository (no build.repository), build.context in the
 * stack's checkout, as CI builds it. A sibling that exists but cannot be built as declared is a problem, never a
 * reason to build something else: the example is used only when there is no sibling at all.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Declaration, DeclaredService } from './declaration.js';

export type SourceKind = 'sibling' | 'declared' | 'example' | 'stack';

/** How the HUD and the Tiltfile's log name each kind of source. */
export const SOURCE_LABEL: Record<SourceKind, string> = {
  sibling: 'the sibling checkout',
  declared: 'the declared checkout',
  example: 'the bundled example',
  stack: "the stack's own checkout",
};

export interface DevService {
  name: string;
  source: SourceKind;
  /** The checkout (or the example's directory); absolute. */
  sourceDir: string;
  /** Everything below is absolute unless said otherwise. */
  context: string;
  dockerfile: string;
  /** The Dockerfile stage (build.devTarget, else build.target); undefined: the last stage. */
  target?: string;
  buildArgs: Record<string, string>;
  sync: Array<{ from: string; to: string }>;
  run: Array<{ command: string; trigger: string[] }>;
  rebuildOn: string[];
  /** Globs relative to the context (docker_build's ignore). */
  ignore: string[];
  port?: number;
  localPort?: number;
  needs: string[];
  readinessPath?: string;
  routes: DeclaredService['routes'];
  /** For people: `<name>: building <the source> at <context> (Dockerfile …, target …)`. */
  summary: string;
}

export interface DevPlan {
  services: DevService[];
  /** Each names the service, the path and the fix; any of them stops `stack dev` and `tilt up`. */
  problems: string[];
  /** The chart values the laptop deploys with: the images Tilt builds, and the dev command/args. */
  values: { services: Record<string, Record<string, unknown>> };
}

/** Ignored unless declared otherwise: VCS data, installed dependencies, build output, caches. */
export const DEFAULT_IGNORE = ['.git', 'node_modules', 'dist', 'coverage', '__pycache__', '.venv'];
/** Where the context syncs to when the service declares no workingDir. */
export const DEFAULT_SYNC_TO = '/app';

/**
 * A dependency manifest and the command that installs from it in the container. The first of a language that
 * exists wins (a lock file names the package manager); languages add up (a Go service with a package.json gets both).
 */
const INSTALLERS: Array<{ language: string; manifest: string; command: string; trigger: string[] }> = [
  {
    language: 'node',
    manifest: 'pnpm-lock.yaml',
    command: 'pnpm install',
    trigger: ['package.json', 'pnpm-lock.yaml'],
  },
  {
    language: 'node',
    manifest: 'yarn.lock',
    command: 'yarn install',
    trigger: ['package.json', 'yarn.lock'],
  },
  // npm install, not npm ci: ci deletes node_modules first, under the running watcher
  {
    language: 'node',
    manifest: 'package-lock.json',
    command: 'npm install',
    trigger: ['package.json', 'package-lock.json'],
  },
  { language: 'node', manifest: 'package.json', command: 'npm install', trigger: ['package.json'] },
  {
    language: 'python',
    manifest: 'requirements.txt',
    command: 'pip install -r requirements.txt',
    trigger: ['requirements.txt'],
  },
  { language: 'go', manifest: 'go.mod', command: 'go mod download', trigger: ['go.mod', 'go.sum'] },
];

/** The install commands for the manifests at the root of a context, each triggered by its files. */
export function defaultRun(context: string): Array<{ command: string; trigger: string[] }> {
  const out: Array<{ command: string; trigger: string[] }> = [];
  const done = new Set<string>();
  for (const i of INSTALLERS) {
    if (done.has(i.language) || !existsSync(join(context, i.manifest))) continue;
    done.add(i.language);
    out.push({
      command: i.command,
      trigger: i.trigger
        .filter((t) => t === i.manifest || existsSync(join(context, t)))
        .map((t) => join(context, t)),
    });
  }
  return out;
}

/** The named stages of a Dockerfile (`FROM [--flag…] image AS name`), in order. */
export function dockerfileStages(text: string): string[] {
  return [...text.matchAll(/^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)\s*$/gim)].map((m) => m[1] as string);
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

export function devPlan(
  declaration: Declaration,
  options: { stackDir: string; sourcesDir?: string },
): DevPlan {
  const stackDir = resolve(options.stackDir);
  const sourcesDir = resolve(options.sourcesDir ?? dirname(stackDir));
  const services: DevService[] = [];
  const problems: string[] = [];
  const values: DevPlan['values'] = { services: {} };
  for (const s of declaration.services) {
    const planned = planService(s, stackDir, sourcesDir, problems);
    if (!planned) continue;
    services.push(planned);
    const v: Record<string, unknown> = { image: { repository: s.name, pullPolicy: 'IfNotPresent' } };
    if (s.dev.command) v.command = s.dev.command;
    if (s.dev.args) v.args = s.dev.args;
    values.services[s.name] = v;
  }
  return { services, problems, values };
}

function planService(
  s: DeclaredService,
  stackDir: string,
  sourcesDir: string,
  problems: string[],
): DevService | undefined {
  const build: Partial<NonNullable<DeclaredService['build']>> = s.build ?? {};
  const at = `services.${s.name}`;
  const sibling = join(sourcesDir, s.name);
  const declared = s.dev.source ? resolve(stackDir, s.dev.source) : undefined;
  const example = build.example ? resolve(stackDir, build.example) : undefined;

  let source: SourceKind;
  let sourceDir: string;
  let context: string;
  // A checkout is a repository: build.context is relative to it when the service names its own repository;
  // otherwise build.context points into the stack's checkout (e.g. examples/<name>), and the checkout is the context.
  const inCheckout = (dir: string) => (build.repository && build.context ? join(dir, build.context) : dir);
  if (existsSync(sibling)) {
    source = 'sibling';
    sourceDir = sibling;
    context = inCheckout(sibling);
  } else if (declared) {
    if (!isDir(declared)) {
      problems.push(
        `${s.name}: ${at}.dev.source is ${JSON.stringify(s.dev.source)}, and ${declared} is not a directory (and there is no sibling checkout ${sibling}). Fix: check the service out at ${declared} or ${sibling}, or correct ${at}.dev.source (relative to the stack directory ${stackDir}).`,
      );
      return undefined;
    }
    source = 'declared';
    sourceDir = declared;
    context = inCheckout(declared);
  } else if (example) {
    source = 'example';
    sourceDir = example;
    context = example;
  } else if (build.context && !build.repository) {
    source = 'stack';
    sourceDir = stackDir;
    context = join(stackDir, build.context);
  } else {
    problems.push(
      `${s.name}: no source to build: no sibling checkout at ${sibling}, and none of ${at}.dev.source, ${at}.build.example or a build.context in the stack's own checkout is declared. Fix: check the service out at ${sibling} (or run with --sources <the directory holding it>), or declare ${at}.dev.source.`,
    );
    return undefined;
  }
  const where = `${SOURCE_LABEL[source]} ${sourceDir}`;
  if (!isDir(context)) {
    problems.push(
      `${s.name}: the build context ${context} does not exist in ${where} (${at}.build.context is ${JSON.stringify(build.context)}). Fix: set ${at}.build.context to the service's directory inside its repository, or add it there.`,
    );
    return undefined;
  }
  const dockerfile = join(context, build.dockerfile || 'Dockerfile');
  if (!existsSync(dockerfile)) {
    const fix =
      source === 'sibling'
        ? `add it, set ${at}.build.dockerfile (relative to the context) to the checkout's Dockerfile, or move ${sibling} away to build the bundled example instead`
        : `add it, or set ${at}.build.dockerfile (relative to the context) to where it is`;
    problems.push(
      `${s.name}: ${where} has no Dockerfile at ${dockerfile} (${at}.build.dockerfile is ${JSON.stringify(build.dockerfile ?? 'Dockerfile')}). Fix: ${fix}.`,
    );
    return undefined;
  }
  const target = build.devTarget || build.target || undefined;
  if (target) {
    const stages = dockerfileStages(readFileSync(dockerfile, 'utf8'));
    if (!stages.includes(target)) {
      const field = build.devTarget ? `${at}.build.devTarget` : `${at}.build.target`;
      problems.push(
        `${s.name}: ${dockerfile} (in ${where}) has no stage ${JSON.stringify(target)} (${field}); its stages: ${stages.join(', ') || 'none named'}. Fix: add a stage \`FROM … AS ${target}\` to it, or set ${field} to one of its stages.`,
      );
      return undefined;
    }
  }
  const inContext = (p: string) => join(context, p);
  const rel = relative(context, dockerfile);
  return {
    name: s.name,
    source,
    sourceDir,
    context,
    dockerfile,
    target,
    buildArgs: s.dev.buildArgs,
    sync: (s.dev.sync ?? [{ from: '.', to: s.workingDir ?? DEFAULT_SYNC_TO }]).map((e) => ({
      from: inContext(e.from),
      to: e.to,
    })),
    run: s.dev.run
      ? s.dev.run.map((r) => ({ command: r.command, trigger: r.trigger.map(inContext) }))
      : defaultRun(context),
    rebuildOn: s.dev.rebuildOn ? s.dev.rebuildOn.map(inContext) : [dockerfile],
    ignore: s.dev.ignore ?? DEFAULT_IGNORE,
    port: s.port,
    localPort: s.localPort,
    needs: s.needs,
    readinessPath: s.readinessPath,
    routes: s.routes,
    summary: `${s.name}: building ${SOURCE_LABEL[source]} at ${context} (Dockerfile ${rel}, target ${target ?? '(the last stage)'})`,
  };
}
