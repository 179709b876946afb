/**
 * Diagnostics for a failed loop: what Kubernetes says about the namespace (objects, events, pod
 * descriptions, logs of the pods that are not Ready) and, for kind, the node logs. Every command goes
 * through the Executor with allowFailure, so collecting never throws because the cluster is broken;
 * each output lands in a file in `dir`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, type ExecResult, type Executor, formatCommand } from './executor.js';

export interface DiagnosticsOptions {
  /** Path of the kubeconfig (passed as --kubeconfig). */
  kubeconfig?: string;
  /** Kube context (passed as --context). */
  context?: string;
  /** Namespace to look at; all namespaces when unset. */
  namespace?: string;
  /** kind cluster name: also run `kind export logs <dir>/kind --name <cluster>`. */
  kindCluster?: string;
  /** Extra environment for every command (e.g. KUBECONFIG, PATH with the installed tools). */
  env?: Record<string, string>;
  /** Directory the files are written to (created if missing). */
  dir: string;
}

export interface PodSummary {
  namespace: string;
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  reason: string | undefined;
  /** A container (or init container) in CrashLoopBackOff: the one restarted most. */
  crashLoop?: { container: string; restarts: number };
}

export interface Diagnostics {
  /** One line: what was collected and which pods are not Ready. */
  summary: string;
  /**
   * What went wrong first, as far as the cluster says: the earliest pod that is not Ready with its reason, its
   * last warning event and the last lines of its log; else the earliest warning event. Not redacted here.
   */
  firstFailure?: string;
}

/** Collects diagnostics into opts.dir; returns a short summary and the first failure found. */
export async function collectDiagnostics(executor: Executor, opts: DiagnosticsOptions): Promise<Diagnostics> {
  await mkdir(opts.dir, { recursive: true });
  const kubeFlags = [
    ...(opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : []),
    ...(opts.context ? ['--context', opts.context] : []),
  ];
  const scope = opts.namespace ? ['--namespace', opts.namespace] : ['--all-namespaces'];
  const where = opts.namespace ? `namespace ${opts.namespace}` : 'all namespaces';
  const files: string[] = [];
  const failures: string[] = [];

  const run = async (
    file: string,
    args: string[],
    description: string,
    cmd = 'kubectl',
  ): Promise<ExecResult> => {
    const command: Command = {
      cmd,
      args: cmd === 'kubectl' ? [...kubeFlags, ...args] : args,
      env: opts.env,
      description,
      allowFailure: true,
      silent: true,
    };
    let result: ExecResult;
    try {
      result = await executor.run(command);
    } catch (error) {
      // The program is missing or could not start: record that instead of failing the collection.
      result = { exitCode: -1, stdout: '', stderr: error instanceof Error ? error.message : String(error) };
    }
    if (result.exitCode !== 0) failures.push(`${file} (exit ${result.exitCode})`);
    if (file) {
      await writeFile(join(opts.dir, file), render(command, result));
      files.push(file);
    }
    return result;
  };

  await run(
    'get-all-events.txt',
    ['get', 'all,events', '-o', 'wide', ...scope],
    `objects and events in ${where}`,
  );
  await run('describe-pods.txt', ['describe', 'pods', ...scope], `pod descriptions in ${where}`);
  const podsJson = await run(
    'pods.json',
    ['get', 'pods', '-o', 'json', ...scope],
    `pod readiness in ${where}`,
  );
  const pods = parsePods(podsJson.stdout);
  const notReady = pods.filter((p) => !p.ready && p.phase !== 'Succeeded');
  const events = parseWarnings(
    (await run('events.json', ['get', 'events', '-o', 'json', ...scope], `events in ${where}`)).stdout,
  );

  const jobsJson = await run('jobs.json', ['get', 'jobs', '-o', 'json', ...scope], `jobs in ${where}`);
  const failedJobs = parseJobs(jobsJson.stdout).filter((j) => j.failed);

  if (notReady.length > 0 || failedJobs.length > 0) await mkdir(join(opts.dir, 'logs'), { recursive: true });
  // A failed migration Job's logs (its pods are Failed, not "not Ready", and may be gone after backoff).
  const migrations: string[] = [];
  for (const job of failedJobs) {
    const logs = await run(
      join('logs', `${job.namespace}_job_${job.name}.log`),
      ['logs', `job/${job.name}`, '--namespace', job.namespace, '--all-containers', '--tail=50'],
      `logs of job ${job.name} (Failed)`,
    );
    if (job.of)
      migrations.push(describeJobFailure(job, lastLogLines(logs.exitCode === 0 ? logs.stdout : '')));
  }
  const lastLines = new Map<string, string[]>();
  for (const pod of notReady) {
    const base = join('logs', `${pod.namespace}_${pod.name}`);
    const podArgs = ['logs', pod.name, '--namespace', pod.namespace, '--all-containers', '--prefix'];
    const now = await run(`${base}.log`, podArgs, `logs of pod ${pod.name} (not Ready)`);
    let logs = now.exitCode === 0 ? now.stdout : '';
    if (pod.restarts > 0) {
      const previous = await run(
        `${base}.previous.log`,
        [...podArgs, '--previous'],
        `logs of the previous run of pod ${pod.name}`,
      );
      // A restarted container's previous run is the one that failed; its current run may have written nothing yet.
      if (previous.exitCode === 0 && previous.stdout.trim()) logs = previous.stdout;
    }
    lastLines.set(pod.name, lastLogLines(logs));
  }

  let kindNote = '';
  if (opts.kindCluster) {
    const kindDir = join(opts.dir, 'kind');
    const result = await run(
      'kind-export-logs.txt',
      ['export', 'logs', kindDir, '--name', opts.kindCluster],
      `node logs of kind cluster ${opts.kindCluster}`,
      'kind',
    );
    kindNote = result.exitCode === 0 ? `; kind logs in ${kindDir}` : '; kind export logs failed';
  }

  const summary = [
    `diagnostics for ${where} in ${opts.dir}: ${files.length} command output(s)`,
    podsJson.exitCode === 0
      ? `${pods.length} pod(s), ${notReady.length} not Ready${notReady.length ? ` (${notReady.map(describePod).join(', ')})` : ''}`
      : 'pods could not be listed',
    ...(failedJobs.length ? [`failed job(s): ${failedJobs.map((j) => j.name).join(', ')}`] : []),
  ].join('; ');
  const text = `${summary}${kindNote}${failures.length ? `; failed: ${failures.join(', ')}` : ''}`;
  await writeFile(join(opts.dir, 'summary.txt'), `${text}\n`);
  return {
    summary: text,
    // A failed migration holds every pod of its service in its wait container: it is what failed first.
    firstFailure: migrations[0] ?? describeFirstFailure(notReady, events, lastLines),
  };
}

/**
 * The last five lines of a pod's log, as the PR comment may quote them: without kubectl's `[pod/…/container] `
 * prefix (so redaction sees each line as the service wrote it), and with any NAME=value line left out (a service
 * printing its environment or configuration on the way down).
 */
export function lastLogLines(logs: string): string[] {
  return logs
    .split('\n')
    .map((l) => l.replace(/^\[pod\/[^\]\s]+\] /, ''))
    .filter((l) => l.trim() !== '')
    .slice(-5)
    .map((l) => (/^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*=/.test(l) ? '[a NAME=value line left out]' : l));
}

interface WarningEvent {
  kind: string;
  name: string;
  reason: string;
  message: string;
  at: string;
}

/** Warning events from `kubectl get events -o json`, earliest first; anything unreadable is none. */
export function parseWarnings(text: string): WarningEvent[] {
  let items: unknown;
  try {
    items = (JSON.parse(text) as { items?: unknown }).items;
  } catch {
    return [];
  }
  if (!Array.isArray(items)) return [];
  return items
    .map((e) => {
      const ev = e as {
        type?: string;
        reason?: string;
        message?: string;
        eventTime?: string | null;
        lastTimestamp?: string | null;
        firstTimestamp?: string | null;
        involvedObject?: { kind?: string; name?: string };
      };
      return {
        type: ev.type,
        kind: ev.involvedObject?.kind ?? '?',
        name: ev.involvedObject?.name ?? '?',
        reason: ev.reason ?? '',
        message: (ev.message ?? '').trim(),
        at: ev.lastTimestamp ?? ev.eventTime ?? ev.firstTimestamp ?? '',
      };
    })
    .filter((e) => e.type === 'Warning')
    .map(({ type: _, ...e }) => e)
    .sort((a, b) => a.at.localeCompare(b.at));
}

/** The pod that is not Ready (its reason, last warning, last log lines), else the earliest warning event. */
export function describeFirstFailure(
  notReady: PodSummary[],
  warnings: WarningEvent[],
  lastLines: Map<string, string[]>,
): string | undefined {
  const pod = notReady[0];
  if (pod) {
    const event = warnings.filter((e) => e.kind === 'Pod' && e.name === pod.name).at(-1);
    const lines = lastLines.get(pod.name) ?? [];
    return [
      `pod ${pod.name} is not Ready: ${pod.reason ?? pod.phase}${pod.restarts > 0 ? ` after ${pod.restarts} restart(s)` : ''}`,
      ...(event ? [`last event: ${event.reason}: ${event.message}`] : []),
      ...(lines.length ? ['last log lines:', ...lines] : []),
    ].join('\n');
  }
  const first = warnings[0];
  return first ? `${first.kind.toLowerCase()}/${first.name}: ${first.reason}: ${first.message}` : undefined;
}

function render(command: Command, result: ExecResult): string {
  const parts = [
    `$ ${formatCommand({ cmd: command.cmd, args: command.args })}`,
    `# exit code ${result.exitCode}`,
  ];
  if (result.stdout) parts.push(result.stdout.replace(/\n$/, ''));
  if (result.stderr.trim()) parts.push('# stderr', result.stderr.replace(/\n$/, ''));
  return `${parts.join('\n')}\n`;
}

function describePod(pod: PodSummary): string {
  const why = pod.reason ?? pod.phase;
  return `${pod.namespace}/${pod.name} ${why}${pod.restarts > 0 ? `, ${pod.restarts} restart(s)` : ''}`;
}

/** Reads `kubectl get pods -o json`; anything unreadable counts as no pods. */
export function parsePods(text: string): PodSummary[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  const items = (doc as { items?: unknown }).items;
  if (!Array.isArray(items)) return [];
  return items.map((item): PodSummary => {
    const pod = item as {
      metadata?: { name?: string; namespace?: string };
      status?: {
        phase?: string;
        reason?: string;
        conditions?: Array<{ type?: string; status?: string }>;
        containerStatuses?: ContainerStatus[];
        initContainerStatuses?: ContainerStatus[];
      };
    };
    const containers = pod.status?.containerStatuses ?? [];
    const [crashLoop] = [...(pod.status?.initContainerStatuses ?? []), ...containers]
      .filter((c) => c.state?.waiting?.reason === 'CrashLoopBackOff')
      .map((c) => ({ container: c.name ?? '(unnamed)', restarts: c.restartCount ?? 0 }))
      .sort((a, b) => b.restarts - a.restarts);
    const waiting = containers
      .map((c) => c.state?.waiting?.reason ?? c.state?.terminated?.reason)
      .find((r) => r !== undefined);
    return {
      namespace: pod.metadata?.namespace ?? 'default',
      name: pod.metadata?.name ?? '(unnamed)',
      phase: pod.status?.phase ?? 'Unknown',
      ready: (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      restarts: containers.reduce((n, c) => n + (c.restartCount ?? 0), 0),
      reason: waiting ?? pod.status?.reason,
      ...(crashLoop ? { crashLoop } : {}),
    };
  });
}

interface ContainerStatus {
  name?: string;
  restartCount?: number;
  state?: { waiting?: { reason?: string }; terminated?: { reason?: string } };
}

/** A Job as diagnostics and waitReady read it. */
export interface JobSummary {
  namespace: string;
  name: string;
  complete: boolean;
  failed: boolean;
  /** The Failed condition's reason and message, e.g. "BackoffLimitExceeded: Job has reached the specified backoff limit". */
  reason?: string;
  /**
   * The service whose migration or seed this is (label app.kubernetes.io/name "<svc>-migrate", component
   * migration; "<svc>-seed", component seed).
   */
  of?: { task: JobTask; service: string };
}

/** The Jobs the chart runs for a service (templates/services/migration.yaml, seed.yaml). */
export type JobTask = 'migration' | 'seed';
const JOB_SUFFIX: Record<JobTask, string> = { migration: '-migrate', seed: '-seed' };

/** One Job (`kubectl get job x -o json`) or a list of them; anything unreadable is none. */
export function parseJobs(text: string): JobSummary[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  const d = doc as { kind?: string; items?: unknown };
  const items = Array.isArray(d.items) ? d.items : d && typeof d === 'object' && !('items' in d) ? [doc] : [];
  return items.map((item): JobSummary => {
    const job = item as {
      metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
      status?: { conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> };
    };
    const conditions = (job.status?.conditions ?? []).filter((c) => c.status === 'True');
    const failed = conditions.find((c) => c.type === 'Failed');
    const labels = job.metadata?.labels ?? {};
    const name = labels['app.kubernetes.io/name'] ?? '';
    const task = labels['app.kubernetes.io/component'] as JobTask;
    const suffix = JOB_SUFFIX[task];
    return {
      namespace: job.metadata?.namespace ?? 'default',
      name: job.metadata?.name ?? '(unnamed)',
      complete: conditions.some((c) => c.type === 'Complete'),
      failed: Boolean(failed),
      reason: failed ? [failed.reason, failed.message].filter(Boolean).join(': ') || undefined : undefined,
      of:
        Object.hasOwn(JOB_SUFFIX, task) && name.endsWith(suffix)
          ? { task, service: name.slice(0, -suffix.length) }
          : undefined,
    };
  });
}

/**
 * What the PR comment says of a failed migration or seed: "migration <svc> failed: " (or "seed <svc>") and the
 * last lines its pods wrote (lastLogLines: NAME=value lines left out), then the Job and why Kubernetes gave up.
 * Redacted when rendered.
 */
export function describeJobFailure(job: JobSummary, lines: string[]): string {
  return [
    `${job.of ? `${job.of.task} ${job.of.service}` : `job ${job.name}`} failed: ${lines.length ? lines.join('\n') : '(its pods wrote no log lines)'}`,
    `(job/${job.name}${job.reason ? `: ${job.reason}` : ''})`,
  ].join('\n');
}
