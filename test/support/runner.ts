/**
 * Runs a bundle of the action the way a GitHub runner does: `node dist/….js` with INPUT_* variables, an event
 * payload file and the GITHUB_* files (output, state, step summary) in a fresh directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, rigTrustedToolChecksums, toolCacheDir } from './tools.js';

export interface RunnerDirs {
  dir: string;
  env: Record<string, string>;
}

export function runnerEnv(
  opts: { event?: unknown; inputs?: Record<string, string>; extra?: Record<string, string> } = {},
): RunnerDirs {
  const dir = mkdtempSync(join(tmpdir(), 'runner-'));
  const file = (name: string, text = '') => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    GITHUB_EVENT_PATH: file('event.json', JSON.stringify(opts.event ?? {})),
    GITHUB_OUTPUT: file('output'),
    GITHUB_STATE: file('state'),
    GITHUB_STEP_SUMMARY: file('summary'),
    GITHUB_WORKSPACE: dir,
    RUNNER_TEMP: dir,
    RUNNER_TOOL_CACHE: toolCacheDir(),
    // The rig's tools are built from source: vouch for them, or the action would reject (and remove) them.
    JETSCALE_TRUSTED_TOOL_SHA256: rigTrustedToolChecksums(),
    ...opts.extra,
  };
  for (const [k, v] of Object.entries(opts.inputs ?? {})) env[`INPUT_${k.toUpperCase()}`] = v;
  return { dir, env };
}

/** Parses a GITHUB_OUTPUT / GITHUB_STATE file (name<<delimiter … delimiter records). */
export function parseCommandFile(path: string): Record<string, string> {
  const text = readFileSync(path, 'utf8');
  const out: Record<string, string> = {};
  const re = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const m of text.matchAll(re)) out[m[1] as string] = m[3] as string;
  return out;
}

export interface Run {
  child: ChildProcess;
  output: () => string;
  done: Promise<number | null>;
}

export function runBundle(bundle: string, env: Record<string, string>, nodeBin = process.execPath): Run {
  const child = spawn(nodeBin, [join(repoRoot, bundle)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => text, done };
}

export async function waitForOutput(run: Run, pattern: RegExp, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (!pattern.test(run.output())) {
    if (run.child.exitCode !== null) throw new Error(`exited before ${pattern}:\n${run.output()}`);
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
