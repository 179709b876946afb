import { basename } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { LIVE_CLUSTER_FILES } from './test/e2e/rig.js';

/**
 * The live-stage files share one 1+3-node cluster (test/e2e/rig.ts liveClusterUp): they run last, in their listed
 * order, so that cluster exists only while they run. The others keep vitest's own order.
 */
class LiveLastSequencer extends BaseSequencer {
  async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => LIVE_CLUSTER_FILES.indexOf(basename(f.moduleId));
    return [
      ...sorted.filter((f) => rank(f) < 0),
      ...sorted.filter((f) => rank(f) >= 0).sort((a, b) => rank(a) - rank(b)),
    ];
  }
}

// End-to-end tests on the rig (a real Kind cluster): npm run test:e2e. One file at a time: the machine has
// two cores and every scenario creates clusters. globalSetup holds the machine's e2e lock for the whole run.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts', 'test/rig/rig.test.ts'],
    setupFiles: ['./test/support/setup.ts'],
    globalSetup: ['./test/e2e/global-setup.ts'],
    fileParallelism: false,
    sequence: { sequencer: LiveLastSequencer },
    testTimeout: 900_000,
    hookTimeout: 900_000,
  },
});
