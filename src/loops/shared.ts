/**
 * Steps more than one loop takes: the namespace ownership check, waiting for readiness, the contract checks,
 * the test command, port-forwards and diagnostics. Each runs through the loop's dependencies, so a dry run
 * prints it instead.
 */
import { join } from 'node:path';
import YAML from 'yaml';
import { kubectl, testCommand } from '../commands.js';
import { type AnyLoop, Ownership } from '../constants.js';
import { assertContract, type CheckResult, ContractFailure } from '../contract.js';
import { type DeclaredService, LOOP_STAGE } from '../declaration.js';
import { describeJobFailure, lastLogLines, parseJobs } from '../diagnostics.js';
import { CommandError } from '../executor.js';
import { failureDetail } from '../redact.js';
import type { ImageOverride } from '../validate.js';
import { chartValues } from './plan.js';
import {
  type ContractRequest,
  type LoopContext,
  type LoopDeps,
  OwnershipRefused,
  type PortForward,
} from './types.js';
import { JobFailed, watched } from './watch.js';

export interface NamespaceInfo {
  exists: boolean;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Set when the namespace is being deleted (Terminating) since then. */
  deletionTimestamp?: string;
  /** While Terminating: what the namespace controller says holds it (its True conditions' messages). */
  holding?: string[];
}

export async function getNamespace<L extends AnyLoop>(
  ctx: LoopContext<L>,
  ns: string,
  assume: 'absent' | 'ours' = 'absent',
): Promise<NamespaceInfo> {
  const out = await ctx.deps.exec.run(
    kubectl.getNamespace(
      ns,
      ctx.names.env,
      assume === 'ours'
        ? { labels: ctx.names.labels ?? {}, annotations: ctx.names.annotations ?? {} }
        : 'absent',
    ),
  );
  if (!out.stdout.trim()) return { exists: false };
  const { metadata: m = {}, status } = JSON.parse(out.stdout) as {
    metadata?: {
      uid?: string;
      resourceVersion?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
      deletionTimestamp?: string;
    };
    status?: { conditions?: Array<{ status?: string; message?: string }> };
  };
  return {
    exists: true,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    labels: m.labels ?? {},
    annotations: m.annotations ?? {},
    ...(m.deletionTimestamp
      ? {
          deletionTimestamp: m.deletionTimestamp,
          holding: (status?.conditions ?? []).flatMap((c) =>
            c.status === 'True' && c.message ? [c.message] : [],
          ),
        }
      : {}),
  };
}

export function namespaceManifest(
  name: string,
  labels: Record<string, string>,
  annotations: Record<string, string>,
): string {
  return YAML.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations } });
}

const JOB_POLL_MS = 2000;

/**
 * Waits until every Job completed (the migrations, first: every service's pods wait for theirs), then every
 * StatefulSet and Deployment is rolled out — not merely applied. A Job that Failed ends the wait at once with
 * JobFailed quoting its last log lines, instead of a rollout timing out behind it. `seeds: false` leaves the seed
 * Jobs to a step of their own (src/loops/seed.ts): the services serve without them.
 */
export async function waitReady<L extends AnyLoop>(
  ctx: LoopContext<L>,
  ns: string,
  opts: { seeds?: boolean } = {},
): Promise<void> {
  const release = 'release' in ctx.names ? (ctx.names.release as string | undefined) : undefined;
  await watched(ctx, release, ns, (signal) => waitWorkloads(ctx, ns, opts, signal));
}

async function waitWorkloads<L extends AnyLoop>(
  ctx: LoopContext<L>,
  ns: string,
  opts: { seeds?: boolean },
  signal: AbortSignal | undefined,
): Promise<void> {
  const { exec } = ctx.deps;
  const { env } = ctx.names;
  const t = ctx.inputs.timeoutSeconds;
  const out = await exec.run({ ...kubectl.listWorkloads(ns, env), signal });
  const items = out.stdout.trim()
    ? ((
        JSON.parse(out.stdout) as {
          items?: Array<{ kind: string; metadata: { name: string; labels?: Record<string, string> } }>;
        }
      ).items ?? [])
    : [];
  const seed = (i: (typeof items)[number]) => i.metadata.labels?.['app.kubernetes.io/component'] === 'seed';
  await waitJobs(
    ctx,
    ns,
    items.filter((i) => i.kind === 'Job' && (opts.seeds !== false || !seed(i))).map((i) => i.metadata.name),
    signal,
  );
  for (const kind of ['StatefulSet', 'Deployment'])
    for (const item of items.filter((i) => i.kind === kind))
      await exec.run({
        ...kubectl.rolloutStatus(`${kind.toLowerCase()}/${item.metadata.name}`, ns, t, env),
        signal,
      });
}

/**
 * A migration Job that Failed keeps its name while the values stay the same (its name is a hash of its pod
 * template), so a redeploy would meet the old failure again without running anything. The release's Failed
 * migration Jobs (found by the chart's labels, so only ours) are removed before the deploy, which re-creates them:
 * the migration runs again, as a re-run of the workflow after a fix outside the values expects.
 */
export async function retryFailedMigrations<L extends AnyLoop>(
  ctx: LoopContext<L>,
  release: string,
  ns: string,
): Promise<void> {
  const { exec } = ctx.deps;
  const { env } = ctx.names;
  const jobs = parseJobs((await exec.run(kubectl.migrationJobs(release, ns, env))).stdout);
  for (const job of jobs.filter((j) => j.failed)) {
    ctx.deps.log(
      `migration Job ${job.name} failed before (${job.reason ?? 'Failed'}): removed, the deploy runs it again`,
    );
    await exec.run(
      kubectl.deleteJob(
        job.name,
        ns,
        env,
        `remove the failed migration ${job.name}: the deploy re-creates it and it runs again`,
      ),
    );
  }
}

/** Waits for each named Job, in order, until it is Complete, within the loop's timeout from now. */
export async function waitJobs<L extends AnyLoop>(
  ctx: LoopContext<L>,
  ns: string,
  names: string[],
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + ctx.inputs.timeoutSeconds * 1000;
  for (const name of names) await waitJob(ctx, ns, name, deadline, signal);
}

async function waitJob<L extends AnyLoop>(
  ctx: LoopContext<L>,
  ns: string,
  name: string,
  deadline: number,
  signal?: AbortSignal,
): Promise<void> {
  const { exec } = ctx.deps;
  const { env } = ctx.names;
  const sleep = ctx.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    const [job] = parseJobs((await exec.run({ ...kubectl.getJob(name, ns, env), signal })).stdout);
    if (job?.complete) return;
    if (job?.failed) {
      const logs = await exec.run(kubectl.jobLogs(name, ns, env));
      throw new JobFailed(
        describeJobFailure(job, lastLogLines(logs.exitCode === 0 ? logs.stdout : '')),
        job.of?.task,
      );
    }
    if (Date.now() >= deadline)
      throw new Error(
        `job ${name} did not complete within the timeout (${ctx.inputs.timeoutSeconds}s); its logs: kubectl logs job/${name} -n ${ns}`,
      );
    await sleep(JOB_POLL_MS);
  }
}

/**
 * The values file Skaffold is handed (JETSCALE_VALUES_FILE): the timeout, the owner labels, whether to seed, each
 * service's image, then the values and set inputs. The owner labels (all but managed-by, which Helm sets) go on
 * every object. `seed`: a preview's choice (src/loops/seed.ts); ci-kind's new cluster always seeds.
 */
export function writeValuesFile<L extends AnyLoop>(
  ctx: LoopContext<L>,
  images: ImageOverride[],
  seed = ctx.inputs.loop === 'ci-kind',
): void {
  const { inputs, names, deps } = ctx;
  const file = names.env.JETSCALE_VALUES_FILE;
  if (!file) return;
  const { [Ownership.ManagedByLabel]: _, ...owner } =
    ('labels' in names ? (names.labels as Record<string, string>) : undefined) ?? {};
  deps.writeFile(
    file,
    YAML.stringify(
      chartValues({ ...inputs, images }, owner, {
        built: ctx.build.artifacts.map((a) => a.service),
        declared: ctx.declaration.services,
        seed,
      }),
    ),
    'chart values from the timeout, the images, and the values and set inputs',
  );
}

/** Runs the declared checks of the loop's stage; throws ContractFailure naming every failed check. */
export async function contract<L extends AnyLoop>(
  ctx: LoopContext<L>,
  req: Omit<ContractRequest, 'checks' | 'stage' | 'release'>,
): Promise<CheckResult[]> {
  const results = await ctx.deps.contract({
    ...req,
    checks: ctx.declaration.checks,
    stage: LOOP_STAGE[ctx.inputs.loop] ?? 'ci',
    release: 'release' in ctx.names ? (ctx.names.release as string | undefined) : undefined,
  });
  ctx.result.checks = results;
  for (const r of results)
    ctx.deps.log(`${r.ok ? '✓' : '✗'} ${r.name} ${r.url} (${r.durationMs} ms)${r.ok ? '' : `: ${r.detail}`}`);
  assertContract(results);
  return results;
}

export async function runTestCommand<L extends AnyLoop>(
  ctx: LoopContext<L>,
  env: Record<string, string>,
): Promise<void> {
  if (!ctx.inputs.testCommand) return;
  await ctx.deps.exec.run(testCommand(ctx.inputs.testCommand, ctx.run.workspace, env));
}

/** Port-forwards to every declared service that listens while fn runs: service name → local URL. */
export function withPortForwards<T, L extends AnyLoop>(
  ctx: LoopContext<L>,
  ns: string,
  release: string,
  fn: (urls: Record<string, string>) => Promise<T>,
): Promise<T> {
  return forwardServices(ctx.deps, ctx.names.env, ns, release, ctx.declaration.services, fn);
}

/** The same, for a caller without a loop (the CLI's test:ci). */
export async function forwardServices<T>(
  deps: Pick<LoopDeps, 'portForward'>,
  env: Record<string, string>,
  ns: string,
  release: string,
  services: readonly DeclaredService[],
  fn: (urls: Record<string, string>) => Promise<T>,
): Promise<T> {
  const listening = services.filter((s) => s.port !== undefined);
  // All start at once; whichever started is stopped again, also when another one failed.
  const settled = await Promise.allSettled(
    listening.map((s) =>
      deps.portForward(kubectl.portForward(ns, `${release}-${s.name}`, env, s.servicePort)),
    ),
  );
  const started = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  try {
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return await fn(Object.fromEntries(listening.map((s, i) => [s.name, (started[i] as PortForward).url])));
  } finally {
    await Promise.all(started.map((pf) => pf.stop()));
  }
}

/**
 * What a test-command is told: JETSCALE_URL, the service that serves "/" (else the first with a route, else the
 * first), and JETSCALE_<SERVICE>_URL for each (JETSCALE_BACKEND_URL for the backend).
 */
export function serviceUrlEnv(
  services: readonly DeclaredService[],
  urls: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, url] of Object.entries(urls))
    env[`JETSCALE_${name.toUpperCase().replace(/-/g, '_')}_URL`] = url;
  const root =
    services.find((s) => Object.values(s.routes).some((r) => r.path === '/')) ??
    services.find((s) => Object.keys(s.routes).length > 0 && urls[s.name]) ??
    services.find((s) => urls[s.name]);
  if (root && urls[root.name]) env.JETSCALE_URL = urls[root.name] as string;
  return env;
}

/**
 * On failure, collects diagnostics into a fresh directory of the run's private temp dir, then rethrows. Not when
 * the failure is that the namespace or cluster is someone else's: what is in it is not ours to collect.
 */
export async function withDiagnostics<T, L extends AnyLoop>(
  ctx: LoopContext<L>,
  args: { namespace?: string; kindCluster?: string },
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (ctx.deps.diagnostics && !(error instanceof OwnershipRefused)) {
      const dir = join(ctx.run.tempDir, `diagnostics-${ctx.inputs.loop}`);
      ctx.result.diagnosticsDir = dir;
      try {
        const found = await ctx.deps.diagnostics({ ...args, env: ctx.names.env, dir });
        ctx.result.diagnostics = found.summary;
        ctx.result.firstFailure = found.firstFailure;
      } catch (e) {
        ctx.deps.log(`collecting diagnostics failed: ${(e as Error).message}`);
      }
    }
    throw error;
  }
}

/**
 * What a failure may say outside the log (PR comment, job summary): the failing command's program and why it
 * ran, its exit code and the last lines of its stderr, never its full command line or environment; redacted.
 */
export function publicFailure(error: unknown): string {
  if (error instanceof CommandError) {
    const what = error.command.description ?? `${error.command.cmd} ${error.command.args[0] ?? ''}`.trim();
    return failureDetail(
      `${error.command.cmd} (${what}) failed with exit code ${error.result.exitCode}` +
        (error.result.stderr.trim()
          ? `:\n${error.result.stderr.trim().split('\n').slice(-10).join('\n')}`
          : ''),
    );
  }
  return failureDetail(error instanceof Error ? error.message : String(error));
}

/**
 * What failed first, for the PR comment itself: the first failed contract check (its URL and what came back), else
 * what the diagnostics found (the pod that is not Ready: its reason, last event and last log lines), else the
 * error's first line. Redacted when rendered (src/github/render.ts).
 */
export function firstFailure<L extends AnyLoop>(ctx: LoopContext<L>, error: unknown): string {
  if (error instanceof ContractFailure) {
    const c = error.failed[0];
    if (c) return `contract check ${c.name} failed at ${c.url}: ${c.detail || 'failed'}`;
  }
  // What the migration's (or seed's) pods said, not the pods of the diagnostics that only waited for it.
  if (error instanceof JobFailed) return failureDetail(error.message, 12, 1500);
  const step = ctx.result.steps.find((s) => !s.ok)?.name;
  const where = step ? `step ${step}: ` : '';
  // The cluster's view explains a deploy or a wait that failed; any other step failed for its own reason.
  if (ctx.result.firstFailure && (step === 'deploy' || step === 'ready'))
    return `${where}${ctx.result.firstFailure}`;
  return `${where}${publicFailure(error).split('\n')[0]}`;
}
