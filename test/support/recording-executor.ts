/**
 * An Executor for unit tests that records every command and answers with scripted results. It runs
 * nothing and knows nothing about what the programs mean: a test states which output a command gets.
 * Like ExecExecutor, a non-zero exit throws CommandError unless the command allows failure.
 */
import {
  type Command,
  CommandError,
  type ExecResult,
  type Executor,
  formatCommand,
} from '../../src/executor.js';

export interface ScriptedReply {
  /** Matches the command line as formatCommand renders it (without env), e.g. /^kubectl .*get pods/. */
  match: RegExp;
  result: Partial<ExecResult>;
  once?: boolean;
  running?: boolean;
  endsAfterMs?: number;
}

export class RecordingExecutor implements Executor {
  readonly dryRun = false;
  readonly commands: Command[] = [];
  private readonly replies: ScriptedReply[] = [];

  /** Replies are tried in the order added; unmatched commands exit 0 with empty output. */
  reply(match: RegExp, result: Partial<ExecResult>): this {
    this.replies.push({ match, result });
    return this;
  }

  /** A reply used once, before any lasting one: the cluster's answer changes between two identical queries. */
  replyOnce(match: RegExp, result: Partial<ExecResult>): this {
    this.replies.unshift({ match, result, once: true });
    return this;
  }

  /**
   * A command that runs until its signal aborts it (a deploy still waiting when the loop stops it): run() then
   * rejects with the abort's reason, as ExecExecutor does after SIGTERM. Without a signal, and not aborted, it
   * ends after endsAfterMs with result (never, without endsAfterMs).
   */
  replyRunning(match: RegExp, endsAfterMs?: number, result: Partial<ExecResult> = {}): this {
    this.replies.unshift({ match, result, running: true, endsAfterMs });
    return this;
  }

  /** Command lines run so far, rendered like a shell (no env). */
  lines(): string[] {
    return this.commands.map((c) => formatCommand({ cmd: c.cmd, args: c.args }));
  }

  async run(command: Command): Promise<ExecResult> {
    this.commands.push(command);
    const line = formatCommand({ cmd: command.cmd, args: command.args });
    const reply = this.replies.find((r) => r.match.test(line));
    if (reply?.once) this.replies.splice(this.replies.indexOf(reply), 1);
    if (reply?.running) {
      const { endsAfterMs } = reply;
      return new Promise((resolve, reject) => {
        const signal = command.signal;
        const timer =
          endsAfterMs === undefined
            ? undefined
            : setTimeout(
                () => resolve({ exitCode: 0, stdout: '', stderr: '', ...reply.result }),
                endsAfterMs,
              );
        if (!signal) return;
        const abort = () => {
          clearTimeout(timer);
          reject(signal.reason);
        };
        if (signal.aborted) abort();
        signal.addEventListener('abort', abort, { once: true });
      });
    }
    const scripted = reply?.result ?? {};
    const result: ExecResult = { exitCode: 0, stdout: '', stderr: '', ...scripted };
    if (result.exitCode !== 0 && !command.allowFailure) throw new CommandError(command, result);
    return result;
  }

  start(command: Command): {
    waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
    output(): string;
    stop(): Promise<void>;
  } {
    this.commands.push(command);
    const line = formatCommand({ cmd: command.cmd, args: command.args });
    return {
      waitFor: () => Promise.reject(new Error(`RecordingExecutor does not run background commands: ${line}`)),
      output: () => '',
      stop: async () => {},
    };
  }
}
