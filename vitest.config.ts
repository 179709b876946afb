import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real-cluster tests run with npm run test:e2e (vitest.e2e.config.ts).
    exclude: ['test/e2e/**', 'test/rig/rig.test.ts', '**/node_modules/**'],
    setupFiles: ['./test/support/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
