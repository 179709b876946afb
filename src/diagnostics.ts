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

interface PodSummary {
  namespace: string;
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  reason: string | undefined;
}

/** Collects diagnostics into opts.dir and returns a short, one-line summary of what was found. */
export async function collectDiagnostics(executor: Executor, opts: DiagnosticsOptions): Promise<string> {
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

  if (notReady.length > 0) await mkdir(join(opts.dir, 'logs'), { recursive: true });
  for (const pod of notReady) {
    const base = join('logs', `${pod.namespace}_${pod.name}`);
    const podArgs = ['logs', pod.name, '--namespace', pod.namespace, '--all-containers', '--prefix'];
    await run(`${base}.log`, podArgs, `logs of pod ${pod.name} (not Ready)`);
    if (pod.restarts > 0) {
      await run(
        `${base}.previous.log`,
        [...podArgs, '--previous'],
        `logs of the previous run of pod ${pod.name}`,
      );
    }
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
  ].join('; ');
  const text = `${summary}${kindNote}${failures.length ? `; failed: ${failures.join(', ')}` : ''}`;
  await writeFile(join(opts.dir, 'summary.txt'), `${text}\n`);
  return text;
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
        containerStatuses?: Array<{
          restartCount?: number;
          state?: { waiting?: { reason?: string }; terminated?: { reason?: string } };
        }>;
      };
    };
    const containers = pod.status?.containerStatuses ?? [];
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
    };
  });
}
