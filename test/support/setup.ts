// Vitest bootstrap: every test file starts with no action inputs and its own runner directories.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

for (const key of Object.keys(process.env)) {
  if (key.startsWith('INPUT_') || key.startsWith('GITHUB_') || key.startsWith('STATE_'))
    delete process.env[key];
}
const root = mkdtempSync(join(tmpdir(), 'jetscale-test-'));
process.env.RUNNER_TEMP = join(root, 'temp');
process.env.RUNNER_TOOL_CACHE = process.env.JETSCALE_TEST_TOOL_CACHE ?? join(root, 'tool-cache');
