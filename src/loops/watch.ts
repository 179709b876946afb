/**
 * A deploy stops as soon as its failure is certain, instead of Skaffold's status check waiting out its deadline
 * (the timeout input) behind it: a migration Job that Failed (its backoff limit or deadline spent: every pod of
 * its service waits for it forever), or a container crash-looping after CRASH_LOOP_RESTARTS restarts (the image
 * this deploy runs exits at start, again and again). Both were only reported at the deadline before.
 */
import { kubectl } from '../commands.js';
import type { AnyLoop } from '../constants.js';
import { describeJobFailure, lastLogLines, parseJobs, parsePods } from '../diagnostics.js';
import type { Command } from '../executor.js';
import { JobFailed } from './shared.js';
import type { LoopContext } from './types.js';

/** Restarts after which a container in CrashLoopBackOff is failing, not starting slowly (the kubelet's back-off is then 40 s). */
export const CRASH_LOOP_RESTARTS = 3;
const WATCH_POLL_MS = 3000;

export class CrashLooping extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrashLooping';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Runs the deploy command while watching the release; a certain failure stops the deploy and is thrown. */
export async function deployWatched<L extends AnyLoop>(
  ctx: LoopContext<L>,
  command: Command,
  release: string,
  ns: string,
  pollMs = WATCH_POLL_MS,
): Promise<void> {
  const { exec } = ctx.deps;
  if (exec.dryRun) {
    await exec.run(command);
    return;
  }
  const stop = new AbortController();
  const deploy = exec.run({ ...command, signal: stop.signal });
  const failure = certainFailure(ctx, release, ns, stop.signal, pollMs);
  try {
    const first = await Promise.race([deploy.then(() => undefined), failure]);
    if (first) {
      ctx.deps.log(`deploy stopped: ${first.message.split('\n')[0]}`);
      stop.abort(first);
      await deploy.catch(() => undefined);
      throw first;
    }
  } finally {
    stop.abort();
  }
}

/** Polls the release until stopped; resolves with the first certain failure, or undefined once stopped. */
async function certainFailure<L extends AnyLoop>(
  ctx: LoopContext<L>,
  release: string,
  ns: string,
  stopped: AbortSignal,
  pollMs: number,
): Promise<Error | undefined> {
  const { exec } = ctx.deps;
  const { env } = ctx.names;
  while (!stopped.aborted) {
    // Its own timer, ended by the deploy's end, not the loop's sleep: nothing here may outlive the deploy.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      stopped.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
    if (stopped.aborted) return undefined;
    // A poll that fails (the API server busy) says nothing about the deploy: the next one asks again.
    const jobs = await exec.run({ ...kubectl.migrationJobs(release, ns, env), allowFailure: true });
    const failedJob = parseJobs(jobs.exitCode === 0 ? jobs.stdout : '').find((j) => j.failed);
    if (failedJob) {
      const logs = await exec.run({ ...kubectl.jobLogs(failedJob.name, ns, env), allowFailure: true });
      return new JobFailed(
        describeJobFailure(failedJob, lastLogLines(logs.exitCode === 0 ? logs.stdout : '')),
        failedJob.of?.task,
      );
    }
    const pods = await exec.run({ ...kubectl.releasePods(release, ns, env), allowFailure: true });
    const crashing = parsePods(pods.exitCode === 0 ? pods.stdout : '').find(
      (p) => p.crashLoop && p.crashLoop.restarts >= CRASH_LOOP_RESTARTS,
    );
    if (crashing?.crashLoop)
      return new CrashLooping(
        `pod ${crashing.name}: container ${crashing.crashLoop.container} is in CrashLoopBackOff after ` +
          `${crashing.crashLoop.restarts} restarts; the deploy cannot become ready (its diagnostics hold the pod's last log lines)`,
      );
  }
  return undefined;
}
