/**
 * The readiness wait after a deploy stops as soon as the deploy's failure is certain, instead of waiting out its
 * deadline (the timeout input) behind it: a migration Job that Failed (its backoff limit or deadline spent: every pod of
 * its service waits for it forever), or a container crash-looping after CRASH_LOOP_RESTARTS restarts (the image
 * this deploy runs exits at start, again and again). Both were only reported at the deadline before.
 */
import { kubectl } from '../commands.js';
import type { AnyLoop } from '../constants.js';
import { describeJobFailure, type JobTask, lastLogLines, parseJobs, parsePods } from '../diagnostics.js';
import type { LoopContext } from './types.js';

/** Restarts after which a container in CrashLoopBackOff is failing, not starting slowly (the kubelet's back-off is then 40 s). */
export const CRASH_LOOP_RESTARTS = 3;
const WATCH_POLL_MS = 3000;

/** A migration or seed Job Failed: its service, and the last lines its pods wrote. */
export class JobFailed extends Error {
  constructor(
    message: string,
    readonly task?: JobTask,
  ) {
    super(message);
    this.name = task === 'seed' ? 'SeedFailed' : 'MigrationFailed';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export class CrashLooping extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrashLooping';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/**
 * Runs a wait (given the signal that stops its commands) while watching the release; a certain failure stops the
 * wait and is thrown. A dry run only plans the wait.
 */
export async function watched<L extends AnyLoop, T>(
  ctx: LoopContext<L>,
  release: string | undefined,
  ns: string,
  wait: (signal?: AbortSignal) => Promise<T>,
  pollMs = WATCH_POLL_MS,
): Promise<T> {
  if (ctx.deps.exec.dryRun || !release) return wait();
  const stop = new AbortController();
  const waiting = wait(stop.signal);
  const failure = certainFailure(ctx, release, ns, stop.signal, pollMs);
  try {
    const first = await Promise.race([waiting.then((value) => ({ value })), failure]);
    if (first instanceof Error) {
      ctx.deps.log(`stopped waiting: ${first.message.split('\n')[0]}`);
      stop.abort(first);
      await waiting.catch(() => undefined);
      throw first;
    }
    return (first as { value: T }).value;
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
      const done = () => {
        clearTimeout(timer);
        stopped.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, pollMs);
      stopped.addEventListener('abort', done, { once: true });
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
