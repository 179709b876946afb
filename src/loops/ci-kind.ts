/**
 * ci-kind: an ephemeral Kind cluster for this job, the CI-built images loaded into it, deploy, wait, contract
 * checks, and the cluster deleted even on failure (the post step deletes it if this step never got there).
 */
import { join } from 'node:path';
import { kind, kubectl } from '../commands.js';
import { State } from '../constants.js';
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
import { type LoopBody, OwnershipRefused } from './types.js';

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
      await ctx.step('cluster', async () => {
        // The name is this job's own (a random instance id), so it is recorded before creating: a cancelled
        // step still leaves the post step enough to clean up. A name already taken is never ours to delete.
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
              waitSeconds: Math.min(inputs.timeoutSeconds, 300),
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
      await ctx.step('images', async () => {
        for (const image of inputs.images)
          await deps.exec.run(
            kind.loadImage(image.ref, cluster, `load the CI-built ${image.service} image into the cluster`),
          );
        for (const ref of inputs.kindImages)
          await deps.exec.run(kind.loadImage(ref, cluster, 'kind-images: preload into the cluster'));
      });
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
