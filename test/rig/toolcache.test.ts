/**
 * The action's own install step, pointed at the tool cache the rig builds from Go sources, finds kind, helm,
 * skaffold and kubectl there and downloads nothing: every download URL points at a loopback server that
 * records requests, and it must receive none. The rig's binaries are built from source, so their checksums
 * are not the pinned release assets': the install step is told to trust them (JETSCALE_TRUSTED_TOOL_SHA256's
 * value, given as an option), as every run against the rig's tool cache must be; without it the install step
 * would reject and remove them.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { installTools, parseTrustedTools, TOOL_NAMES, type ToolName } from '../../src/tools.js';
import { DownloadServer } from '../support/download-server.js';
import { pinnedVersion, requireTool, rigTrustedToolChecksums, toolCacheDir } from '../support/tools.js';

const missing = TOOL_NAMES.map((t) => requireTool(t)).find((r) => r.skip)?.skip;
let server: DownloadServer;

beforeAll(async () => {
  server = await DownloadServer.start();
});
afterAll(async () => {
  await server?.close();
});

test.skipIf(missing)(
  `the action's install step finds the rig's tools and downloads nothing${missing ? ` (skipped: ${missing})` : ''}`,
  async () => {
    const previous = process.env.RUNNER_TOOL_CACHE;
    process.env.RUNNER_TOOL_CACHE = toolCacheDir();
    try {
      const baseUrls = Object.fromEntries(TOOL_NAMES.map((t) => [t, `${server.url}/${t}`])) as Record<
        ToolName,
        string
      >;
      const dirs = await installTools(
        TOOL_NAMES.map((name) => ({ name, version: pinnedVersion(name) as string })),
        {
          baseUrls,
          retry: { attempts: 1, minDelayMs: 1, maxDelayMs: 1 },
          trustedSha256: parseTrustedTools(rigTrustedToolChecksums()),
        },
      );
      expect(server.requests).toEqual([]);
      for (const name of TOOL_NAMES) {
        expect(dirs[name]).toBe(join(toolCacheDir(), name, (pinnedVersion(name) as string).slice(1), 'x64'));
        const version = execFileSync(
          join(dirs[name], name),
          name === 'kubectl' ? ['version', '--client'] : ['version'],
          {
            encoding: 'utf8',
          },
        );
        expect(version).toContain((pinnedVersion(name) as string).slice(1));
      }
    } finally {
      process.env.RUNNER_TOOL_CACHE = previous;
    }
  },
);
