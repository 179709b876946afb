import { defineConfig } from 'vitest/config';

// End-to-end tests on the rig (a real Kind cluster): npm run test:e2e. One file at a time: the machine has
// two cores and every scenario creates clusters. globalSetup holds the machine's e2e lock for the whole run.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts', 'test/rig/rig.test.ts'],
    setupFiles: ['./test/support/setup.ts'],
    globalSetup: ['./test/e2e/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 900_000,
  },
});
