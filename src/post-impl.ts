/**
 * The post step: removes the ephemeral Kind cluster when the main step did not (failure, cancel, crash).
 * It only warns; it never fails the job.
 */
import * as core from '@actions/core';
import { kind } from './commands.js';
import { State } from './constants.js';
import { ExecExecutor, type Executor } from './executor.js';

export async function runPost(exec: Executor = new ExecExecutor()): Promise<void> {
  try {
    const cluster = core.getState(State.ClusterName);
    const created = core.getState(State.ClusterCreated) === 'true';
    const deleted = core.getState(State.ClusterDeleted) === 'true';
    if (!cluster || !created || deleted) {
      core.info('post: no Kind cluster of this run left to remove.');
      return;
    }
    core.info(`post: removing Kind cluster ${cluster} left by the main step.`);
    await exec.run({
      ...kind.deleteCluster(cluster, 'cleanup after a failed or cancelled run'),
      cmd: core.getState(State.KindPath) || 'kind',
    });
  } catch (error) {
    core.warning(`post: cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
