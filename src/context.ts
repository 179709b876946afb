/**
 * The only place the action reads its inputs and the runner's environment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@actions/core';
import { Inputs as I } from './constants.js';
import { type ActionInputs, type EventDefaults, parseInputs, type RawInputs } from './validate.js';

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
  tempDir: string;
  eventName?: string;
  /** The pull request's head repository differs from the base (a fork). */
  fromFork: boolean;
}

export interface EventPayload {
  pull_request?: {
    number?: number;
    state?: string;
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
    stackDir: env.INPUT_STACK_DIR?.trim() ? resolve(env.INPUT_STACK_DIR.trim()) : bundledStackDir(),
    tempDir: env.RUNNER_TEMP ?? resolve(process.env.TMPDIR ?? '/tmp'),
    eventName: env.GITHUB_EVENT_NAME,
    fromFork: Boolean(head && base && head !== base),
  };
}

/** Reads every input of action.yml, untrimmed, and validates them in one pass. */
export function getInputs(ctx: RunContext, event: EventPayload): ActionInputs {
  const raw: RawInputs = {};
  for (const name of Object.values(I)) {
    const value = core.getInput(name, { trimWhitespace: false });
    if (value !== '') raw[name] = value;
  }
  const fileExists = (p: string) => existsSync(isAbsolute(p) ? p : resolve(ctx.workspace, p));
  return parseInputs(raw, { event: eventDefaults(event), fileExists });
}
