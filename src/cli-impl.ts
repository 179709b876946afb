/**
 * The local CLI: the same core as the action, with the task names teams already know.
 *   npx stack <task> [flags]      npx stack -l      npx stack plan <loop> --pr N --json
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kind, tilt } from './commands.js';
import { CLI_LOOPS } from './constants.js';
import {
  bundledStackDir,
  fileChecks,
  privateTempDir,
  type RunContext,
  registerSecretInputs,
} from './context.js';
import { type ContractTarget, runContractChecks } from './contract.js';
import { readStageDeclaration, STAGES, type Stage } from './declaration.js';
import { dryRunLoopDeps, planCommands, realLoopDeps } from './deps.js';
import { type DevPlan, devPlan } from './dev.js';
import { type Command, DryRunExecutor, ExecExecutor, type Executor } from './executor.js';
import { sweepGitHub } from './github/index.js';
import {
  ContextRefused,
  extraValues,
  forwardServices,
  type LoopDeps,
  planHeader,
  planNames,
  runLoop,
} from './loops/index.js';
import { CI_NAMESPACE, CI_RELEASE } from './naming.js';
import { type ActionInputs, InputError, parseInputs, type RawInputs } from './validate.js';

export const LOCAL_CLUSTER = 'jetscale-local';
/** The laptop's Helm release (the Tiltfile's RELEASE). */
const LOCAL_RELEASE = 'app';

export const TASKS: Array<{ name: string; description: string }> = [
  {
    name: 'dev',
    description: 'Laptop loop: tilt up (creates or reuses the Kind cluster, builds, deploys, live-syncs)',
  },
  {
    name: 'dev:plan',
    description:
      'dev:plan [--sources DIR] [--values F] [--write-values F]: what the laptop loop builds from where, as JSON (the Tiltfile reads it)',
  },
  {
    name: 'clean',
    description: 'Stop the laptop loop and delete the local Kind cluster (tilt down, kind delete cluster)',
  },
  {
    name: 'ci',
    description: 'ci-kind loop: ephemeral Kind cluster, deploy CI images, contract checks, delete cluster',
  },
  { name: 'test:local', description: 'Contract checks against the laptop stack (default http://localhost)' },
  { name: 'test:ci', description: 'Contract checks against the ci-kind stack in the current kube context' },
  {
    name: 'test:preview',
    description: 'Contract checks against the preview of PR_NUMBER (https://pr-<N>.<base-domain>)',
  },
  { name: 'test:live', description: 'Read-only smoke checks (GET only) against the live URL' },
  {
    name: 'deploy preview',
    description: 'preview loop: namespace jetscale-pr-<N>, deploy, wait, contract checks',
  },
  {
    name: 'deploy live',
    description:
      'Deploy values.live.yaml; refuses unless the kube context is the live one and --confirm is given',
  },
  { name: 'teardown', description: 'Remove the preview of PR_NUMBER (only a namespace we created)' },
  {
    name: 'sweep',
    description:
      'sweep [--dry-run] [--ttl 3d] [--max-previews 20]: remove previews of closed PRs, idle past the TTL, or beyond the cap ($GITHUB_TOKEN reads PR states)',
  },
  {
    name: 'declaration',
    description:
      'declaration [local|ci|preview|live] [--values F] [--set k=v]: the services and checks a stage deploys, as JSON',
  },
  {
    name: 'plan',
    description: 'plan <loop> [--pr N] [--sha S] [--json]: print derived names and commands, execute nothing',
  },
];

const HELP = `Usage: stack <task> [flags]

Tasks:
${TASKS.map((t) => `  ${t.name.padEnd(16)} ${t.description}`).join('\n')}

Flags:
  --pr N               pull request number (default: $PR_NUMBER)
  --sha SHA            commit SHA (default: $GIT_SHA)
  --image svc=ref      a prebuilt image (repeatable; default: $IMAGES, one per line or comma-separated)
  --kind-image ref     ci: an extra image to load into the Kind cluster (repeatable)
  --url URL            URL to check (test:local, test:live, deploy preview); $LIVE_URL for test:live
  --values FILE        extra values file (repeatable)    --set key=value   extra chart value (repeatable)
  --sources DIR        dev, dev:plan: the directory holding the services' checkouts (default: the stack's parent)
  --write-values F     dev:plan: also write the chart values the laptop deploys with (images, dev command/args)
  --base-domain D      default app.jetscale.ai           --namespace-prefix P   default jetscale-pr-
  --repo OWNER/NAME    the repository that owns the preview (default $GITHUB_REPOSITORY)
  --primary-repo O/N   the repository that keeps the short preview names (default: --repo)
  --preview-with O/N#N another repository's PR whose images this preview runs (repeatable)
  --kubeconfig PATH    preview/teardown/deploy live      --resolve host=IP  reach a host without DNS
  --timeout T          e.g. 10m (default)                --test-command CMD  extra test after the checks
  --ttl T              sweep: remove previews not deployed for T (e.g. 3d, 12h)
  --max-previews N     sweep: keep at most N previews (the longest idle beyond it are removed)
  --context NAME       the live kube context (deploy live; default $JETSCALE_LIVE_CONTEXT; --url or $LIVE_URL gives the host)
  --confirm            required by deploy live
  --dry-run            print the plan, execute nothing   --json   (plan) print JSON
  -l, --list           list tasks                        -h, --help  this help
`;

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Executor factory; tests pass a recording one. */
  executor?: (dryRun: boolean) => Executor;
  cwd?: string;
}

const defaultIo = (): CliIo => ({
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
});

/** Runs one CLI invocation; returns the exit code (0 ok, 1 failure, 2 bad usage or input). */
export async function cli(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(`stack: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values: flags, positionals } = parsed;
  if (flags.help) {
    io.out(HELP);
    return 0;
  }
  if (flags.list) {
    for (const t of TASKS) io.out(`${t.name.padEnd(16)} ${t.description}\n`);
    return 0;
  }
  const [task, sub] = positionals;
  if (!task) {
    io.err(HELP);
    return 2;
  }
  const cwd = io.cwd ?? process.cwd();
  const ctx: RunContext = {
    runId: io.env.GITHUB_RUN_ID ?? `local-${Date.now().toString(36)}`,
    runAttempt: io.env.GITHUB_RUN_ATTEMPT ?? '1',
    apiUrl: io.env.GITHUB_API_URL ?? 'https://api.github.com',
    workspace: cwd,
    stackDir: io.env.JETSCALE_STACK_DIR ?? bundledStackDir(),
    tempDir: privateTempDir(io.env),
    instance: randomBytes(3).toString('hex'),
    fromFork: false,
  };
  const raw = rawInputs(flags, io.env);
  registerSecretInputs(raw, cwd);
  // The CLI runs on the user's own machine with their files (Tilt passes JETSCALE_VALUES_FILE wherever it is):
  // values files are not confined to the working directory, as the action confines them to the workspace.
  const parseFor = (loop: string, extra: RawInputs = {}): ActionInputs =>
    parseInputs({ ...raw, loop, ...extra }, { ...fileChecks(cwd, CLI_LOOPS), valuesFile: readableFile(cwd) });
  try {
    switch (task) {
      case 'declaration': {
        const stage = (sub ?? 'local') as Stage;
        if (!STAGES.includes(stage))
          throw new UsageError(
            `declaration takes a stage: local, ci, preview or live (got ${JSON.stringify(sub)})`,
          );
        // A values file is only read and printed here (Tilt passes JETSCALE_VALUES_FILE, wherever it is).
        const inputs = parseInputs(
          { ...raw, loop: 'ci-kind' },
          { ...fileChecks(cwd, CLI_LOOPS), valuesFile: readableFile(cwd) },
        );
        io.out(
          `${JSON.stringify(readStageDeclaration(ctx.stackDir, stage, extraValues(inputs)), null, 2)}\n`,
        );
        return 0;
      }
      case 'plan': {
        if (!sub) throw new UsageError('plan needs a loop: ci-kind, preview, teardown or live');
        const inputs = parseFor(sub, { 'dry-run': 'true' });
        const names = planNames(inputs, ctx);
        const lines: string[] = planHeader(names);
        const deps = dryRunLoopDeps(inputs, (line) => lines.push(line));
        const result = await runLoop(inputs, ctx, deps);
        if (result.error) throw result.error;
        if (flags.json) io.out(`${JSON.stringify({ names, commands: planCommands(deps) }, null, 2)}\n`);
        else io.out(`${lines.join('\n')}\n`);
        return 0;
      }
      case 'ci':
        return await loop(parseFor('ci-kind'), ctx, io);
      case 'deploy':
        if (sub === 'preview') return await loop(parseFor('preview'), ctx, io);
        if (sub === 'live') return await deployLive(flags, raw, parseFor, ctx, io);
        throw new UsageError(`deploy needs a target: preview or live (got ${JSON.stringify(sub ?? '')})`);
      case 'teardown':
        return await loop(parseFor('teardown'), ctx, io);
      case 'sweep':
        return await loop(parseFor('sweep'), ctx, io);
      case 'test:local': {
        const inputs = parseFor('live', { url: raw.url ?? 'http://localhost' });
        return await checks(inputs, io, ctx, 'local', { url: raw.url ?? 'http://localhost' }, LOCAL_RELEASE);
      }
      case 'test:live': {
        const inputs = parseFor('live', { url: raw.url ?? io.env.LIVE_URL });
        return await checks(inputs, io, ctx, 'live', { url: inputs.url as string });
      }
      case 'test:preview': {
        const inputs = parseFor('preview');
        const names = planNames(inputs, ctx);
        return await checks(
          inputs,
          io,
          ctx,
          'preview',
          { url: raw.url ?? (names.url as string) },
          names.release,
        );
      }
      case 'test:ci': {
        const inputs = parseFor('ci-kind');
        const { services } = readStageDeclaration(ctx.stackDir, 'ci', extraValues(inputs));
        return await forwardServices(loopDeps(inputs, io), {}, CI_NAMESPACE, CI_RELEASE, services, (urls) =>
          checks(inputs, io, ctx, 'ci', { services: urls }, CI_RELEASE),
        );
      }
      case 'dev:plan': {
        const plan = laptopPlan(flags, raw, ctx, cwd, io.env);
        if (flags['write-values']) writeIfChanged(resolve(cwd, flags['write-values']), plan.values);
        io.out(`${JSON.stringify(plan, null, 2)}\n`);
        return 0;
      }
      case 'dev': {
        // the Tiltfile makes the same plan and stops on the same problems; refusing here keeps Tilt from starting
        const plan = laptopPlan(flags, raw, ctx, cwd, io.env);
        if (plan.problems.length > 0) throw new UsageError(cannotBuild(plan));
        for (const s of plan.services) io.out(`${s.summary}\n`);
        return await external(io, flags, [
          { ...tilt('up', resolve(ctx.stackDir, 'Tiltfile')), env: laptopEnv(flags, raw, cwd) },
        ]);
      }
      case 'clean':
        // no refusal: deleting builds nothing (the Tiltfile skips the build plan's problems under `tilt down`)
        return await external(io, flags, [
          { ...tilt('down', resolve(ctx.stackDir, 'Tiltfile')), env: laptopEnv(flags, raw, cwd) },
          kind.deleteCluster(LOCAL_CLUSTER, 'the local Kind cluster'),
        ]);
      default:
        throw new UsageError(`unknown task ${JSON.stringify(task)}; run stack -l for the list`);
    }
  } catch (error) {
    io.err(`stack: ${error instanceof Error ? error.message : String(error)}\n`);
    return exitCode(error);
  }
}

/** 2: bad usage or input (nothing ran, or live's context check refused); 1: the task failed. */
export function exitCode(error: unknown): 1 | 2 {
  return error instanceof InputError || error instanceof UsageError || error instanceof ContextRefused
    ? 2
    : 1;
}

class UsageError extends Error {}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      pr: { type: 'string' },
      sha: { type: 'string' },
      image: { type: 'string', multiple: true },
      'kind-image': { type: 'string', multiple: true },
      url: { type: 'string' },
      values: { type: 'string', multiple: true },
      set: { type: 'string', multiple: true },
      'base-domain': { type: 'string' },
      'namespace-prefix': { type: 'string' },
      repo: { type: 'string' },
      'primary-repo': { type: 'string' },
      'preview-with': { type: 'string', multiple: true },
      kubeconfig: { type: 'string' },
      resolve: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      ttl: { type: 'string' },
      'max-previews': { type: 'string' },
      'test-command': { type: 'string' },
      'node-image': { type: 'string' },
      sources: { type: 'string' },
      'write-values': { type: 'string' },
      context: { type: 'string' },
      confirm: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      list: { type: 'boolean', short: 'l' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

type Flags = ReturnType<typeof parse>['values'];

/** Flags first, then the environment CI would set; values stay raw so validation is the action's. */
function rawInputs(flags: Flags, env: NodeJS.ProcessEnv): RawInputs {
  const raw: RawInputs = {};
  const pr = flags.pr ?? env.PR_NUMBER;
  if (pr !== undefined) raw['pr-number'] = pr;
  const sha = flags.sha ?? env.GIT_SHA;
  if (sha !== undefined) raw['git-sha'] = sha;
  const images = flags.image ?? (env.IMAGES ? env.IMAGES.split(/[\n,]/) : undefined);
  if (images) raw.images = images.join('\n');
  if (flags['kind-image']) raw['kind-images'] = flags['kind-image'].join('\n');
  if (flags.url) raw.url = flags.url;
  if (flags.values) raw.values = flags.values.join('\n');
  if (flags.set) raw.set = flags.set.join('\n');
  if (flags['base-domain'] !== undefined) raw['base-domain'] = flags['base-domain'];
  if (flags['namespace-prefix'] !== undefined) raw['namespace-prefix'] = flags['namespace-prefix'];
  const repo = flags.repo ?? env.GITHUB_REPOSITORY;
  if (repo) raw.repository = repo;
  if (flags['primary-repo']) raw['primary-repository'] = flags['primary-repo'];
  if (flags['preview-with']) raw['preview-with'] = flags['preview-with'].join('\n');
  if (flags.kubeconfig) raw.kubeconfig = flags.kubeconfig;
  if (flags.resolve) raw.resolve = flags.resolve.join('\n');
  if (flags.timeout) raw.timeout = flags.timeout;
  if (flags.ttl !== undefined) raw.ttl = flags.ttl;
  if (flags['max-previews'] !== undefined) raw['max-previews'] = flags['max-previews'];
  const token = env.GITHUB_TOKEN ?? env.GH_TOKEN;
  if (token) raw['github-token'] = token;
  if (flags['test-command']) raw['test-command'] = flags['test-command'];
  if (flags['node-image']) raw['node-image'] = flags['node-image'];
  if (flags['dry-run']) raw['dry-run'] = 'true';
  const context = flags.context ?? env.JETSCALE_LIVE_CONTEXT;
  if (context !== undefined) raw['kube-context'] = context;
  return raw;
}

function executor(io: CliIo): Executor {
  return io.executor ? io.executor(false) : new ExecExecutor();
}

/** Real dependencies, or printing ones for --dry-run (a sweep's dry run reads the cluster and GitHub for real). */
function loopDeps(inputs: ActionInputs, io: CliIo, ctx?: RunContext): LoopDeps {
  const log = (line: string) => io.out(`${line}\n`);
  if (inputs.loop === 'sweep' && ctx) {
    // A local run tells no PR (it is no workflow run to link to): it reads PR states with $GITHUB_TOKEN, if set.
    const github = inputs.githubToken
      ? sweepGitHub({
          token: inputs.githubToken,
          apiUrl: ctx.apiUrl,
          write: false,
          comment: false,
          warn: (m) => io.err(`${m}\n`),
        })
      : undefined;
    return { ...realLoopDeps(inputs, executor(io), log), github };
  }
  return inputs.dryRun ? dryRunLoopDeps(inputs, log) : realLoopDeps(inputs, executor(io), log);
}

async function loop(inputs: ActionInputs, ctx: RunContext, io: CliIo): Promise<number> {
  const result = await runLoop(inputs, ctx, loopDeps(inputs, io, ctx));
  const steps = result.steps
    .map((s) => `${s.name} ${(s.ms / 1000).toFixed(1)}s${s.ok ? '' : ' failed'}`)
    .join(', ');
  if (result.error) {
    io.out(`${inputs.loop}: failed (${steps})\n`);
    if (result.diagnosticsDir) io.out(`diagnostics: ${result.diagnosticsDir}\n`);
    throw result.error;
  }
  io.out(`${inputs.loop}: done (${steps})\n`);
  return 0;
}

/** The declared checks of a stage (its values file, then the values and set flags), against a target. */
async function checks(
  inputs: ActionInputs,
  io: CliIo,
  ctx: RunContext,
  stage: Stage,
  target: ContractTarget,
  release?: string,
): Promise<number> {
  const mode = stage === 'live' ? 'smoke' : 'full';
  const declaration = readStageDeclaration(ctx.stackDir, stage, extraValues(inputs));
  if (inputs.dryRun) {
    const where = 'url' in target ? target.url : Object.values(target.services).join(', ');
    io.out(`# contract checks (${mode}, stage ${stage}) against ${where}\n`);
    return 0;
  }
  const results = await runContractChecks({
    checks: declaration.checks,
    stage,
    target,
    release,
    mode,
    deadlineMs: Math.min(inputs.timeoutSeconds, 120) * 1000,
    expectedSha: inputs.sha,
    resolve: inputs.resolve,
  });
  for (const r of results)
    io.out(
      `${r.ok ? 'ok  ' : 'FAIL'} ${r.name.padEnd(16)} ${r.url} ${r.durationMs} ms${r.ok ? '' : `: ${r.detail ?? ''}`}\n`,
    );
  const failed = results.filter((r) => !r.ok).length;
  io.out(`${results.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

/** The laptop loop's plan: the local stage's declaration (with --values/--set) over the checkouts in --sources. */
function laptopPlan(
  flags: Flags,
  raw: RawInputs,
  ctx: RunContext,
  cwd: string,
  env: NodeJS.ProcessEnv,
): DevPlan {
  const inputs = parseInputs(
    { ...raw, loop: 'ci-kind' },
    { ...fileChecks(cwd, CLI_LOOPS), valuesFile: readableFile(cwd) },
  );
  const declaration = readStageDeclaration(ctx.stackDir, 'local', extraValues(inputs));
  const sources = flags.sources ?? env.JETSCALE_SOURCES_DIR;
  return devPlan(declaration, {
    stackDir: ctx.stackDir,
    sourcesDir: sources ? resolve(cwd, sources) : undefined,
  });
}

/**
 * Tilt watches the values files it hands helm: rewriting the same content on every Tiltfile load would reload it
 * again, so the file is written only when the values change.
 */
function writeIfChanged(file: string, values: unknown): void {
  const text = `${JSON.stringify(values, null, 2)}\n`;
  if (existsSync(file) && readFileSync(file, 'utf8') === text) return;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** The message Tilt stops with too (the Tiltfile's fail()). */
export function cannotBuild(plan: DevPlan): string {
  return `The laptop loop cannot build these services as declared:\n- ${plan.problems.join('\n- ')}`;
}

/** What the Tiltfile reads from the environment: the checkouts' directory and the extra values file. */
function laptopEnv(flags: Flags, raw: RawInputs, cwd: string): Record<string, string> {
  const env: Record<string, string> = {};
  if (flags.sources) env.JETSCALE_SOURCES_DIR = resolve(cwd, flags.sources);
  const values = raw.values?.split('\n').filter(Boolean) ?? [];
  if (values.length > 1)
    throw new UsageError('dev and clean take one --values file (the Tiltfile applies one)');
  if (values[0]) env.JETSCALE_VALUES_FILE = resolve(cwd, values[0]);
  return env;
}

/** A values file the CLI reads, relative to cwd (no workspace confinement: the user's own machine). */
const readableFile =
  (cwd: string) =>
  (path: string): { path: string } | { problem: string } => {
    const p = resolve(cwd, path);
    return existsSync(p) && statSync(p).isFile()
      ? { path: p }
      : { problem: 'the path of an existing values file (this one does not exist)' };
  };

async function external(io: CliIo, flags: Flags, commands: Command[]): Promise<number> {
  const exec = flags['dry-run'] ? new DryRunExecutor((l) => io.out(`${l}\n`)) : executor(io);
  for (const c of commands) await exec.run(c);
  return 0;
}

async function deployLive(
  flags: Flags,
  raw: RawInputs,
  parseFor: (loop: string, extra?: RawInputs) => ActionInputs,
  ctx: RunContext,
  io: CliIo,
): Promise<number> {
  const wanted = flags.context ?? io.env.JETSCALE_LIVE_CONTEXT;
  if (!wanted)
    throw new UsageError('deploy live needs the live kube context: --context NAME or $JETSCALE_LIVE_CONTEXT');
  const url = raw.url ?? io.env.LIVE_URL;
  if (!url)
    throw new UsageError(
      `deploy live needs the live URL (--url or $LIVE_URL, e.g. https://app.jetscale.ai); got ${JSON.stringify(url ?? '')}`,
    );
  if (!flags.confirm)
    throw new UsageError(`deploy live changes production: add --confirm to deploy to context ${wanted}`);
  return loop(parseFor('deploy-live', { url, 'kube-context': wanted }), ctx, io);
}
