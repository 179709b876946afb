import { afterEach, expect, test } from 'vitest';
import { runPost } from '../../src/post-impl.js';
import { RecordingExecutor } from '../support/recording-executor.js';

afterEach(() => {
  for (const k of Object.keys(process.env)) if (k.startsWith('STATE_')) delete process.env[k];
});

test.each([
  [
    'main created the cluster and failed before deleting it',
    { clusterName: 'jetscale-ci-1-1', clusterCreated: 'true' },
    ['kind delete cluster --name jetscale-ci-1-1'],
  ],
  [
    'main deleted the cluster itself',
    { clusterName: 'jetscale-ci-1-1', clusterCreated: 'true', clusterDeleted: 'true' },
    [],
  ],
  ['no cluster was created (preview, dry run, bad input)', {}, []],
])('post step: %s', async (_name, state, expected) => {
  for (const [k, v] of Object.entries(state)) process.env[`STATE_${k}`] = v;
  const exec = new RecordingExecutor();
  await runPost(exec);
  expect(exec.lines()).toEqual(expected);
});

test('post step only warns when the delete fails', async () => {
  process.env.STATE_clusterName = 'c';
  process.env.STATE_clusterCreated = 'true';
  const exec = new RecordingExecutor().reply(/^kind delete/, { exitCode: 1, stderr: 'docker gone' });
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    out.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await runPost(exec);
  } finally {
    process.stdout.write = write;
  }
  expect(out.join('')).toMatch(
    /::warning::post: cleanup failed: kind delete cluster --name c failed with exit code 1/,
  );
  expect(process.exitCode ?? 0).toBe(0);
});
