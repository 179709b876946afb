/**
 * Pure builders of every command the loops run (kind, kubectl, helm, skaffold, the test command): argv and
 * environment only, no I/O, so tests check them without an executor and a dry run prints exactly these.
 */
import type { Command } from './executor.js';

type Env = Record<string, string>;

const seconds = (s: number) => `${s}s`;

export const kind = {
  createCluster(a: {
    name: string;
    config: string;
    image: string;
    kubeconfig: string;
    /** Wait this long for the control plane to be Ready; unset: return once kubeadm and the CNI are set up. */
    waitSeconds?: number;
  }): Command {
    return {
      cmd: 'kind',
      args: [
        'create',
        'cluster',
        '--name',
        a.name,
        '--config',
        a.config,
        '--image',
        a.image,
        '--kubeconfig',
        a.kubeconfig,
        ...(a.waitSeconds === undefined ? [] : ['--wait', seconds(a.waitSeconds)]),
      ],
      description: 'ephemeral Kind cluster for this job',
    };
  },
  /** The clusters kind knows on this Docker engine, one name per line. */
  getClusters(assume: string[] = []): Command {
    return {
      cmd: 'kind',
      args: ['get', 'clusters'],
      silent: true,
      description: `is the name taken? (a dry run assumes ${assume.length ? assume.join(', ') : 'no cluster'})`,
      dryRunStdout: assume.join('\n'),
    };
  },
  /** The node containers of a cluster, one per line; none (and exit 0) while `kind create` has not made them yet. */
  getNodes(cluster: string): Command {
    return {
      cmd: 'kind',
      args: ['get', 'nodes', '--name', cluster],
      silent: true,
      allowFailure: true,
      description: 'are the node containers there yet?',
      dryRunStdout: `${cluster}-control-plane`,
    };
  },

  deleteCluster(name: string, why = 'always, even on failure'): Command {
    return { cmd: 'kind', args: ['delete', 'cluster', '--name', name], description: why };
  },
};

export const docker = {
  /**
   * Every image into one node in one stream: `docker save` of them all (shared layers once, no temp file) piped into
   * the node's containerd, without unpacking. The kubelet's runtime unpacks an image when a container first uses it,
   * in parallel with the rest of the deploy; `kind load` unpacks every layer before it returns, and that took most
   * of its time (README: the bench:ci-kind figures).
   */
  importImages(refs: string[], node: string, why: string): Command {
    return {
      cmd: 'bash',
      args: [
        '-o',
        'pipefail',
        '-c',
        'node="$1"; shift; docker save "$@" | docker exec -i "$node" ctr --namespace=k8s.io images import --all-platforms --digests --no-unpack -',
        'import-images',
        node,
        ...refs,
      ],
      description: why,
    };
  },
  /** Whether containerd answers in a Kind node container (images can be imported before the cluster is up). */
  nodeRuntimeReady(node: string): Command {
    return {
      cmd: 'docker',
      args: ['exec', node, 'ctr', '--namespace', 'k8s.io', 'version'],
      silent: true,
      allowFailure: true,
      description: `does containerd answer in ${node} yet?`,
    };
  },
};

export const kubectl = {
  /** `assume`: what a dry run takes the answer to be (the namespace absent, or present with these labels). */
  getNamespace(
    ns: string,
    env: Env,
    assume: 'absent' | { labels: Env; annotations: Env } = 'absent',
  ): Command {
    return {
      cmd: 'kubectl',
      args: ['get', 'namespace', ns, '--ignore-not-found', '-o', 'json'],
      env,
      retrySafe: true,
      silent: true,
      description: `does the namespace exist, and is it ours? (a dry run assumes ${assume === 'absent' ? 'it does not exist' : 'it is ours'})`,
      dryRunStdout:
        assume === 'absent'
          ? ''
          : JSON.stringify({
              metadata: { name: ns, uid: '<uid>', resourceVersion: '<version>', ...assume },
            }),
    };
  },
  /** Namespaces carrying the labels of `selector` (a dry run of the plan alone takes it there are none). */
  listNamespaces(selector: string, env: Env, why: string): Command {
    return {
      cmd: 'kubectl',
      args: ['get', 'namespaces', '-l', selector, '-o', 'json'],
      env,
      retrySafe: true,
      silent: true,
      description: why,
      dryRunStdout: JSON.stringify({ items: [] }),
    };
  },
  /** `create` (not apply): fails if someone created the namespace since we looked. */
  createFromStdin(manifest: string, env: Env, why: string): Command {
    return { cmd: 'kubectl', args: ['create', '-f', '-'], env, input: manifest, description: why };
  },
  applyFromStdin(manifest: string, env: Env, why: string): Command {
    return {
      cmd: 'kubectl',
      args: ['apply', '-f', '-'],
      env,
      retrySafe: true,
      input: manifest,
      description: why,
    };
  },
  /**
   * One merge patch of a namespace's labels and annotations, only if it is still at `resourceVersion` (the version
   * the ownership check read): the API server refuses it with a Conflict otherwise, and nothing changes. Not
   * retrySafe: a repeat of one that landed would meet that Conflict.
   */
  patchNamespace(
    ns: string,
    meta: { labels?: Env; annotations: Env; resourceVersion: string },
    env: Env,
    why: string,
  ): Command {
    return {
      cmd: 'kubectl',
      args: ['patch', 'namespace', ns, '--type=merge', '-p', JSON.stringify({ metadata: meta })],
      env,
      description: why,
    };
  },
  /**
   * ConfigMaps of a namespace (those matching `selector`, when given); none when the namespace does not exist.
   * `assume`: what a dry run takes the answer to be.
   */
  listConfigMaps(ns: string, env: Env, why: string, selector?: string, assume: object[] = []): Command {
    return {
      cmd: 'kubectl',
      args: ['get', 'configmaps', '-n', ns, ...(selector ? ['-l', selector] : []), '-o', 'json'],
      env,
      retrySafe: true,
      silent: true,
      description: why,
      dryRunStdout: JSON.stringify({ items: assume }),
    };
  },
  listWorkloads(ns: string, env: Env): Command {
    return {
      cmd: 'kubectl',
      args: ['get', 'deployments,statefulsets,jobs', '-n', ns, '-o', 'json'],
      env,
      retrySafe: true,
      silent: true,
      description:
        'list workloads; then wait for each Job (migrations), then rollout status of each StatefulSet and Deployment',
      // The plan shows one wait of each kind for what the chart will have.
      dryRunStdout: JSON.stringify({
        items: ['Deployment', 'StatefulSet', 'Job'].map((kind) => ({ kind, metadata: { name: '<each>' } })),
      }),
    };
  },
  rolloutStatus(ref: string, ns: string, timeoutSeconds: number, env: Env): Command {
    return {
      cmd: 'kubectl',
      args: ['rollout', 'status', ref, '-n', ns, `--timeout=${seconds(timeoutSeconds)}`],
      env,
      retrySafe: true,
    };
  },
  /** One Job's status, polled until it is Complete or Failed (`kubectl wait` takes one condition only). */
  /**
   * The release's migration Jobs (or seed Jobs; ours: the chart's labels on them), to find the ones that Failed,
   * or to wait for the seeds.
   */
  migrationJobs(
    release: string,
    ns: string,
    env: Env,
    task: 'migration' | 'seed' = 'migration',
    why = 'migration Jobs of this release that failed before (deleted, so this deploy runs them again)',
    /** The Jobs a dry run takes the answer to name. */
    assume: string[] = [],
  ): Command {
    return {
      cmd: 'kubectl',
      args: [
        'get',
        'jobs',
        '-n',
        ns,
        '-l',
        `app.kubernetes.io/instance=${release},app.kubernetes.io/component=${task},app.kubernetes.io/managed-by=Helm`,
        '-o',
        'json',
      ],
      env,
      retrySafe: true,
      silent: true,
      description: why,
      dryRunStdout: JSON.stringify({ items: assume.map((name) => ({ metadata: { name } })) }),
    };
  },
  /** The release's pods, polled while a deploy runs: is one of them crash-looping? */
  releasePods(release: string, ns: string, env: Env): Command {
    return {
      cmd: 'kubectl',
      args: ['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'json'],
      env,
      retrySafe: true,
      silent: true,
      description: 'is a pod of this release crash-looping (polled while the deploy runs)',
    };
  },
  deleteJob(name: string, ns: string, env: Env, why: string): Command {
    return {
      cmd: 'kubectl',
      args: ['delete', 'job', name, '-n', ns, '--ignore-not-found', '--cascade=foreground', '--wait=true'],
      env,
      retrySafe: true,
      description: why,
    };
  },
  getJob(name: string, ns: string, env: Env): Command {
    return {
      cmd: 'kubectl',
      args: ['get', 'job', name, '-n', ns, '-o', 'json'],
      env,
      retrySafe: true,
      silent: true,
      description: `is job ${name} Complete or Failed (polled)`,
      dryRunStdout: JSON.stringify({ status: { conditions: [{ type: 'Complete', status: 'True' }] } }),
    };
  },
  /** The last lines of a Job's pods' logs: what a failed migration said. */
  jobLogs(name: string, ns: string, env: Env, tail = 50): Command {
    return {
      cmd: 'kubectl',
      args: ['logs', `job/${name}`, '-n', ns, '--all-containers', `--tail=${tail}`],
      env,
      retrySafe: true,
      silent: true,
      allowFailure: true,
      description: `last log lines of job ${name}`,
    };
  },
  portForward(ns: string, service: string, env: Env, port = 80): Command {
    return {
      cmd: 'kubectl',
      args: ['port-forward', '-n', ns, `service/${service}`, '--address', '127.0.0.1', `:${port}`],
      env,
      description: `reach ${service} from the runner`,
    };
  },
  /**
   * Deletes the namespace only if it is still the object we checked, unchanged: the API server refuses the
   * delete (409) when the UID or the resourceVersion differs, so a namespace re-created or relabelled by someone
   * else since the check is never removed. Exits non-zero with NotFound when it is already gone. Not retrySafe
   * for the same reason as patchNamespace: the teardown looks again before a second try (src/loops/teardown.ts).
   */
  deleteNamespaceIf(ns: string, uid: string, resourceVersion: string, env: Env): Command {
    return {
      cmd: 'kubectl',
      args: ['delete', '--raw', `/api/v1/namespaces/${ns}`, '-f', '-'],
      env,
      silent: true,
      input: JSON.stringify({
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        preconditions: { uid, resourceVersion },
        propagationPolicy: 'Background',
      }),
      allowFailure: true,
      description: `remove the namespace we created, only if it is still the object checked (UID ${uid})`,
    };
  },
  /** `allowFailure`: a wait that may run out, the caller reading why (the preview waiting for an old namespace). */
  waitDeleted(
    ns: string,
    timeoutSeconds: number,
    env: Env,
    why = 'until the namespace is gone',
    allowFailure = false,
  ): Command {
    return {
      cmd: 'kubectl',
      args: ['wait', '--for=delete', `namespace/${ns}`, `--timeout=${seconds(timeoutSeconds)}`],
      env,
      retrySafe: true,
      allowFailure,
      description: why,
    };
  },
  currentContext(env: Env): Command {
    return { cmd: 'kubectl', args: ['config', 'current-context'], env, silent: true };
  },
};

export const helm = {
  /**
   * The release's revisions, oldest first, as JSON (`[{revision, status, description, …}]`). Exits 1 with
   * "release: not found" when there is no release yet: allowed, the caller reads that as no history.
   */
  history(release: string, ns: string, kubeContext: string, env: Env, why: string): Command {
    return {
      cmd: 'helm',
      args: [
        'history',
        release,
        '--namespace',
        ns,
        '--kube-context',
        kubeContext,
        '--max',
        '20',
        '-o',
        'json',
      ],
      env,
      silent: true,
      allowFailure: true,
      description: why,
      dryRunStdout: '[]',
    };
  },
  /** Helm's rollback to `revision`, waiting until its workloads are ready again. */
  rollback(
    release: string,
    revision: number,
    ns: string,
    kubeContext: string,
    timeoutSeconds: number,
    env: Env,
  ): Command {
    return {
      cmd: 'helm',
      args: [
        'rollback',
        release,
        String(revision),
        '--namespace',
        ns,
        '--kube-context',
        kubeContext,
        '--wait',
        '--timeout',
        seconds(timeoutSeconds),
      ],
      env,
      description: `the deploy failed: back to revision ${revision}, the last one deployed before it`,
    };
  },
  uninstall(release: string, ns: string, timeoutSeconds: number, env: Env): Command {
    return {
      cmd: 'helm',
      args: [
        'uninstall',
        release,
        '--namespace',
        ns,
        '--wait',
        '--timeout',
        seconds(timeoutSeconds),
        '--ignore-not-found',
      ],
      env,
      retrySafe: true,
      description: 'remove the release (its hooks and resources)',
    };
  },
};

export interface SkaffoldDeploy {
  profile: string;
  namespace: string;
  images: Array<{ service: string; ref: string }>;
  kubeContext?: string;
  stackDir: string;
  /** The run's own Skaffold file (src/loops/build.ts); unset: the stack's skaffold.yaml. */
  file?: string;
  env: Env;
  /**
   * Skaffold's own wait for the rollout (default on). Off where the loop waits itself (waitReady: by watch, and it
   * stops as soon as a failure is certain, src/loops/watch.ts): Skaffold's poll added seconds to every preview.
   */
  statusCheck?: boolean;
}

/**
 * `skaffold deploy` of prebuilt images, or `skaffold run` (build from the service contexts) without any.
 * With prebuilt images, --default-repo= keeps Skaffold from renaming them after a cluster's advertised local
 * registry (kind's local-registry-hosting ConfigMap), which would point the pods at images nobody pushed.
 */
export function skaffoldDeploy(a: SkaffoldDeploy): Command {
  const images = a.images.flatMap((i) => ['--images', `${i.service}=${i.ref}`]);
  if (images.length > 0) images.push('--default-repo=');
  const verb = images.length > 0 ? 'deploy' : 'run';
  return {
    cmd: 'skaffold',
    args: [
      verb,
      ...(a.file ? ['-f', a.file] : []),
      '-p',
      a.profile,
      ...(a.kubeContext ? ['--kube-context', a.kubeContext] : []),
      '--namespace',
      a.namespace,
      ...images,
      `--status-check=${a.statusCheck ?? true}`,
    ],
    cwd: a.stackDir,
    env: a.env,
    description:
      verb === 'deploy'
        ? `deploy prebuilt images with the ${a.profile} profile`
        : `build the declared services' contexts and deploy with the ${a.profile} profile`,
  };
}

export function testCommand(script: string, cwd: string, env: Env): Command {
  return { cmd: 'bash', args: ['-euo', 'pipefail', '-c', script], cwd, env, description: 'test-command' };
}

export function tilt(verb: 'up' | 'down', tiltfile: string): Command {
  return { cmd: 'tilt', args: [verb, '--file', tiltfile], allowFailure: verb === 'down' };
}
