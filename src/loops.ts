/**
 * The four loops, written once against the Executor: run for real, or print the plan in dry-run mode.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import YAML from 'yaml';
import { type Loop, State } from './constants.js';
import type { RunContext } from './context.js';
import { type Command, type Executor, formatCommand } from './executor.js';
import { isOwnedBy, kindClusterName, previewNames } from './naming.js';
import type { ActionInputs } from './validate.js';

export const CI_NAMESPACE = 'jetscale-ci';
export const CI_RELEASE = 'app';
export const LIVE_RELEASE = 'jetscale';

export interface CheckResultLike {
  name: string;
  ok: boolean;
  url: string;
  durationMs: number;
  attempts?: number;
  detail?: string;
}

export interface ContractRequest {
  frontendUrl: string;
  backendUrl?: string;
  mode: 'full' | 'smoke';
  deadlineMs: number;
  expectedSha?: string;
  resolve?: Record<string, string>;
}

export interface ReporterLike {
  reportDeploy(args: {
    url: string;
    namespace: string;
    host: string;
    status: 'success' | 'failure' | 'in_progress';
    details?: string;
  }): Promise<unknown>;
  reportTeardown(): Promise<unknown>;
  isPullRequestOpen(): Promise<boolean | undefined>;
}

export interface LoopDeps {
  exec: Executor;
  log: (line: string) => void;
  /** Installs the named tools (at the versions in inputs.tools), puts them on PATH, returns each one's directory. */
  installTools: (tools: Array<keyof ActionInputs['tools']>) => Promise<Partial<Record<string, string>>>;
  contract: (request: ContractRequest) => Promise<CheckResultLike[]>;
  reporter?: ReporterLike;
  saveState: (key: State, value: string) => void;
  /** Collects diagnostics into dir; returns a short summary. */
  diagnostics?: (args: {
    namespace?: string;
    kindCluster?: string;
    env: Record<string, string>;
    dir: string;
  }) => Promise<string>;
}

export interface StepRecord {
  name: string;
  ok: boolean;
  ms: number;
}

export interface LoopResult {
  loop: Loop;
  names: PlanNames;
  steps: StepRecord[];
  checks: CheckResultLike[];
  diagnosticsDir?: string;
  diagnostics?: string;
  /** Set when the PR was found closed after the deploy and the preview was removed again. */
  tornDownAfterClose?: boolean;
}

export interface PlanNames {
  loop: Loop;
  prNumber?: number;
  sha?: string;
  namespace?: string;
  host?: string;
  url?: string;
  release?: string;
  environment?: string;
  imageTag?: string;
  cluster?: string;
  kubeContext?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  env: Record<string, string>;
  tools: ActionInputs['tools'];
}

export class ContractFailure extends Error {
  constructor(readonly failed: CheckResultLike[]) {
    super(
      `Contract checks failed: ${failed.map((c) => `${c.name} (${c.url}): ${c.detail ?? 'failed'}`).join('; ')}`,
    );
    this.name = 'ContractFailure';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export class TeardownRefused extends Error {
  constructor(namespace: string, prNumber: number, labels: Record<string, string> | undefined) {
    super(
      `Refusing to tear down namespace ${namespace}: it does not carry our ownership labels for PR ${prNumber} ` +
        `(app.kubernetes.io/managed-by=jetscale-stack, jetscale.ai/pr=${prNumber}); its labels are ${JSON.stringify(labels ?? {})}. Nothing was deleted.`,
    );
    this.name = 'TeardownRefused';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Derives every name a loop uses, without side effects. */
export function planNames(inputs: ActionInputs, ctx: RunContext): PlanNames {
  const base = { loop: inputs.loop, prNumber: inputs.prNumber, sha: inputs.sha, tools: inputs.tools };
  const valuesFile = join(ctx.tempDir, `jetscale-values-${inputs.loop}.yaml`);
  const kubeconfigEnv = kubeconfigPath(inputs, ctx);
  switch (inputs.loop) {
    case 'ci-kind': {
      const cluster = kindClusterName(ctx.runId, ctx.runAttempt);
      const env: Record<string, string> = {
        KUBECONFIG: join(ctx.tempDir, `${cluster}.kubeconfig`),
        JETSCALE_RELEASE: CI_RELEASE,
        JETSCALE_HOST: '',
        JETSCALE_SHA: inputs.sha ?? 'unknown',
        JETSCALE_VALUES_FILE: valuesFile,
      };
      return {
        ...base,
        cluster,
        kubeContext: `kind-${cluster}`,
        namespace: CI_NAMESPACE,
        release: CI_RELEASE,
        labels: { 'app.kubernetes.io/managed-by': 'jetscale-stack' },
        env,
      };
    }
    case 'preview':
    case 'teardown': {
      const n = previewNames({
        prNumber: inputs.prNumber as number,
        sha: inputs.sha ?? 'unknown',
        namespacePrefix: inputs.namespacePrefix,
        baseDomain: inputs.baseDomain,
        run: ctx.runUrl ?? ctx.runId,
      });
      const url = inputs.url ?? n.url;
      const env: Record<string, string> = {
        JETSCALE_RELEASE: n.release,
        JETSCALE_HOST: n.host,
        JETSCALE_SHA: inputs.sha ?? 'unknown',
        JETSCALE_VALUES_FILE: valuesFile,
      };
      if (kubeconfigEnv) env.KUBECONFIG = kubeconfigEnv;
      return { ...base, ...n, url, env };
    }
    case 'live':
      return {
        ...base,
        url: inputs.url,
        release: LIVE_RELEASE,
        env: kubeconfigEnv ? { KUBECONFIG: kubeconfigEnv } : {},
      };
  }
}

function kubeconfigPath(inputs: ActionInputs, ctx: RunContext): string | undefined {
  if (inputs.kubeconfig?.content !== undefined) return join(ctx.tempDir, 'jetscale-kubeconfig');
  if (inputs.kubeconfig?.path) return resolve(ctx.workspace, inputs.kubeconfig.path);
  return undefined;
}

/** The values file the action hands Skaffold: the `values` files merged in order, then `set` entries. */
export function extraValues(inputs: ActionInputs, ctx: RunContext): Record<string, unknown> {
  let merged: Record<string, unknown> = {};
  for (const file of inputs.values) {
    const path = isAbsolute(file) ? file : resolve(ctx.workspace, file);
    const doc = YAML.parse(readFileSync(path, 'utf8')) ?? {};
    if (typeof doc !== 'object' || Array.isArray(doc))
      throw new Error(`Values file ${file} is not a YAML mapping.`);
    merged = deepMerge(merged, doc as Record<string, unknown>);
  }
  for (const { key, value } of inputs.set) {
    const path = key.split('.');
    let node = merged;
    for (const part of path.slice(0, -1)) {
      const next = node[part];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = scalar(value);
  }
  return merged;
}

function scalar(value: string): unknown {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (value === 'null') return null;
  if (/^-?(0|[1-9][0-9]{0,14})$/.test(value)) return Number(value);
  return value;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev &&
      typeof prev === 'object' &&
      !Array.isArray(prev) &&
      v &&
      typeof v === 'object' &&
      !Array.isArray(v)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

class Runner {
  readonly steps: StepRecord[] = [];
  constructor(
    private readonly deps: LoopDeps,
    private readonly dryRun: boolean,
  ) {}

  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    if (!this.dryRun) this.deps.log(`▶ ${name}`);
    else this.deps.log(`# ${name}`);
    try {
      const out = await fn();
      this.steps.push({ name, ok: true, ms: Date.now() - t0 });
      return out;
    } catch (error) {
      this.steps.push({ name, ok: false, ms: Date.now() - t0 });
      throw error;
    }
  }
}

function timeoutFlag(seconds: number): string {
  return `${seconds}s`;
}

/** Writes the generated values file and the kubeconfig (from content) — skipped in dry run. */
function prepareFiles(inputs: ActionInputs, ctx: RunContext, names: PlanNames, deps: LoopDeps): void {
  const values = extraValues(inputs, ctx);
  const text = YAML.stringify(values);
  if (inputs.dryRun) {
    deps.log(`# ${names.env.JETSCALE_VALUES_FILE} would contain:\n${text.replace(/^/gm, '#   ')}`);
    return;
  }
  mkdirSync(ctx.tempDir, { recursive: true });
  if (names.env.JETSCALE_VALUES_FILE) writeFileSync(names.env.JETSCALE_VALUES_FILE, text);
  writeKubeconfig(inputs, ctx, names);
}

/** Writes the kubeconfig given as content to its private temp file (KUBECONFIG of every command) — not in dry run. */
function writeKubeconfig(inputs: ActionInputs, ctx: RunContext, names: PlanNames): void {
  if (inputs.dryRun || inputs.kubeconfig?.content === undefined || !names.env.KUBECONFIG) return;
  mkdirSync(ctx.tempDir, { recursive: true });
  writeFileSync(names.env.KUBECONFIG, inputs.kubeconfig.content, { mode: 0o600 });
  chmodSync(names.env.KUBECONFIG, 0o600);
}

function namespaceManifest(
  name: string,
  labels: Record<string, string>,
  annotations: Record<string, string>,
): string {
  return YAML.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations } });
}

interface NamespaceInfo {
  exists: boolean;
  labels?: Record<string, string>;
}

async function getNamespace(
  exec: Executor,
  namespace: string,
  env: Record<string, string>,
): Promise<NamespaceInfo> {
  const out = await exec.run({
    cmd: 'kubectl',
    args: ['get', 'namespace', namespace, '--ignore-not-found', '-o', 'json'],
    env,
    silent: true,
    description: 'does the namespace exist, and is it ours?',
  });
  if (!out.stdout.trim()) return { exists: false };
  const ns = JSON.parse(out.stdout) as { metadata?: { labels?: Record<string, string> } };
  return { exists: true, labels: ns.metadata?.labels ?? {} };
}

/** Waits until every Deployment and StatefulSet is rolled out and every Job completed — not merely applied. */
async function waitReady(
  exec: Executor,
  namespace: string,
  env: Record<string, string>,
  timeoutSeconds: number,
): Promise<void> {
  const out = await exec.run({
    cmd: 'kubectl',
    args: ['get', 'deployments,statefulsets,jobs', '-n', namespace, '-o', 'json'],
    env,
    silent: true,
    description: 'list workloads to wait for',
  });
  const items = out.stdout.trim()
    ? ((JSON.parse(out.stdout) as { items: Array<{ kind: string; metadata: { name: string } }> }).items ?? [])
    : [];
  if (exec.dryRun) {
    await exec.run({
      cmd: 'kubectl',
      args: [
        'rollout',
        'status',
        'deployment/<each>',
        '-n',
        namespace,
        `--timeout=${timeoutFlag(timeoutSeconds)}`,
      ],
      env,
      description: 'for every Deployment and StatefulSet listed; Jobs: kubectl wait --for=condition=complete',
    });
    return;
  }
  for (const item of items) {
    const ref = `${item.kind.toLowerCase()}/${item.metadata.name}`;
    if (item.kind === 'Job') {
      await exec.run({
        cmd: 'kubectl',
        args: [
          'wait',
          '--for=condition=complete',
          ref,
          '-n',
          namespace,
          `--timeout=${timeoutFlag(timeoutSeconds)}`,
        ],
        env,
      });
    } else {
      await exec.run({
        cmd: 'kubectl',
        args: ['rollout', 'status', ref, '-n', namespace, `--timeout=${timeoutFlag(timeoutSeconds)}`],
        env,
      });
    }
  }
}

function skaffoldDeploy(
  profile: string,
  inputs: ActionInputs,
  ctx: RunContext,
  names: PlanNames,
  extra: string[] = [],
): Command {
  // With prebuilt images, --default-repo= keeps Skaffold from renaming them after a cluster's advertised local
  // registry (kind's local-registry-hosting ConfigMap), which would point the pods at images nobody pushed.
  const images = inputs.images.flatMap((i) => ['--images', `${i.service}=${i.ref}`]);
  if (images.length > 0) images.push('--default-repo=');
  const verb = images.length > 0 ? 'deploy' : 'run';
  return {
    cmd: 'skaffold',
    args: [
      verb,
      '-p',
      profile,
      ...extra,
      '--namespace',
      names.namespace as string,
      ...images,
      '--status-check=true',
    ],
    cwd: ctx.stackDir,
    env: names.env,
    description:
      verb === 'deploy'
        ? `deploy prebuilt images with the ${profile} profile`
        : `no images given: build from the service contexts and deploy with the ${profile} profile`,
  };
}

async function runTestCommand(
  deps: LoopDeps,
  inputs: ActionInputs,
  ctx: RunContext,
  env: Record<string, string>,
): Promise<void> {
  if (!inputs.testCommand) return;
  await deps.exec.run({
    cmd: 'bash',
    args: ['-euo', 'pipefail', '-c', inputs.testCommand],
    cwd: ctx.workspace,
    env,
    description: 'test-command',
  });
}

async function contract(
  deps: LoopDeps,
  inputs: ActionInputs,
  req: ContractRequest,
): Promise<CheckResultLike[]> {
  if (inputs.dryRun) {
    deps.log(
      `# contract checks (${req.mode}) against ${req.frontendUrl}${req.backendUrl && req.backendUrl !== req.frontendUrl ? ` and ${req.backendUrl}` : ''}` +
        `: backend-health, backend-ready${req.mode === 'full' ? ', api-round-trip' : ''}, frontend-page, frontend-api`,
    );
    return [];
  }
  const results = await deps.contract(req);
  for (const r of results)
    deps.log(
      `${r.ok ? '✓' : '✗'} ${r.name} ${r.url} (${r.durationMs} ms)${r.ok ? '' : `: ${r.detail ?? ''}`}`,
    );
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) throw new ContractFailure(failed);
  return results;
}

async function withDiagnostics<T>(
  deps: LoopDeps,
  inputs: ActionInputs,
  ctx: RunContext,
  result: LoopResult,
  args: { namespace?: string; kindCluster?: string; env: Record<string, string> },
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (!inputs.dryRun && deps.diagnostics) {
      const dir = join(ctx.tempDir, `jetscale-diagnostics-${inputs.loop}-${Date.now()}`);
      mkdirSync(dir, { recursive: true });
      result.diagnosticsDir = dir;
      try {
        result.diagnostics = await deps.diagnostics({ ...args, dir });
      } catch (e) {
        deps.log(`collecting diagnostics failed: ${(e as Error).message}`);
      }
    }
    throw error;
  }
}

export async function runLoop(inputs: ActionInputs, ctx: RunContext, deps: LoopDeps): Promise<LoopResult> {
  const names = planNames(inputs, ctx);
  const runner = new Runner(deps, inputs.dryRun);
  const result: LoopResult = { loop: inputs.loop, names, steps: runner.steps, checks: [] };
  if (inputs.dryRun) printPlanHeader(names, deps.log);
  const install = async (tools: Array<keyof ActionInputs['tools']>) =>
    runner.step('tools', async () => {
      if (inputs.dryRun)
        deps.log(
          `# install ${tools.map((t) => `${t} ${inputs.tools[t]}`).join(', ')} (checksum-verified, cached)`,
        );
      return inputs.dryRun ? {} : await deps.installTools(tools);
    });
  switch (inputs.loop) {
    case 'ci-kind':
      await ciKind(inputs, ctx, deps, names, runner, result, install);
      break;
    case 'preview':
      await preview(inputs, ctx, deps, names, runner, result, install);
      break;
    case 'teardown':
      await install(['helm', 'kubectl']);
      writeKubeconfig(inputs, ctx, names);
      await teardown(inputs, deps, names, runner);
      break;
    case 'live':
      writeKubeconfig(inputs, ctx, names);
      await runner.step('smoke checks', async () => {
        result.checks = await contract(deps, inputs, {
          frontendUrl: names.url as string,
          mode: 'smoke',
          deadlineMs: Math.min(inputs.timeoutSeconds, 120) * 1000,
          resolve: inputs.resolve,
        });
      });
      await runner.step('test-command', () =>
        runTestCommand(deps, inputs, ctx, { ...names.env, JETSCALE_URL: names.url as string }),
      );
      break;
  }
  return result;
}

function printPlanHeader(names: PlanNames, log: (line: string) => void): void {
  log(`# plan for loop ${names.loop} (dry run: nothing is executed)`);
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
    if (names[key] !== undefined) log(`#   ${key}: ${names[key]}`);
  }
  if (names.labels)
    log(
      `#   labels: ${Object.entries(names.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  log(
    `#   environment of commands: ${
      Object.entries(names.env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || '(none)'
    }`,
  );
}

type Install = (tools: Array<keyof ActionInputs['tools']>) => Promise<Partial<Record<string, string>>>;

async function ciKind(
  inputs: ActionInputs,
  ctx: RunContext,
  deps: LoopDeps,
  names: PlanNames,
  runner: Runner,
  result: LoopResult,
  install: Install,
): Promise<void> {
  const cluster = names.cluster as string;
  const env = names.env;
  const ns = names.namespace as string;
  const dirs = await install(['kind', 'helm', 'skaffold', 'kubectl']);
  // The post step may run without the main step's PATH additions: tell it where kind is.
  if (dirs.kind)
    deps.saveState(State.KindPath, join(dirs.kind, process.platform === 'win32' ? 'kind.exe' : 'kind'));
  prepareFiles(inputs, ctx, names, deps);
  let created = false;
  try {
    await withDiagnostics(
      deps,
      inputs,
      ctx,
      result,
      { namespace: ns, kindCluster: cluster, env },
      async () => {
        await runner.step('cluster', async () => {
          // Saved before creating: a cancelled or crashed step still leaves the post step enough to clean up.
          if (!inputs.dryRun) {
            deps.saveState(State.ClusterName, cluster);
            deps.saveState(State.ClusterCreated, 'true');
            created = true;
          }
          await deps.exec.run({
            cmd: 'kind',
            args: [
              'create',
              'cluster',
              '--name',
              cluster,
              '--config',
              join(ctx.stackDir, 'kind', 'cluster.ci.yaml'),
              '--image',
              inputs.nodeImage,
              '--kubeconfig',
              env.KUBECONFIG as string,
              '--wait',
              timeoutFlag(Math.min(inputs.timeoutSeconds, 300)),
            ],
            description: 'ephemeral Kind cluster for this run',
          });
        });
        await runner.step('images', async () => {
          for (const image of inputs.images) {
            await deps.exec.run({
              cmd: 'kind',
              args: ['load', 'docker-image', image.ref, '--name', cluster],
              description: `load the CI-built ${image.service} image into the cluster`,
            });
          }
          for (const ref of inputs.kindImages) {
            await deps.exec.run({
              cmd: 'kind',
              args: ['load', 'docker-image', ref, '--name', cluster],
              description: 'kind-images: preload into the cluster',
            });
          }
        });
        await runner.step('namespace', async () => {
          await deps.exec.run({
            cmd: 'kubectl',
            args: ['apply', '-f', '-'],
            env,
            input: namespaceManifest(ns, names.labels ?? {}, {}),
            description: `namespace ${ns}`,
          });
        });
        await runner.step('deploy', async () => {
          await deps.exec.run(
            skaffoldDeploy('ci-kind', inputs, ctx, names, ['--kube-context', names.kubeContext as string]),
          );
        });
        await runner.step('ready', () => waitReady(deps.exec, ns, env, inputs.timeoutSeconds));
        await runner.step('contract checks', async () => {
          result.checks = await withPortForwards(deps, inputs, ns, env, async (frontendUrl, backendUrl) => {
            const checks = await contract(deps, inputs, {
              frontendUrl,
              backendUrl,
              mode: 'full',
              deadlineMs: Math.min(inputs.timeoutSeconds, 180) * 1000,
              expectedSha: inputs.sha,
            });
            await runTestCommand(deps, inputs, ctx, {
              ...env,
              JETSCALE_URL: frontendUrl,
              JETSCALE_BACKEND_URL: backendUrl,
            });
            return checks;
          });
        });
      },
    );
  } finally {
    if (created || inputs.dryRun) {
      await runner.step('delete cluster', async () => {
        await deps.exec.run({
          cmd: 'kind',
          args: ['delete', 'cluster', '--name', cluster],
          description: 'always, even on failure',
        });
        if (!inputs.dryRun) deps.saveState(State.ClusterDeleted, 'true');
      });
    }
  }
}

export async function withPortForwards<T>(
  deps: LoopDeps,
  inputs: ActionInputs,
  ns: string,
  env: Record<string, string>,
  fn: (frontendUrl: string, backendUrl: string) => Promise<T>,
): Promise<T> {
  const forward = (svc: string) =>
    deps.exec.start({
      cmd: 'kubectl',
      args: ['port-forward', '-n', ns, `service/${svc}`, '--address', '127.0.0.1', ':80'],
      env,
      description: `reach ${svc} from the runner`,
    });
  const release = inputs.loop === 'ci-kind' ? CI_RELEASE : '';
  const fe = forward(`${release}-frontend`);
  const be = forward(`${release}-backend`);
  try {
    if (inputs.dryRun) return await fn('http://127.0.0.1:<frontend-port>', 'http://127.0.0.1:<backend-port>');
    const pattern = /Forwarding from 127\.0\.0\.1:(\d+)/;
    const [fm, bm] = await Promise.all([fe.waitFor(pattern, 60_000), be.waitFor(pattern, 60_000)]);
    return await fn(`http://127.0.0.1:${fm[1]}`, `http://127.0.0.1:${bm[1]}`);
  } finally {
    await Promise.all([fe.stop(), be.stop()]);
  }
}

async function preview(
  inputs: ActionInputs,
  ctx: RunContext,
  deps: LoopDeps,
  names: PlanNames,
  runner: Runner,
  result: LoopResult,
  install: Install,
): Promise<void> {
  const ns = names.namespace as string;
  const env = names.env;
  const prNumber = inputs.prNumber as number;
  await install(['helm', 'skaffold', 'kubectl']);
  prepareFiles(inputs, ctx, names, deps);
  const report = async (status: 'success' | 'failure' | 'in_progress', details?: string) => {
    if (!inputs.dryRun && deps.reporter)
      await deps.reporter.reportDeploy({
        url: names.url as string,
        namespace: ns,
        host: names.host as string,
        status,
        details,
      });
  };
  try {
    await withDiagnostics(deps, inputs, ctx, result, { namespace: ns, env }, async () => {
      await runner.step('namespace', async () => {
        const info = await getNamespace(deps.exec, ns, env);
        if (info.exists && !isOwnedBy(info.labels, prNumber))
          throw new Error(
            `Refusing to deploy into namespace ${ns}: it exists but does not carry our ownership labels for PR ${prNumber} ` +
              `(its labels are ${JSON.stringify(info.labels ?? {})}). Nothing was changed; choose another namespace-prefix.`,
          );
        await report('in_progress');
        if (!info.exists) {
          await deps.exec.run({
            cmd: 'kubectl',
            args: ['create', '-f', '-'],
            env,
            input: namespaceManifest(ns, names.labels ?? {}, names.annotations ?? {}),
            description: `namespace ${ns} with our ownership labels`,
          });
        } else {
          await deps.exec.run({
            cmd: 'kubectl',
            args: ['annotate', 'namespace', ns, '--overwrite', `jetscale.ai/sha=${inputs.sha ?? 'unknown'}`],
            env,
            description: 'record the SHA now deployed',
          });
        }
      });
      await runner.step('deploy', () =>
        deps.exec.run(skaffoldDeploy('preview', inputs, ctx, names)).then(() => undefined),
      );
      await runner.step('ready', () => waitReady(deps.exec, ns, env, inputs.timeoutSeconds));
      await runner.step('contract checks', async () => {
        result.checks = await contract(deps, inputs, {
          frontendUrl: names.url as string,
          mode: 'full',
          deadlineMs: Math.min(inputs.timeoutSeconds, 180) * 1000,
          expectedSha: inputs.sha,
          resolve: inputs.resolve,
        });
        await runTestCommand(deps, inputs, ctx, { ...env, JETSCALE_URL: names.url as string });
      });
    });
  } catch (error) {
    await report('failure', error instanceof Error ? error.message : String(error));
    throw error;
  }
  if (!inputs.dryRun && deps.reporter) {
    const open = await deps.reporter.isPullRequestOpen();
    if (open === false) {
      deps.log(`PR #${prNumber} was closed during the deploy: tearing the preview down again.`);
      await teardown(inputs, deps, names, runner);
      result.tornDownAfterClose = true;
      return;
    }
  }
  await report('success');
}

async function teardown(
  inputs: ActionInputs,
  deps: LoopDeps,
  names: PlanNames,
  runner: Runner,
): Promise<void> {
  const ns = names.namespace as string;
  const env = names.env;
  const prNumber = inputs.prNumber as number;
  await runner.step('teardown', async () => {
    const info = await getNamespace(deps.exec, ns, env);
    if (inputs.dryRun) deps.log('# (dry run: assuming the namespace exists and carries our labels)');
    else if (!info.exists) {
      deps.log(`Namespace ${ns} does not exist: nothing to tear down.`);
      return;
    } else if (!isOwnedBy(info.labels, prNumber)) {
      throw new TeardownRefused(ns, prNumber, info.labels);
    }
    await deps.exec.run({
      cmd: 'helm',
      args: [
        'uninstall',
        names.release as string,
        '--namespace',
        ns,
        '--wait',
        '--timeout',
        timeoutFlag(inputs.timeoutSeconds),
        '--ignore-not-found',
      ],
      env,
      description: 'remove the release (its hooks and resources)',
    });
    await deps.exec.run({
      cmd: 'kubectl',
      args: [
        'delete',
        'namespace',
        ns,
        '--ignore-not-found',
        '--wait=true',
        `--timeout=${timeoutFlag(inputs.timeoutSeconds)}`,
      ],
      env,
      description: 'remove the namespace we created (checked: it carries our labels)',
    });
  });
  if (!inputs.dryRun && deps.reporter) await deps.reporter.reportTeardown();
}

/** Renders the planned commands of a dry run, for --json and the action's `plan` output. */
export function planCommands(
  exec: Executor,
): Array<{ command: string; description?: string; env?: Record<string, string>; cwd?: string }> {
  return exec.commands.map((c) => ({
    command: formatCommand({ cmd: c.cmd, args: c.args }),
    description: c.description,
    env: c.env,
    cwd: c.cwd,
  }));
}
