/**
 * Where tests find kind, helm, skaffold, kubectl (and the rig's tilt, act, actionlint).
 * The rig (test/rig) builds them into a directory laid out like @actions/tool-cache:
 *   $JETSCALE_TOOL_CACHE/<tool>/<version without v>/x64/<tool>   plus   <tool>/<version>/x64.complete
 * Default: ~/.cache/jetscale-stack/toolcache. Tools without a pin fall back to PATH.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export const repoRoot = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

export function toolCacheDir(): string {
  return process.env.JETSCALE_TOOL_CACHE ?? join(homedir(), '.cache', 'jetscale-stack', 'toolcache');
}

interface PinsFile {
  tools: Record<string, { version: string }>;
  rigTools?: Record<string, { version: string }>;
}

export function pinnedVersion(tool: string): string | undefined {
  const pins = JSON.parse(readFileSync(join(repoRoot, 'src', 'pins.json'), 'utf8')) as PinsFile;
  return pins.tools[tool]?.version ?? pins.rigTools?.[tool]?.version;
}

/** Absolute path of a tool binary, or undefined when neither the rig cache nor PATH has it. */
export function findTool(tool: string): string | undefined {
  const version = pinnedVersion(tool);
  if (version) {
    const candidate = join(toolCacheDir(), tool, version.replace(/^v/, ''), 'x64', tool);
    // A pinned tool comes from the rig's cache only: a binary of another version on PATH (this machine has
    // an old kubectl in /usr/bin) would make tests pass or fail for the wrong reasons.
    return isExecutable(candidate) ? candidate : undefined;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, tool);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * For tests that need a tool: returns its path, or a reason to skip. In CI (CI=true) a missing tool is
 * an error, never a skip.
 */
export function requireTool(
  tool: string,
): { path: string; skip?: undefined } | { path?: undefined; skip: string } {
  const path = findTool(tool);
  if (path) return { path };
  const reason = `${tool} ${pinnedVersion(tool) ?? ''} not found in ${toolCacheDir()} or on PATH; build it with: npm run rig:tools`;
  if (process.env.CI === 'true') throw new Error(reason);
  return { skip: reason };
}

function isExecutable(path: string): boolean {
  if (!existsSync(path)) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The rig builds kind, helm, skaffold and kubectl from source, so their checksums are not the pinned release
 * assets', and the action rejects (and removes) a cache hit it cannot verify. This is the value of
 * JETSCALE_TRUSTED_TOOL_SHA256 (src/tools.ts) that vouches for the rig's binaries: `tool=sha256` per tool
 * found in the rig's cache. Every run of the action against the rig's tool cache must pass it.
 */
export function rigTrustedToolChecksums(): string {
  return ['kind', 'helm', 'skaffold', 'kubectl']
    .map((tool) => [tool, findTool(tool)] as const)
    .filter((entry): entry is readonly [string, string] => entry[1] !== undefined)
    .map(([tool, path]) => `${tool}=${createHash('sha256').update(readFileSync(path)).digest('hex')}`)
    .join(' ');
}
