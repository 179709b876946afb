/**
 * The readiness wait after a deploy stops as soon as the deploy's failure is certain (src/loops/watch.ts): a
 * migration Job that Failed, or a container crash-looping CRASH_LOOP_RESTARTS times. Before, Skaffold's status
 * check waited out the timeout input behind either (the e2e's failing migration took its whole 3 minutes). The
 * last two tests stop a real process through the real ExecExecutor.
 */
import { describe, expect, test } from 'vitest';
import { ExecExecutor } from '../../src/executor.js';
import { runLoop } from '../../src/loops/index.js';
import type { LoopContext } from '../../src/loops/types.js';
import { CRASH_LOOP_RESTARTS, watched } from '../../src/loops/watch.js';
import { parseInputs } from '../../src/validate.js';
import { deps, runCtx } from '../support/loop-harness.js';
import { RecordingExecutor } from '../support/recording-executor.js';

const SHA = '4f2c9e1aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5';
const previewInputs = () =>
  parseInputs({
    'git-sha': SHA,
    loop: 'preview',
    'pr-number': '101',
    images: 'backend=r/b:2\nfrontend=r/f:2',
  });
const MIGRATIONS = /^kubectl get jobs -n jetscale-pr-101 -l \S*component=migration/;
const PODS = /^kubectl get pods -n jetscale-pr-101 -l app\.kubernetes\.io\/instance=pr-101 -o json/;
const ROLLOUT = /^kubectl rollout status deployment\/pr-101-backend/;
const WORKLOADS = /^kubectl get deployments,statefulsets,jobs -n jetscale-pr-101/;
const workloads = JSON.stringify({ items: [{ kind: 'Deployment', metadata: { name: 'pr-101-backend' } }] });

const failedMigration = JSON.stringify({
  items: [
    {
      metadata: {
        name: 'pr-101-backend-migrate-0123abcd',
        labels: { 'app.kubernetes.io/name': 'backend-migrate', 'app.kubernetes.io/component': 'migration' },
      },
      status: {
        conditions: [
          {
            type: 'Failed',
            status: 'True',
            reason: 'BackoffLimitExceeded',
            message: 'Job has reached the specified backoff limit',
          },
        ],
      },
    },
  ],
});
const crashing = (restarts: number) =>
  JSON.stringify({
    items: [
      {
        metadata: { name: 'pr-101-backend-7d9f-abcde', namespace: 'jetscale-pr-101' },
        status: {
          phase: 'Running',
          containerStatuses: [
            { name: 'backend', restartCount: restarts, state: { waiting: { reason: 'CrashLoopBackOff' } } },
          ],
        },
      },
    ],
  });

describe('the wait after a deploy stops as soon as its failure is certain', () => {
  test('a migration Job that Failed while the rollout is awaited stops the wait: MigrationFailed quoting its last log line', async () => {
    const exec = new RecordingExecutor()
      .reply(MIGRATIONS, { stdout: failedMigration })
      // Before the deploy, the release has no failed migration (else it is removed and re-run: not this case).
      .replyOnce(MIGRATIONS, { stdout: '{"items":[]}' })
      .reply(WORKLOADS, { stdout: workloads })
      .replyRunning(ROLLOUT)
      .reply(/^kubectl logs job\/pr-101-backend-migrate-0123abcd/, {
        stdout: 'migrating\nrelation "items" exists\n',
      });
    const result = await runLoop(previewInputs(), runCtx(), deps(exec).d);
    expect(result.error?.name).toBe('MigrationFailed');
    expect(result.error?.message).toContain('relation "items" exists');
    const rollout = exec.commands.find((c) => c.args.includes('rollout'));
    expect(rollout?.signal?.aborted).toBe(true);
    expect(result.steps.find((s) => s.name === 'ready')).toMatchObject({ ok: false });
    // Skaffold does not wait: the loop does, and stops as soon as the failure is certain.
    expect(exec.lines().find((l) => l.startsWith('skaffold deploy'))).toContain('--status-check=false');
  });

  test(`a container in CrashLoopBackOff after ${CRASH_LOOP_RESTARTS} restarts stops the wait, naming the pod and container`, async () => {
    const exec = new RecordingExecutor()
      .reply(MIGRATIONS, { stdout: '{"items":[]}' })
      .reply(PODS, { stdout: crashing(CRASH_LOOP_RESTARTS) })
      .reply(WORKLOADS, { stdout: workloads })
      .replyRunning(ROLLOUT);
    const result = await runLoop(previewInputs(), runCtx(), deps(exec).d);
    expect(result.error?.name).toBe('CrashLooping');
    expect(result.error?.message).toMatch(
      new RegExp(
        `pod pr-101-backend-7d9f-abcde: container backend is in CrashLoopBackOff after ${CRASH_LOOP_RESTARTS} restarts`,
      ),
    );
    expect(exec.commands.find((c) => c.args.includes('rollout'))?.signal?.aborted).toBe(true);
  });

  test('fewer restarts, or a poll the API server did not answer, let the wait go on to its own end', async () => {
    const exec = new RecordingExecutor()
      .reply(MIGRATIONS, { stdout: '{"items":[]}' })
      .reply(PODS, { stdout: crashing(CRASH_LOOP_RESTARTS - 1) })
      .replyOnce(PODS, { exitCode: 1, stderr: 'the server is currently unable to handle the request' })
      .reply(WORKLOADS, { stdout: workloads })
      .replyRunning(ROLLOUT, 7000);
    const result = await runLoop(previewInputs(), runCtx(), deps(exec).d);
    expect(result.error).toBeUndefined();
    // It polled (twice, at 3 s and 6 s) and found nothing certain.
    expect(exec.lines().filter((l) => PODS.test(l)).length).toBeGreaterThanOrEqual(2);
    expect(exec.commands.find((c) => c.args.includes('rollout'))?.signal?.aborted).toBe(true);
  }, 20_000);

  test("many polls leave no listener behind on the wait's signal (no MaxListenersExceeded warning)", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    const exec = new RecordingExecutor().reply(MIGRATIONS, { stdout: '{"items":[]}' });
    const ctx = { deps: { exec, log: () => {} }, names: { env: {} } } as unknown as LoopContext<'preview'>;
    let signal: AbortSignal | undefined;
    await watched(
      ctx,
      'pr-101',
      'jetscale-pr-101',
      async (s) => {
        signal = s;
        await new Promise((r) => setTimeout(r, 300));
      },
      1,
    );
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(exec.lines().filter((l) => MIGRATIONS.test(l)).length).toBeGreaterThan(20);
    expect(signal?.aborted).toBe(true);
    expect(warnings.filter((w) => /MaxListeners/.test(w))).toEqual([]);
  });

  test('the real executor stops a running command when its signal aborts, and rejects with the reason', async () => {
    const stop = new AbortController();
    const running = new ExecExecutor().run({ cmd: 'sleep', args: ['60'], signal: stop.signal, silent: true });
    setTimeout(() => stop.abort(new Error('the migration failed')), 200);
    await expect(running).rejects.toThrow('the migration failed');
  });

  test('the real executor without an abort gives the exit code and output as before', async () => {
    const stop = new AbortController();
    const ok = await new ExecExecutor().run({
      cmd: 'sh',
      args: ['-c', 'echo hi'],
      signal: stop.signal,
      silent: true,
    });
    expect(ok).toMatchObject({ exitCode: 0, stdout: 'hi\n' });
    await expect(
      new ExecExecutor().run({
        cmd: 'sh',
        args: ['-c', 'echo no >&2; exit 3'],
        signal: stop.signal,
        silent: true,
      }),
    ).rejects.toThrow(/exit code 3: no/);
  });
});
