/**
 * The only place the action reads its inputs and the runner's environment.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@actions/core';
import YAML from 'yaml';
import { type AnyLoop, Inputs as I } from './constants.js';
import { registerSecret } from './redact.js';
import {
  type ActionInputs,
  type EventDefaults,
  isKubeconfigContent,
  type ParseOptions,
  parseInputs,
  previewWithLines,
  type RawInputs,
} from './validate.js';

export interface RunContext {
  /** owner/repo from GITHUB_REPOSITORY, when running on a runner. */
  owner?: string;
  repo?: string;
  runId: string;
  runAttempt: string;
  runUrl?: string;
  apiUrl: string;
  workspace: string;
  /** Directory holding charts/, kind/, skaffold.yaml (the action's own checkout by default). */
  stackDir: string;
  /**
   * This run's private directory (created 0700 by the real dependencies, exclusively: a random name under
   * RUNNER_TEMP or the system temp dir), so no file we write has a name another user can predict.
   */
  tempDir: string;
  /** A random id of this job's run of the action: makes the Kind cluster name its own. */
  instance: string;
  eventName?: string;
  /** The pull request's head repository differs from the base (a fork). */
  fromFork: boolean;
}

export interface EventPayload {
  pull_request?: {
    number?: number;
    state?: string;
    body?: string | null;
    head?: { sha?: string; repo?: { full_name?: string } };
    base?: { repo?: { full_name?: string } };
  };
}

export function readEvent(env: NodeJS.ProcessEnv = process.env): EventPayload {
  const path = env.GITHUB_EVENT_PATH;
  if (!path || !existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as EventPayload;
  } catch (error) {
    throw new Error(`Cannot read the event payload ${path}: ${(error as Error).message}`);
  }
}

export function eventDefaults(event: EventPayload, env: NodeJS.ProcessEnv = process.env): EventDefaults {
  return {
    prNumber: event.pull_request?.number,
    sha: event.pull_request?.head?.sha ?? env.GITHUB_SHA,
    repository: env.GITHUB_REPOSITORY || undefined,
    previewWith: previewWithLines(event.pull_request?.body ?? undefined),
  };
}

/** The repository root this bundle belongs to (dist/index.js → ..; dist/post/index.js → ../..). */
export function bundledStackDir(): string {
  if (process.env.GITHUB_ACTION_PATH) return process.env.GITHUB_ACTION_PATH;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(resolve(dir, 'skaffold.yaml')) || existsSync(resolve(dir, 'action.yml'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

export function runContext(env: NodeJS.ProcessEnv = process.env, event: EventPayload = {}): RunContext {
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  const runId = env.GITHUB_RUN_ID ?? `local-${process.pid}`;
  const serverUrl = env.GITHUB_SERVER_URL ?? 'https://github.com';
  const head = event.pull_request?.head?.repo?.full_name;
  const base = event.pull_request?.base?.repo?.full_name;
  return {
    owner: owner || undefined,
    repo: repo || undefined,
    runId,
    runAttempt: env.GITHUB_RUN_ATTEMPT ?? '1',
    runUrl:
      env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID
        ? `${serverUrl}/${env.GITHUB_REPOSITORY}/actions/runs/${runId}`
        : undefined,
    apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
    workspace: env.GITHUB_WORKSPACE ?? process.cwd(),
    stackDir: bundledStackDir(),
    tempDir: privateTempDir(env),
    instance: randomBytes(3).toString('hex'),
    eventName: env.GITHUB_EVENT_NAME,
    fromFork: Boolean(head && base && head !== base),
  };
}

/** A fresh, unpredictable path for this run's private directory (created by the real dependencies). */
export function privateTempDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.RUNNER_TEMP || tmpdir(), `jetscale-${randomBytes(8).toString('hex')}`);
}

/** Reads every input of action.yml, untrimmed, and validates them in one pass. */
export function getInputs(ctx: RunContext, event: EventPayload): ActionInputs {
  const raw: RawInputs = {};
  for (const name of Object.values(I)) {
    const value = core.getInput(name, { trimWhitespace: false });
    if (value !== '') raw[name] = value;
  }
  registerSecretInputs(raw, ctx.workspace);
  const inputs = parseInputs(raw, { event: eventDefaults(event), ...fileChecks(ctx.workspace) });
  if (inputs.stackDir) ctx.stackDir = inputs.stackDir;
  return inputs;
}

/** Registers the inputs that are secrets before anything can print them (an error message, a log line). */
export function registerSecretInputs(raw: RawInputs, workspace = process.cwd()): void {
  registerSecret(raw['github-token']);
  const kc = raw.kubeconfig;
  if (!kc) return;
  if (isKubeconfigContent(kc)) registerSecret(kc);
  else {
    // A path is no secret (masking "kubeconfig" would hide the word everywhere); the file's credentials are.
    const path = resolve(workspace, kc.trim());
    if (!/[\n\r]/.test(kc) && existsSync(path) && statSync(path).isFile())
      registerSecret(readFileSync(path, 'utf8'));
  }
}

/** The file checks parseInputs asks for, relative to a workspace. */
export function fileChecks(workspace: string, loops?: readonly AnyLoop[]): ParseOptions {
  return {
    valuesFile: (p) => confinedFile(workspace, p),
    fileExists: (p) => existsSync(isAbsolute(p) ? p : resolve(workspace, p)),
    stackDir: (p) => {
      const dir = resolve(workspace, p);
      return existsSync(join(dir, 'skaffold.yaml')) && existsSync(join(dir, 'charts'))
        ? { path: dir }
        : { problem: 'a directory holding skaffold.yaml and charts/ (this one does not)' };
    },
    loops,
  };
}

/**
 * A values file must be a regular file inside the workspace once every symlink is resolved: a values file is
 * read and handed to Helm, so a path (or a link) pointing at the runner's own files must not be followed.
 */
export function confinedFile(workspace: string, path: string): { path: string } | { problem: string } {
  const form = 'paths of existing values files inside the workspace, one per line';
  let root: string;
  let real: string;
  try {
    root = realpathSync(workspace);
    real = realpathSync(resolve(workspace, path));
  } catch {
    return { problem: `${form} (this file does not exist)` };
  }
  const rel = relative(root, real);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    return { problem: `${form} (this one resolves outside the workspace ${root})` };
  if (!statSync(real).isFile()) return { problem: `${form} (this is not a regular file)` };
  // Read now, so a file that is no YAML mapping stops the run before anything is installed or created.
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(real, 'utf8'));
  } catch (error) {
    return {
      problem: `${form}, each a YAML mapping (this one does not parse: ${(error as Error).message.split('\n')[0]})`,
    };
  }
  if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc)))
    return { problem: `${form}, each a YAML mapping (this one is not a mapping)` };
  return { path: real };
}
