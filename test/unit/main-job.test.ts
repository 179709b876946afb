/**
 * The main job's choice between the ordinary path and the source build (test/rig/main-job.ts): the action's
 * installer against the real loopback download server, into a temporary tool cache, and the decision taken
 * from each attempt's outcome.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { type Pins, platformKey, toolchainPins } from '../../src/tools.js';
import {
  attemptTool,
  decide,
  type Outcome,
  plan,
  refusal,
  type ToolAttemptOptions,
} from '../rig/main-job.js';
import { DownloadServer } from '../support/download-server.js';
import { findTool } from '../support/tools.js';

const FAST_RETRY = { attempts: 2, minDelayMs: 10, maxDelayMs: 20 };
const KIND_PATH = '/kind/v0.30.0/kind-linux-amd64';
const KIND_BYTES = Buffer.from('#!/bin/sh\necho "kind v0.30.0 (loopback test build)"\n');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
// kind pinned to the test bytes for this machine's platform; the rest as shipped.
const PINS: Pins = {
  tools: {
    ...toolchainPins().tools,
    kind: {
      version: 'v0.30.0',
      assets: { [platformKey(process.platform, process.arch)]: sha256(KIND_BYTES) },
    },
  },
};

/** A loopback port nothing listens on: bound once by the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const kind = (outcome: Outcome) => plan([{ name: 'kind', item: 'kind v0.30.0', outcome }]);

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')(
  'main job: kind through the installer',
  () => {
    let server: DownloadServer;
    let cache: string;
    let opts: ToolAttemptOptions;
    const savedCache = process.env.JETSCALE_TOOL_CACHE;

    beforeAll(async () => {
      server = await DownloadServer.start();
    });
    afterAll(async () => {
      await server.close();
    });
    beforeEach(() => {
      server.clear();
      cache = mkdtempSync(join(tmpdir(), 'jetscale-main-job-cache-'));
      process.env.JETSCALE_TOOL_CACHE = cache; // where test/support/tools.ts looks
      opts = { toolCache: cache, pins: PINS, baseUrls: { kind: `${server.url}/kind` }, retry: FAST_RETRY };
    });
    afterEach(() => {
      if (savedCache === undefined) delete process.env.JETSCALE_TOOL_CACHE;
      else process.env.JETSCALE_TOOL_CACHE = savedCache;
    });

    test('a refused download (closed port) falls back to the source build and says why', async () => {
      const outcome = await attemptTool('kind', {
        ...opts,
        baseUrls: { kind: `http://127.0.0.1:${await closedPort()}` },
      });
      const p = kind(outcome);
      expect(p.failures).toEqual([]);
      expect(p.build).toEqual(['kind']);
      expect(p.lines[0]).toMatch(
        /^↻ kind v0\.30\.0: refused or unreachable \(ECONNREFUSED: .*\) → source build: test\/rig\/tools\/build\.sh kind/,
      );
      expect(findTool('kind')).toBeUndefined();
    });

    test('served with the pinned checksum: installed where the rig looks, nothing to build', async () => {
      server.serve(KIND_PATH, KIND_BYTES);
      const p = kind(await attemptTool('kind', opts));
      expect(p.failures).toEqual([]);
      expect(p.build).toEqual([]);
      expect(p.lines[0]).toMatch(/^✓ kind v0\.30\.0: downloaded and verified against src\/pins\.json/);
      const path = findTool('kind');
      expect(path).toBe(join(cache, 'kind', '0.30.0', 'x64', 'kind'));
      expect(readFileSync(path as string)).toEqual(KIND_BYTES);
      // a second run finds it in the cache, verified, without a request
      const again = kind(await attemptTool('kind', opts));
      expect(again.lines[0]).toMatch(/^✓ kind v0\.30\.0: in the tool cache and verified/);
      expect(server.requestCount(KIND_PATH)).toBe(1);
    });

    test('served with another checksum: fails loudly, naming the tool, the pin and what came, and builds nothing', async () => {
      const other = Buffer.from('#!/bin/sh\necho tampered\n');
      server.serve(KIND_PATH, other);
      const outcome = await attemptTool('kind', opts);
      expect(() => decide('kind v0.30.0', outcome, 'a source build')).toThrow(
        new RegExp(
          `kind v0\\.30\\.0: checksum mismatch .*expected sha256 ${sha256(KIND_BYTES)}, got ${sha256(other)}[\\s\\S]*served other bytes than the pinned release`,
        ),
      );
      const p = kind(outcome);
      expect(p.build).toEqual([]);
      expect(p.lines).toEqual([]);
      expect(p.failures).toHaveLength(1);
      expect(findTool('kind')).toBeUndefined();
    });

    test.each([
      ['404 (nothing served)', undefined, /HTTP 404/],
      ['403', 403, /HTTP 403/],
    ])('%s falls back to the source build', async (_name, status, why) => {
      if (status !== undefined) server.fail(KIND_PATH, { type: 'status', status });
      const p = kind(await attemptTool('kind', opts));
      expect(p.failures).toEqual([]);
      expect(p.build).toEqual(['kind']);
      expect(p.lines[0]).toMatch(why);
      expect(p.lines[0]).toMatch(/^↻ kind v0\.30\.0: refused or unreachable/);
    });

    test('a kind the rig built from source stays: no request, nothing removed', async () => {
      const dir = join(cache, 'kind', '0.30.0', 'x64');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'kind'), 'rig-built', { mode: 0o755 });
      writeFileSync(`${dir}.complete`, '');
      writeFileSync(`${dir}.recipe`, 'abc\n');
      const p = kind(await attemptTool('kind', opts));
      expect(p.build).toEqual(['kind']);
      expect(p.lines[0]).toMatch(/^↻ kind v0\.30\.0: built from source earlier/);
      expect(server.requestCount()).toBe(0);
      expect(readFileSync(join(dir, 'kind'), 'utf8')).toBe('rig-built');
      expect(existsSync(`${dir}.complete`)).toBe(true);
    });
  },
);

describe('main job: decide() from an outcome alone', () => {
  // biome-ignore format: one row per message reads best as a table
  test.each([
    ['getaddrinfo ENOTFOUND dl.k8s.io', 'ENOTFOUND'],
    ['kubectl v1.34.4: download from https://x/kubectl failed after 3 attempt(s): HTTP 503 Service Unavailable', 'HTTP 503'],
    ['helm v3.19.0: download from https://x failed: self-signed certificate in certificate chain (SELF_SIGNED_CERT_IN_CHAIN)', 'SELF_SIGNED_CERT_IN_CHAIN'],
    ['no pinned checksum for skaffold v2.16.1 on linux-arm64; run node .github/scripts/update-pins.mjs', 'no pinned checksum for skaffold v2.16.1 on linux-arm64'],
    // docker pull's own words
    ['Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host', 'no such host'],
    ['Error response from daemon: Get "https://registry-1.docker.io/v2/": net/http: TLS handshake timeout', 'TLS handshake timeout'],
    ['Error response from daemon: toomanyrequests: You have reached your pull rate limit.', 'toomanyrequests'],
    ['Error response from daemon: pull access denied for kindest/node, repository does not exist', 'pull access denied'],
    ['Error response from daemon: Get "https://registry-1.docker.io/v2/": proxyconnect tcp: dial tcp 10.0.0.1:3128: connect: connection refused', 'proxyconnect tcp'],
  ])('%s → the source build, because %s', (error, why) => {
    expect(refusal(error)).toBe(why);
    const d = decide('item', { kind: 'failed', error }, 'the fallback');
    expect(d.path).toBe('source');
    expect(d.line).toContain(`(${why}: `);
    expect(d.line).toMatch(/→ the fallback$/);
  });

  // biome-ignore format: one row per message reads best as a table
  test.each([
    ['a digest mismatch on pull', 'failed to register layer: filesystem layer verification failed for digest sha256:0123', /served other bytes than the pinned release/],
    ['a manifest that is not the pinned one', 'manifest verification failed for digest sha256:7416a6', /served other bytes than the pinned release/],
    ['a full disk while caching', 'kind v0.30.0: caching failed: ENOSPC: no space left on device', /not a refused or unreachable download/],
    ['no access to the Docker socket', 'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock', /not a refused or unreachable download/],
  ])('%s fails the job', (_name, error, message) => {
    expect(refusal(error)).toBeUndefined();
    expect(() => decide('item', { kind: 'failed', error }, 'the fallback')).toThrow(message);
  });

  test('a mismatch that mentions a network error is still a mismatch', () => {
    const error =
      'checksum mismatch for kind v0.30.0 (linux-amd64) from https://x: expected sha256 a, got b (after ECONNRESET)';
    expect(() => decide('kind v0.30.0', { kind: 'failed', error }, 'x')).toThrow(
      /served other bytes than the pinned release/,
    );
  });

  test('done is the ordinary path; not tried is the source path with its reason', () => {
    expect(decide('kind v0.30.0', { kind: 'done', detail: 'downloaded' }, 'x')).toEqual({
      item: 'kind v0.30.0',
      path: 'ordinary',
      line: 'kind v0.30.0: downloaded',
    });
    expect(decide('kind v0.30.0', { kind: 'not-tried', reason: 'built from source earlier' }, 'x').line).toBe(
      'kind v0.30.0: built from source earlier → x',
    );
  });

  test('the plan uses the pulled node image only when the pull worked', () => {
    const image = 'kindest/node:v1.34.0@sha256:7416';
    const pulled = plan([], { item: 'node image', image, outcome: { kind: 'done', detail: 'pulled' } });
    expect(pulled.nodeImage).toBe(image);
    const refused = plan([], {
      item: 'node image',
      image,
      outcome: { kind: 'failed', error: 'dial tcp: lookup registry-1.docker.io: no such host' },
    });
    expect(refused.nodeImage).toBeUndefined();
    expect(refused.lines[0]).toMatch(
      /^↻ node image: refused or unreachable \(no such host: .*→ source build: test\/rig\/up\.sh builds the rig's own node image/,
    );
  });
});
