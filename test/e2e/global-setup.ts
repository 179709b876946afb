/**
 * Before the e2e suite: take the machine's e2e lock (test/support/e2e-lock.ts), then remove the scratch
 * clusters an interrupted run left behind. Under the lock no other run can be using them; left running they
 * take CPU from every scenario on a 2-core machine, and live.test.ts would reuse one as found. Only the suite's
 * own scratch names go; jetscale-rig stays.
 */
import { spawnSync } from 'node:child_process';
import { acquireE2eLock } from '../support/e2e-lock.js';
import { findTool } from '../support/tools.js';
import { kindClusters, LIVE_CLUSTER, rigCacheDir } from './rig.js';

const SCRATCH_CLUSTER = /^(jetscale-live|jetscale-tilt|jetscale-ci-.+)$/;

export default async function setup(): Promise<() => Promise<void>> {
  let release = async () => {};
  try {
    const lock = await acquireE2eLock(rigCacheDir(), {
      onWait: (holder) =>
        console.log(`e2e: another e2e run holds this machine's rig (${holder}); waiting until it ends`),
    });
    release = lock.release;
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    console.warn(`e2e: running without the machine lock: ${(err as Error).message}`);
  }
  const kind = findTool('kind');
  if (kind) {
    const clusters = spawnSync(kind, ['get', 'clusters'], { encoding: 'utf8' }).stdout ?? '';
    for (const name of clusters.split('\n').filter((n) => SCRATCH_CLUSTER.test(n))) {
      console.log(`e2e: removing cluster ${name}, left by an earlier e2e run`);
      spawnSync('bash', ['test/rig/down.sh', '--name', name], { stdio: 'inherit' });
    }
  }
  // The live-stage files share one 1+3-node cluster and leave it up for each other (rig.ts liveClusterUp).
  return async () => {
    if (kind && kindClusters().includes(LIVE_CLUSTER)) {
      console.log(`e2e: removing cluster ${LIVE_CLUSTER}, shared by the live-stage scenarios`);
      spawnSync('bash', ['test/rig/down.sh', '--name', LIVE_CLUSTER], { stdio: 'inherit' });
    }
    await release();
  };
}
