/**
 * The one place every external command goes through. A test observes it (every command is recorded),
 * and in dry-run mode it prints the plan instead of executing anything.
 */
import { spawn } from 'node:child_process';
import * as core from '@actions/core';
import * as exec from '@actions/exec';
import { KUBE_RETRY, nextRetry } from './retry.js';

export interface Command {
  /** Program to run (resolved on PATH). */
  cmd: string;
  args: string[];
  /** Extra environment for this command only (merged over process.env). */
  env?: Record<string, string>;
  cwd?: string;
  /** One line saying why this command runs; shown in plans. */
  description?: string;
  /** Do not throw on a non-zero exit; the caller reads exitCode. */
  allowFailure?: boolean;
  /** Do not echo output to the log (outputs are still captured). */
  silent?: boolean;
  /** Text written to the command's standard input. */
  input?: string;
  /**
   * Safe to run again when the API server fails transiently (src/retry.ts): a read, or a write whose repeat changes
   * nothing (apply, delete --ignore-not-found, helm uninstall --ignore-not-found). Never a create: it may have landed.
   */
  retrySafe?: boolean;
  /** The output a dry run takes this query to give (the plan then shows the path that answer leads to). */
  dryRunStdout?: string;
  /** Stops the command (SIGTERM) when aborted; run() then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Executor {
  readonly dryRun: boolean;
  /** Every command asked for, in order (executed or only planned). */
  readonly commands: readonly Command[];
  run(command: Command): Promise<ExecResult>;
  /** Starts a long-running command (e.g. kubectl port-forward) in the background. */
  start(command: Command): Background;
}

export interface Background {
  /** Resolves with the first match of pattern in the process's output, or rejects on exit/timeout. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  output(): string;
  stop(): Promise<void>;
}

export class CommandError extends Error {
  constructor(
    readonly command: Command,
    readonly result: ExecResult,
    /** Tries made, when the command was retried (src/retry.ts). */
    readonly attempts = 1,
  ) {
    // The command line without its environment: KUBECONFIG and JETSCALE_* say nothing about why it failed.
    super(
      `${formatCommand({ cmd: command.cmd, args: command.args })} failed with exit code ${result.exitCode}` +
        (attempts > 1 ? ` (${attempts} tries)` : '') +
        (result.stderr.trim() ? `: ${lastLines(result.stderr, 20)}` : ''),
    );
    this.name = 'CommandError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

/** Shell-like rendering of a command, quoted so it can be copied into a shell. */
export function formatCommand(command: Pick<Command, 'cmd' | 'args' | 'env'>): string {
  const env = Object.entries(command.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}`);
  return [...env, command.cmd, ...command.args.map(shellQuote)].join(' ');
}

export function shellQuote(value: string): string {
  if (value === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs commands through @actions/exec. A command marked retrySafe that fails on a transient API-server fault is
 * run again after a backoff (src/retry.ts), each retry logged with the fault.
 */
export class ExecExecutor implements Executor {
  readonly dryRun = false;
  readonly commands: Command[] = [];

  constructor(
    private readonly opts: {
      log?: (line: string) => void;
      sleep?: (ms: number) => Promise<void>;
      policy?: typeof KUBE_RETRY;
    } = {},
  ) {}

  async run(command: Command): Promise<ExecResult> {
    this.commands.push(command);
    const policy = this.opts.policy ?? KUBE_RETRY;
    for (let attempt = 1; ; attempt++) {
      const result = await this.once(command);
      const retry = nextRetry(command, result, attempt, policy);
      if (retry) {
        (this.opts.log ?? core.info)(
          `${command.cmd} ${command.args[0] ?? ''} hit a transient fault (${retry.fault}): try ${attempt + 1} of ` +
            `${policy.attempts} in ${retry.delayMs / 1000} s`,
        );
        await (this.opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))))(
          retry.delayMs,
        );
        continue;
      }
      if (result.exitCode !== 0 && !command.allowFailure) throw new CommandError(command, result, attempt);
      return result;
    }
  }

  private async once(command: Command): Promise<ExecResult> {
    if (command.signal) return runAbortable(command, command.signal);
    const out = await exec.getExecOutput(command.cmd, command.args, {
      cwd: command.cwd,
      env: childEnv(command.env),
      ignoreReturnCode: true,
      silent: command.silent ?? false,
      input: command.input === undefined ? undefined : Buffer.from(command.input),
    });
    return { exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr };
  }

  start(command: Command): Background {
    this.commands.push(command);
    const child = spawn(command.cmd, command.args, {
      cwd: command.cwd,
      env: childEnv(command.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    let exited: string | undefined;
    const listeners = new Set<() => void>();
    const notify = () => {
      for (const l of listeners) l();
    };
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
      notify();
    });
    child.stderr.on('data', (d: Buffer) => {
      text += d.toString();
      notify();
    });
    child.on('error', (e) => {
      exited = e.message;
      notify();
    });
    child.on('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      notify();
    });
    return {
      output: () => text,
      waitFor: (pattern, timeoutMs) =>
        new Promise((resolve, reject) => {
          const check = () => {
            const m = pattern.exec(text);
            if (m) return done(() => resolve(m));
            if (exited)
              return done(() =>
                reject(
                  new Error(
                    `${formatCommand({ cmd: command.cmd, args: command.args })} ${exited} before printing ${pattern}: ${text.trim()}`,
                  ),
                ),
              );
          };
          const timer = setTimeout(
            () =>
              done(() =>
                reject(
                  new Error(
                    `${formatCommand({ cmd: command.cmd, args: command.args })} printed no ${pattern} within ${timeoutMs} ms: ${text.trim()}`,
                  ),
                ),
              ),
            timeoutMs,
          );
          const done = (f: () => void) => {
            clearTimeout(timer);
            listeners.delete(check);
            f();
          };
          listeners.add(check);
          check();
        }),
      stop: () =>
        new Promise<void>((resolve) => {
          if (exited || child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    };
  }
}

/**
 * run() of a command that may be stopped half-way (a deploy whose failure became certain before the deploy
 * itself would give up): output echoed as @actions/exec echoes it, SIGTERM on abort, then the abort's reason.
 */
function runAbortable(command: Command, signal: AbortSignal): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    if (!command.silent)
      process.stdout.write(`[command]${formatCommand({ cmd: command.cmd, args: command.args })}\n`);
    const child = spawn(command.cmd, command.args, {
      cwd: command.cwd,
      env: childEnv(command.env),
      stdio: [command.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!command.silent) process.stdout.write(d);
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!command.silent) process.stderr.write(d);
    });
    if (command.input !== undefined) child.stdin?.end(command.input);
    const onAbort = () => child.kill('SIGTERM');
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      signal.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) return reject(signal.reason);
      // A failure is run()'s to judge (retry or throw), as for any other command.
      resolve({ exitCode: code ?? (sig ? 128 : 1), stdout, stderr });
    });
  });
}

/** Records and prints commands; runs nothing. Every command "succeeds" with empty output. */
export class DryRunExecutor implements Executor {
  readonly dryRun = true;
  readonly commands: Command[] = [];
  constructor(private readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  async run(command: Command): Promise<ExecResult> {
    this.commands.push(command);
    const n = this.commands.length;
    // The environment is printed once in the plan's header; each line shows the command itself.
    const line = formatCommand({ cmd: command.cmd, args: command.args });
    const stdin = command.input !== undefined ? ' <<stdin' : '';
    this.print(
      `${String(n).padStart(2)}. ${line}${stdin}${command.description ? `    # ${command.description}` : ''}`,
    );
    return { exitCode: 0, stdout: command.dryRunStdout ?? '', stderr: '' };
  }

  start(command: Command): Background {
    void this.run(command);
    return {
      output: () => '',
      waitFor: async () => {
        throw new Error('dry run: background commands are not started');
      },
      stop: async () => {},
    };
  }
}

/**
 * The environment of every command we run: ours, over the runner's, without the action's own inputs (INPUT_*:
 * the github-token and the kubeconfig among them) and the runner's tokens (ACTIONS_RUNTIME_TOKEN, the OIDC
 * request token). A command that needs the kubeconfig gets KUBECONFIG; none needs the token.
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !/^(INPUT_|ACTIONS_RUNTIME_|ACTIONS_ID_TOKEN_)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}
