#!/usr/bin/env node
// npm run main-job [-- --dry-run]: runs test/rig/main-job.ts (see there). The job reuses the action's installer
// (src/tools.ts) as it is, and Node 20 runs no TypeScript, so Vite's module runner (vitest's own dependency)
// loads it, as vitest loads the tests.
import { runnerImport } from 'vite';

const { module } = await runnerImport(new URL('./main-job.ts', import.meta.url).pathname, {
  configFile: false,
  logLevel: 'silent',
});
process.exitCode = await module.main(process.argv.slice(2));
