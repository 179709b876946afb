/**
 * Verified installs of kind, helm, skaffold and kubectl through @actions/tool-cache.
 *
 * - The tool cache is tried first: a hit downloads nothing, but it is used only once it is verified (below).
 * - Otherwise the official release asset is downloaded (retries with exponential backoff on HTTP 5xx/408/429,
 *   connection resets and truncated bodies; a 404 fails at once), its SHA-256 is checked against src/pins.json
 *   (never against a checksum fetched from the download site), it is extracted if archived, made executable,
 *   cached, and its directory is added to PATH.
 * - A version with no pinned checksum for the platform fails before anything is downloaded.
 * - Nothing is written to the tool cache before the checksum matched; a failure while caching removes what
 *   was written, so the cache never holds a half-installed `<tool>/<version>`.
 *
 * Trusting a cache hit. The tool cache is a directory any job on the runner can write: on a self-hosted runner
 * that keeps it between jobs, a fork's job can plant `kubectl/<version>/x64/kubectl` (and its `.complete`
 * marker), and a later preview job would run it with the cluster's kubeconfig. actions/setup-node and
 * setup-go trust `tc.find` (they check the version directory name, nothing else; right on GitHub's fresh VMs,
 * not on a shared runner). Here a hit is used only when the binary about to be put on PATH is proven to be
 * the pinned release, with the trust anchored in the action's own code (src/pins.json), never in a file of
 * the cache, which the same attacker could rewrite (a checksum recorded next to the binary proves nothing):
 *   - raw-binary assets (kind, skaffold, kubectl): the cached binary's SHA-256 equals the pin;
 *   - archived assets (helm .tar.gz/.zip): the pin is the archive's, so the verified archive is cached next to
 *     the binary; on a hit the archive's SHA-256 must equal the pin, and the binary extracted from it (into a
 *     private temporary directory) must be byte-identical (same SHA-256) to the cached one. Forging either
 *     means a SHA-256 preimage of the pin. An entry without the archive (written by an older version of this
 *     action) cannot be verified and is replaced;
 *   - or the binary's SHA-256 is listed for that tool in JETSCALE_TRUSTED_TOOL_SHA256 (whitespace- or
 *     comma-separated `tool=sha256` entries): tools a runner's operator built and placed in the cache
 *     themselves, e.g. on runners that reach no download site. The variable comes from the job's environment
 *     (the workflow or the runner's configuration), which a fork's earlier job cannot set for a later one.
 * A hit that fails is reported as a warning naming the tool, the path, the expected and the actual checksum,
 * removed, and the tool is downloaded and verified again; if that fails too, the error repeats why the cached
 * copy was rejected. Verification happens right before use: it does not defend against a job that runs at the
 * same time as this one under the same user and swaps the file in between (nothing an action does can; such a
 * runner must not run untrusted jobs).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as core from '@actions/core';
import { HttpClient } from '@actions/http-client';
import * as tc from '@actions/tool-cache';
import pinsFile from './pins.json' with { type: 'json' };

export const TOOL_NAMES = ['kind', 'helm', 'skaffold', 'kubectl'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export interface ToolRequest {
  name: ToolName;
  version: string;
}

export interface ToolPin {
  version: string;
  /** SHA-256 (lower-case hex) of the release asset per platform key, e.g. "linux-amd64". */
  assets: Record<string, string>;
}

export interface Pins {
  tools: Record<ToolName, ToolPin>;
}

export type ArchiveKind = 'none' | 'tar.gz' | 'zip';

export interface Asset {
  url: string;
  sha256: string;
  archive: ArchiveKind;
  /** Path of the binary inside the archive; null when the asset is the binary itself. */
  binaryPathInArchive: string | null;
  /** File name of the installed binary (`kind`, `helm.exe`, ...). */
  binaryName: string;
  /** Platform key used in src/pins.json, e.g. "linux-amd64". */
  platformKey: string;
}

export interface RetryOptions {
  /** Total attempts, first one included. */
  attempts: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export interface InstallOptions {
  platform?: NodeJS.Platform;
  /** Node-style architecture (`x64`, `arm64`). Also the architecture directory in the tool cache. */
  arch?: string;
  /** Replaces the official download prefix per tool (see DEFAULT_BASE_URLS for what the prefix covers). */
  baseUrls?: Partial<Record<ToolName, string>>;
  pins?: Pins;
  retry?: RetryOptions;
  /** A download that delivers no bytes for this long is abandoned (and retried). Default 60 s. */
  stallTimeoutMs?: number;
  /**
   * SHA-256 checksums a cached binary may have besides the pinned release's, per tool (see the header).
   * Default: parsed from the JETSCALE_TRUSTED_TOOL_SHA256 environment variable.
   */
  trustedSha256?: Partial<Record<ToolName, readonly string[]>>;
}

/** Environment variable listing checksums of operator-built binaries a cache hit may have (see the header). */
export const TRUSTED_TOOLS_ENV = 'JETSCALE_TRUSTED_TOOL_SHA256';

/** Official download prefixes; the asset path is appended as documented in assetFor. */
export const DEFAULT_BASE_URLS: Record<ToolName, string> = {
  kind: 'https://github.com/kubernetes-sigs/kind/releases/download',
  helm: 'https://get.helm.sh',
  skaffold: 'https://storage.googleapis.com/skaffold/releases',
  kubectl: 'https://dl.k8s.io/release',
};

/** Action input that carries each tool's version, for error messages. */
const VERSION_INPUT: Record<ToolName, string> = {
  kind: 'kind-version',
  helm: 'helm-version',
  skaffold: 'skaffold-version',
  kubectl: 'kubectl-version',
};

const DEFAULT_RETRY: RetryOptions = { attempts: 4, minDelayMs: 2_000, maxDelayMs: 20_000 };
const VERSION_PATTERN = /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
const UPDATE_HINT = 'run node .github/scripts/update-pins.mjs';

/**
 * Parses JETSCALE_TRUSTED_TOOL_SHA256: `tool=sha256` entries separated by whitespace or commas, e.g.
 * `kubectl=3f1c… helm=9ab0…`. Anything else is an error naming the variable and the entry.
 */
export function parseTrustedTools(text: string | undefined): Partial<Record<ToolName, string[]>> {
  const trusted: Partial<Record<ToolName, string[]>> = {};
  for (const entry of (text ?? '').split(/[\s,]+/).filter(Boolean)) {
    const m = /^([a-z]+)=([0-9a-f]{64})$/.exec(entry);
    const name = m?.[1] as ToolName | undefined;
    if (!m || !name || !TOOL_NAMES.includes(name)) {
      throw new Error(
        `${TRUSTED_TOOLS_ENV}: '${entry}' is not a tool=sha256 entry (tools: ${TOOL_NAMES.join(', ')}; ` +
          'sha256: 64 lower-case hex digits)',
      );
    }
    trusted[name] = [...(trusted[name] ?? []), m[2] as string];
  }
  return trusted;
}

/** The pins shipped with the action (src/pins.json, bundled by ncc). */
export function toolchainPins(): Pins {
  return pinsFile as Pins;
}

/** `0.30.0` and `v0.30.0` both become `v0.30.0`; anything else is an error naming the input. */
export function normalizeVersion(name: ToolName, version: string): string {
  const trimmed = version.trim();
  if (!VERSION_PATTERN.test(trimmed)) {
    throw new Error(
      `${VERSION_INPUT[name]} '${version}' is not a release version; expected vMAJOR.MINOR.PATCH, e.g. ${
        toolchainPins().tools[name].version
      }`,
    );
  }
  return trimmed.startsWith('v') ? trimmed : `v${trimmed}`;
}

function goOs(platform: NodeJS.Platform): 'linux' | 'darwin' | 'windows' {
  if (platform === 'linux' || platform === 'darwin') return platform;
  if (platform === 'win32') return 'windows';
  throw new Error(`unsupported platform '${platform}'; supported: linux, darwin, win32`);
}

function goArch(arch: string): 'amd64' | 'arm64' {
  if (arch === 'x64' || arch === 'amd64') return 'amd64';
  if (arch === 'arm64') return 'arm64';
  throw new Error(`unsupported architecture '${arch}'; supported: x64, arm64`);
}

/** The platform key used in src/pins.json for a Node platform and arch, e.g. ('linux','x64') → "linux-amd64". */
export function platformKey(platform: NodeJS.Platform, arch: string): string {
  return `${goOs(platform)}-${goArch(arch)}`;
}

/**
 * The official release asset of a tool version for a platform, with its pinned SHA-256.
 *   kind      <base>/<v>/kind-<os>-<arch>                 (raw binary; Windows asset has no .exe)
 *   helm      <base>/helm-<v>-<os>-<arch>.tar.gz          (binary <os>-<arch>/helm; Windows: .zip, helm.exe)
 *   skaffold  <base>/<v>/skaffold-<os>-<arch>[.exe]       (raw binary)
 *   kubectl   <base>/<v>/bin/<os>/<arch>/kubectl[.exe]    (raw binary)
 * Throws when pins hold no checksum for that version and platform.
 */
export function assetFor(
  name: ToolName,
  version: string,
  platform: NodeJS.Platform,
  arch: string,
  pins: Pins,
  baseUrls: Partial<Record<ToolName, string>> = {},
): Asset {
  const v = normalizeVersion(name, version);
  const os = goOs(platform);
  const cpu = goArch(arch);
  const key = `${os}-${cpu}`;
  const exe = os === 'windows' ? '.exe' : '';
  const base = (baseUrls[name] ?? DEFAULT_BASE_URLS[name]).replace(/\/+$/, '');
  let url: string;
  let archive: ArchiveKind = 'none';
  let binaryPathInArchive: string | null = null;
  switch (name) {
    case 'kind':
      url = `${base}/${v}/kind-${os}-${cpu}`;
      break;
    case 'helm':
      archive = os === 'windows' ? 'zip' : 'tar.gz';
      url = `${base}/helm-${v}-${os}-${cpu}.${archive}`;
      binaryPathInArchive = `${os}-${cpu}/helm${exe}`;
      break;
    case 'skaffold':
      url = `${base}/${v}/skaffold-${os}-${cpu}${exe}`;
      break;
    case 'kubectl':
      url = `${base}/${v}/bin/${os}/${cpu}/kubectl${exe}`;
      break;
    default:
      throw new Error(`unknown tool '${String(name)}'; supported: ${TOOL_NAMES.join(', ')}`);
  }
  const sha256 = pinnedChecksum(name, v, key, pins);
  return { url, sha256, archive, binaryPathInArchive, binaryName: `${name}${exe}`, platformKey: key };
}

function pinnedChecksum(name: ToolName, version: string, key: string, pins: Pins): string {
  const pin = pins.tools[name];
  if (!pin || normalizeVersion(name, pin.version) !== version) {
    throw new Error(
      `${VERSION_INPUT[name]} ${version}: no pinned checksum for ${name} ${version} on ${key} ` +
        `(src/pins.json pins ${name} ${pin?.version ?? 'no version'}). Use ${pin?.version ?? 'a pinned version'}, ` +
        `or pin ${version}: ${UPDATE_HINT} ${name}=${version}`,
    );
  }
  const sha = pin.assets[key];
  if (!sha) {
    const known = Object.keys(pin.assets);
    throw new Error(
      `no pinned checksum for ${name} ${version} on ${key}; ${UPDATE_HINT} ${name}=${version} ` +
        `(pinned platforms: ${known.join(', ') || 'none'})`,
    );
  }
  if (!/^[0-9a-f]{64}$/.test(sha)) {
    throw new Error(
      `pinned checksum for ${name} ${version} on ${key} is not 64 lower-case hex digits: '${sha}'`,
    );
  }
  return sha;
}

/**
 * Installs each requested tool (cache first, verified download otherwise), adds its directory to PATH and
 * returns that directory per tool. All tools are installed concurrently; if any fails, the error lists every
 * failure.
 */
export async function installTools<N extends ToolName>(
  requests: ReadonlyArray<ToolRequest & { name: N }>,
  opts: InstallOptions = {},
): Promise<Record<N, string>> {
  const seen = new Map<ToolName, string>();
  for (const r of requests) {
    if (!TOOL_NAMES.includes(r.name)) {
      throw new Error(`unknown tool '${String(r.name)}'; supported: ${TOOL_NAMES.join(', ')}`);
    }
    const prior = seen.get(r.name);
    if (prior !== undefined) throw new Error(`${r.name} requested twice (${prior} and ${r.version})`);
    seen.set(r.name, r.version);
  }
  const trusted = opts.trustedSha256 ?? parseTrustedTools(process.env[TRUSTED_TOOLS_ENV]);
  ensureRunnerDirs();
  const results = await Promise.allSettled(
    requests.map((r) => installOne(r.name, r.version, { ...opts, trustedSha256: trusted })),
  );
  const dirs = {} as Record<N, string>;
  const failures: string[] = [];
  results.forEach((result, i) => {
    const req = requests[i] as ToolRequest & { name: N };
    if (result.status === 'fulfilled') dirs[req.name] = result.value;
    else failures.push(result.reason instanceof Error ? result.reason.message : String(result.reason));
  });
  if (failures.length === 1) throw new Error(failures[0]);
  if (failures.length > 1)
    throw new Error(`${failures.length} tools failed to install:\n- ${failures.join('\n- ')}`);
  return dirs;
}

/** tool-cache needs RUNNER_TOOL_CACHE and RUNNER_TEMP (read at call time); outside a runner use our defaults. */
function ensureRunnerDirs(): void {
  if (!process.env.RUNNER_TOOL_CACHE) {
    process.env.RUNNER_TOOL_CACHE =
      process.env.JETSCALE_TOOL_CACHE ?? join(homedir(), '.cache', 'jetscale-stack', 'toolcache');
  }
  if (!process.env.RUNNER_TEMP) process.env.RUNNER_TEMP = tmpdir();
}

async function installOne(name: ToolName, rawVersion: string, opts: InstallOptions): Promise<string> {
  const version = normalizeVersion(name, rawVersion);
  const platform = opts.platform ?? process.platform;
  const nodeArch = opts.arch ?? process.arch;
  const cacheVersion = version.slice(1);
  const asset = assetFor(name, version, platform, nodeArch, opts.pins ?? toolchainPins(), opts.baseUrls);
  const label = `${name} ${version}`;

  let rejected: string | undefined;
  const hit = tc.find(name, cacheVersion, nodeArch);
  if (hit && existsSync(join(hit, asset.binaryName))) {
    const check = await verifyCached(hit, asset, opts.trustedSha256?.[name] ?? [], label);
    if (check.ok) {
      core.info(`${label}: found in the tool cache at ${hit}; ${check.how}`);
      core.addPath(hit);
      return hit;
    }
    rejected = `the cached ${join(hit, asset.binaryName)} failed verification (${check.reason})`;
    core.warning(`${label}: ${rejected}; removing it and downloading ${name} again`);
    await removeCacheEntry(name, cacheVersion, nodeArch).catch((error: unknown) => {
      throw new Error(`${label}: ${rejected}, and removing it failed: ${errorText(error)}`);
    });
  }

  const work = join(process.env.RUNNER_TEMP ?? tmpdir(), `jetscale-${name}-${randomUUID()}`);
  await mkdir(work, { recursive: true });
  try {
    const file = join(work, 'download');
    core.info(`${label}: downloading ${asset.url}`);
    const { sha256, bytes } = await downloadWithRetries(asset.url, file, label, {
      retry: opts.retry ?? DEFAULT_RETRY,
      stallTimeoutMs: opts.stallTimeoutMs ?? 60_000,
    });
    if (sha256 !== asset.sha256) {
      await rm(file, { force: true });
      throw new Error(
        `checksum mismatch for ${label} (${asset.platformKey}) from ${asset.url}: expected sha256 ${asset.sha256}, ` +
          `got ${sha256} (${bytes} bytes). The download was deleted and nothing was cached.`,
      );
    }
    core.info(`${label}: ${bytes} bytes, sha256 ${sha256} matches the pin`);

    const stage = join(work, 'stage');
    await mkdir(stage);
    const staged = join(stage, asset.binaryName);
    if (asset.archive === 'none') {
      await copyFile(file, staged);
    } else {
      await copyFile(await extractBinary(file, asset, join(work, 'x'), label), staged);
      // The verified archive stays next to the binary: what a later cache hit is checked against.
      await copyFile(file, join(stage, archiveName(asset)));
    }
    await chmod(staged, 0o755);
    return await cacheStaged(stage, name, cacheVersion, nodeArch, label);
  } catch (error) {
    if (rejected === undefined) throw error;
    throw new Error(`${errorText(error)} (before that, ${rejected}; it was removed)`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** File name of the release asset (the last segment of its URL), e.g. helm-v3.19.0-linux-amd64.tar.gz. */
function archiveName(asset: Asset): string {
  return asset.url.slice(asset.url.lastIndexOf('/') + 1);
}

/** Extracts the archive into `into` and returns the path of the tool's binary inside it. */
async function extractBinary(archive: string, asset: Asset, into: string, label: string): Promise<string> {
  const extracted =
    asset.archive === 'zip' ? await tc.extractZip(archive, into) : await tc.extractTar(archive, into);
  const inner = join(extracted, ...(asset.binaryPathInArchive ?? asset.binaryName).split('/'));
  if (!existsSync(inner))
    throw new Error(`${label}: archive ${asset.url} has no ${asset.binaryPathInArchive}`);
  return inner;
}

type CacheCheck = { ok: true; how: string } | { ok: false; reason: string };

/** Whether the cached binary in `dir` is the pinned release (or a trusted build); see the header for the rule. */
async function verifyCached(
  dir: string,
  asset: Asset,
  trusted: readonly string[],
  label: string,
): Promise<CacheCheck> {
  // The whole directory goes on PATH: a genuine binary with a `bash`, `helm` or `docker` planted next to it would
  // still run the plant (the test command runs bash by name, Skaffold runs helm and kubectl by name).
  const expected = new Set([asset.binaryName, ...(asset.archive === 'none' ? [] : [archiveName(asset)])]);
  const others = (await readdir(dir)).filter((entry) => !expected.has(entry));
  if (others.length > 0)
    return {
      ok: false,
      reason: `its directory holds other files (${others.sort().join(', ')}), each of which would be on PATH`,
    };
  const binary = join(dir, asset.binaryName);
  let actual: string;
  try {
    actual = await sha256File(binary);
  } catch (error) {
    return { ok: false, reason: `cannot read it: ${errorText(error)}` };
  }
  if (trusted.includes(actual)) {
    return { ok: true, how: `sha256 ${actual} is listed in ${TRUSTED_TOOLS_ENV}` };
  }
  if (asset.archive === 'none') {
    return actual === asset.sha256
      ? { ok: true, how: `sha256 ${actual} matches the pin` }
      : { ok: false, reason: `expected sha256 ${asset.sha256} (the pin), got ${actual}` };
  }
  const archive = join(dir, archiveName(asset));
  if (!existsSync(archive)) {
    return {
      ok: false,
      reason:
        `no verified archive ${archiveName(asset)} next to it to check it against: expected the binary of the ` +
        `archive with sha256 ${asset.sha256}, got a binary with sha256 ${actual}`,
    };
  }
  const archiveSha = await sha256File(archive).catch((error: unknown) => `unreadable (${errorText(error)})`);
  if (archiveSha !== asset.sha256) {
    return {
      ok: false,
      reason: `its archive ${archive}: expected sha256 ${asset.sha256} (the pin), got ${archiveSha}`,
    };
  }
  const work = join(
    process.env.RUNNER_TEMP ?? tmpdir(),
    `jetscale-${asset.binaryName}-verify-${randomUUID()}`,
  );
  await mkdir(work, { recursive: true });
  try {
    const expected = await sha256File(await extractBinary(archive, asset, join(work, 'x'), label));
    return expected === actual
      ? {
          ok: true,
          how: `sha256 ${actual} is the binary of the cached archive, whose sha256 matches the pin`,
        }
      : {
          ok: false,
          reason: `expected sha256 ${expected} (the binary in the archive that matches the pin), got ${actual}`,
        };
  } catch (error) {
    return { ok: false, reason: `its archive ${archive} could not be extracted: ${errorText(error)}` };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Removes `<tool>/<version>/<arch>` and its `.complete` marker from the tool cache (and the version if empty). */
async function removeCacheEntry(name: ToolName, cacheVersion: string, nodeArch: string): Promise<void> {
  const versionDir = join(process.env.RUNNER_TOOL_CACHE ?? '', name, cacheVersion);
  // The marker first: an entry without it is no longer a hit, even if removing the directory fails half-way.
  await rm(`${join(versionDir, nodeArch)}.complete`, { force: true });
  await rm(join(versionDir, nodeArch), { recursive: true, force: true });
  if (existsSync(versionDir) && (await readdir(versionDir)).length === 0) await rmdir(versionDir);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** tc.cacheDir writes the `.complete` marker last; if it throws, remove whatever it wrote. */
async function cacheStaged(
  stage: string,
  name: ToolName,
  cacheVersion: string,
  nodeArch: string,
  label: string,
): Promise<string> {
  try {
    const dir = await tc.cacheDir(stage, name, cacheVersion, nodeArch);
    core.info(`${label}: installed to ${dir}`);
    core.addPath(dir);
    return dir;
  } catch (error) {
    await removeCacheEntry(name, cacheVersion, nodeArch);
    throw new Error(`${label}: caching failed: ${errorText(error)}`);
  }
}

/** A failure that retrying cannot fix (HTTP 4xx other than 408/429). */
class PermanentDownloadError extends Error {
  constructor(message: string) {
    super(message);
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

interface DownloadResult {
  sha256: string;
  bytes: number;
}

async function downloadWithRetries(
  url: string,
  dest: string,
  label: string,
  opts: { retry: RetryOptions; stallTimeoutMs: number },
): Promise<DownloadResult> {
  const { attempts, minDelayMs, maxDelayMs } = opts.retry;
  if (!Number.isInteger(attempts) || attempts < 1)
    throw new Error(`retry.attempts must be ≥ 1, got ${attempts}`);
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadOnce(url, dest, label, opts.stallTimeoutMs);
    } catch (error) {
      await rm(dest, { force: true });
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof PermanentDownloadError) throw error;
      if (attempt >= attempts) {
        throw new Error(`${label}: download from ${url} failed after ${attempts} attempt(s): ${message}`);
      }
      const delay = Math.min(maxDelayMs, minDelayMs * 2 ** (attempt - 1));
      core.info(`${label}: attempt ${attempt} of ${attempts} failed (${message}); retrying in ${delay} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

async function downloadOnce(
  url: string,
  dest: string,
  label: string,
  stallTimeoutMs: number,
): Promise<DownloadResult> {
  const http = new HttpClient('jetscale-stack', [], {
    allowRetries: false,
    allowRedirects: true,
    maxRedirects: 10,
    // Backstop for a server that never answers; a body that stops mid-way is caught by the stall timer below,
    // which must fire first so the error says what happened.
    socketTimeout: stallTimeoutMs * 2,
  });
  let response: Awaited<ReturnType<HttpClient['get']>>;
  try {
    response = await http.get(url);
  } catch (error) {
    throw new Error(describeNetworkError(error));
  }
  const status = response.message.statusCode ?? 0;
  if (status !== 200) {
    response.message.resume();
    if (status === 404) throw new PermanentDownloadError(`${label} not found at ${url} (HTTP 404)`);
    const text = `HTTP ${status}${response.message.statusMessage ? ` ${response.message.statusMessage}` : ''}`;
    if (status >= 500 || status === 408 || status === 429) throw new Error(text);
    throw new PermanentDownloadError(`${label}: download from ${url} failed: ${text}`);
  }
  const lengthHeader = response.message.headers['content-length'];
  const expected = lengthHeader === undefined ? undefined : Number(lengthHeader);
  const hash = createHash('sha256');
  let bytes = 0;
  let stall: NodeJS.Timeout | undefined;
  const armStall = () => {
    if (stall) clearTimeout(stall);
    stall = setTimeout(
      () => response.message.destroy(new Error(`no data for ${stallTimeoutMs} ms`)),
      stallTimeoutMs,
    );
  };
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      hash.update(chunk);
      armStall();
      done(null, chunk);
    },
  });
  armStall();
  try {
    await pipeline(response.message, counter, createWriteStream(dest));
  } catch (error) {
    if (expected !== undefined && bytes < expected) {
      throw new Error(`truncated: received ${bytes} of ${expected} bytes (${describeNetworkError(error)})`);
    }
    throw new Error(describeNetworkError(error));
  } finally {
    if (stall) clearTimeout(stall);
  }
  if (expected !== undefined && Number.isFinite(expected) && bytes !== expected) {
    throw new Error(`truncated: received ${bytes} of ${expected} bytes`);
  }
  return { sha256: hash.digest('hex'), bytes };
}

function describeNetworkError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
