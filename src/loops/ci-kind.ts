/**
 * ci-kind: an ephemeral Kind cluster for this job, the CI-built images loaded into it, deploy, wait, contract
 * checks, and the cluster deleted even on failure (the post step deletes it if this step never got there).
 */
import { join } from 'node:path';
import { docker, kind, kubectl } from '../commands.js';
import { type AnyLoop, State } from '../constants.js';
import { CommandError } from '../executor.js';
import { deployCommand } from './build.js';
import {
  contract,
  namespaceManifest,
  runTestCommand,
  serviceUrlEnv,
  waitReady,
  withDiagnostics,
  withPortForwards,
} from './shared.js';
import { type LoopBody, type LoopContext, OwnershipRefused } from './types.js';

export const ciKind: LoopBody<'ci-kind'> = async (ctx) => {
  const { inputs, names, deps } = ctx;
  const cluster = names.cluster;
  const ns = names.namespace;
  const release = names.release;
  const env = names.env;
  const dirs = await ctx.step('tools', () => deps.installTools(['kind', 'helm', 'skaffold', 'kubectl']));
  // The post step may run without the main step's PATH additions: tell it where kind is.
  if (dirs.kind)
    deps.saveState(State.KindPath, join(dirs.kind, process.platform === 'win32' ? 'kind.exe' : 'kind'));
  let created = false;
  try {
    await withDiagnostics(ctx, { namespace: ns, kindCluster: cluster }, async () => {
      // A name already taken is never ours: refused before anything is created or loaded.
      const taken = (await deps.exec.run(kind.getClusters())).stdout.split('\n').map((l) => l.trim());
      if (taken.includes(cluster))
        throw new OwnershipRefused(
          `Kind cluster ${cluster} already exists and was not created by this job: left alone, not deleted.`,
        );
      // The images go into the node while the control plane starts (an import needs only the node container's
      // containerd, up seconds after `kind create` makes it): loading no longer waits for the whole cluster.
      const creating = ctx.step('cluster', async () => {
        // The name is this job's own (a random instance id), so it is recorded before creating: a cancelled
        // step still leaves the post step enough to clean up.
        deps.saveState(State.ClusterName, cluster);
        deps.saveState(State.ClusterCreated, 'true');
        created = true;
        try {
          await deps.exec.run(
            kind.createCluster({
              name: cluster,
              config: join(ctx.run.stackDir, 'kind', 'cluster.ci.yaml'),
              image: inputs.nodeImage,
              kubeconfig: env.KUBECONFIG as string,
              // no --wait: the deploy can go in while the node turns Ready (its pods are scheduled then), and the
              // ready step waits for every workload anyway
            }),
          );
        } catch (error) {
          if (error instanceof CommandError && /already exist/i.test(error.result.stderr)) {
            created = false;
            deps.saveState(State.ClusterCreated, 'false');
            throw new OwnershipRefused(
              `Kind cluster ${cluster} already exists and was not created by this job: left alone, not deleted.`,
            );
          }
          throw error;
        }
      });
      let createEnded = false;
      const ended = creating.then(
        () => {
          createEnded = true;
        },
        () => {
          createEnded = true;
        },
      );
      const refs = [...inputs.images.map((i) => i.ref), ...inputs.kindImages];
      const loading = refs.length
        ? ctx.step('images', async () => {
            const nodes = await nodesAnswer(ctx, cluster, () => createEnded);
            const why = `the CI-built images (${inputs.images.map((i) => i.service).join(', ') || 'none'}) and kind-images, into the node`;
            await Promise.all(nodes.map((node) => deps.exec.run(docker.importImages(refs, node, why))));
          })
        : Promise.resolve();
      // both settle before going on (the cluster's failure first: it is the cause when both fail)
      const [c, l] = await Promise.allSettled([creating, loading]);
      await ended;
      if (c.status === 'rejected') throw c.reason;
      if (l.status === 'rejected') throw l.reason;
      await ctx.step('namespace', () =>
        deps.exec.run(
          kubectl.applyFromStdin(namespaceManifest(ns, names.labels ?? {}, {}), env, `namespace ${ns}`),
        ),
      );
      await ctx.step('deploy', () =>
        deps.exec.run(
          deployCommand(ctx, {
            profile: 'ci-kind',
            namespace: ns,
            images: inputs.images,
            kubeContext: names.kubeContext,
            statusCheck: false,
          }),
        ),
      );
      await ctx.step('ready', () => waitReady(ctx, ns));
      await ctx.step('contract checks', () =>
        withPortForwards(ctx, ns, release, async (urls) => {
          await contract(ctx, {
            target: { services: urls },
            mode: 'full',
            deadlineMs: Math.min(inputs.timeoutSeconds, 180) * 1000,
            // a fresh cluster whose workloads are all ready and rolled out: the same wrong answer 5 times in a row
            // will not change by waiting out the deadline
            settledAfter: 5,
            expectedSha: inputs.sha,
          });
          await runTestCommand(ctx, { ...env, ...serviceUrlEnv(ctx.declaration.services, urls) });
        }),
      );
    });
  } finally {
    if (created) {
      await ctx.step('delete cluster', async () => {
        await deps.exec.run(kind.deleteCluster(cluster));
        deps.saveState(State.ClusterDeleted, 'true');
      });
    }
  }
};

/**
 * Waits until every node container of the cluster exists and its containerd answers; gives up when `kind create`
 * has ended without them (its own failure is then the one reported) or after two minutes.
 */
async function nodesAnswer<L extends AnyLoop>(
  ctx: LoopContext<L>,
  cluster: string,
  createEnded: () => boolean,
): Promise<string[]> {
  const { exec } = ctx.deps;
  const sleep = ctx.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const nodes = (await exec.run(kind.getNodes(cluster))).stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    if (nodes.length) {
      const answers = await Promise.all(nodes.map((n) => exec.run(docker.nodeRuntimeReady(n))));
      if (answers.every((a) => a.exitCode === 0)) return nodes;
    }
    if (createEnded() && !nodes.length)
      throw new Error(
        `kind create cluster ${cluster} ended without node containers: nothing to load images into`,
      );
    if (Date.now() >= deadline)
      throw new Error(
        `the nodes of Kind cluster ${cluster} (${nodes.join(', ') || 'none yet'}) did not answer within 120 s: their containerd never started`,
      );
    await sleep(500);
  }
}
