/**
 * The one place every external command goes through. A test observes it (every command is recorded),
 * and in dry-run mode it prints the plan instead of executing anything.
 */
import * as exec from '@actions/exec';

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
}

export class CommandError extends Error {
  constructor(
    readonly command: Command,
    readonly result: ExecResult,
  ) {
    super(
      `${formatCommand(command)} failed with exit code ${result.exitCode}` +
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

/** Runs commands through @actions/exec. */
export class ExecExecutor implements Executor {
  readonly dryRun = false;
  readonly commands: Command[] = [];

  async run(command: Command): Promise<ExecResult> {
    this.commands.push(command);
    const out = await exec.getExecOutput(command.cmd, command.args, {
      cwd: command.cwd,
      env: command.env ? mergeEnv(command.env) : undefined,
      ignoreReturnCode: true,
      silent: command.silent ?? false,
      input: command.input === undefined ? undefined : Buffer.from(command.input),
    });
    const result = { exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr };
    if (result.exitCode !== 0 && !command.allowFailure) throw new CommandError(command, result);
    return result;
  }
}

/** Records and prints commands; runs nothing. Every command "succeeds" with empty output. */
export class DryRunExecutor implements Executor {
  readonly dryRun = true;
  readonly commands: Command[] = [];
  constructor(private readonly print: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  async run(command: Command): Promise<ExecResult> {
    this.commands.push(command);
    const n = this.commands.length;
    this.print(`${String(n).padStart(2)}. ${formatCommand(command)}${command.description ? `    # ${command.description}` : ''}`);
    return { exitCode: 0, stdout: '', stderr: '' };
  }
}

function mergeEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return { ...env, ...extra };
}
