/** Runs the real backend (src/main.ts through tsx) as a child process on a random loopback port. */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from './services.js';

export const backendRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export class BackendProcess {
  readonly logs: LogLine[] = [];
  /** Lines on stdout that are not JSON: there should be none. */
  readonly stray: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private pending = '';

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => this.onStdout(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** `args`: what node runs (e.g. a compiled main.js); by default src/main.ts through tsx. */
  static async start(env: Record<string, string>, args?: string[]): Promise<BackendProcess> {
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const child = spawn(process.execPath, args ?? ['--import', 'tsx', 'src/main.ts'], {
      cwd: backendRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new BackendProcess(child, port);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private onStdout(text: string): void {
    this.pending += text;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.stray.push(line);
      }
    }
  }

  /** Polls until `predicate` holds for a log line. */
  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(predicate);
      if (found) return found;
      if (this.child.exitCode !== null)
        throw new Error(`backend exited (${this.child.exitCode}): ${this.describe()}`);
      if (Date.now() > deadline)
        throw new Error(`no such log line within ${timeoutMs} ms: ${this.describe()}`);
      await sleep(50);
    }
  }

  /** Polls GET path until it answers with `status`. */
  async waitForStatus(path: string, status: number, timeoutMs = 30_000): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
      try {
        const response = await fetch(`${this.url}${path}`);
        if (response.status === status) return response;
        last = `${response.status} ${await response.text()}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (this.child.exitCode !== null)
        throw new Error(`backend exited (${this.child.exitCode}): ${this.describe()}`);
      if (Date.now() > deadline)
        throw new Error(`GET ${path} did not answer ${status} within ${timeoutMs} ms; last: ${last}`);
      await sleep(100);
    }
  }

  describe(): string {
    return `stdout: ${this.logs.map((line) => JSON.stringify(line)).join('\n')}\nstderr: ${this.stderr}`;
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
