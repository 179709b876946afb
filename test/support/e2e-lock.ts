/**
 * One e2e run per machine. The suite deploys fixed names (jetscale-pr-101, pr-102, the clusters jetscale-live,
 * jetscale-tilt) on the rig's one shared cluster: a second run started beside the first (a CI run while an
 * earlier check still runs) breaks both, with failures that point nowhere near the cause. The lock is a kernel
 * lock (util-linux `flock`) held by a child process: it is released when the run ends, however it ends, so
 * there is never a stale lock to clean up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface E2eLock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** Told once when another run holds the lock, with what that run wrote about itself. */
  onWait?: (holder: string) => void;
  /** Written beside the lock for a waiting run to show (default: this pid and the time). */
  holder?: string;
}

/** Waits for the machine's e2e lock in `dir` and holds it until release() (or until this process ends). */
export function acquireE2eLock(dir: string, options: LockOptions = {}): Promise<E2eLock> {
  mkdirSync(dir, { recursive: true });
  const lockFile = join(dir, 'e2e.lock');
  const holderFile = join(dir, 'e2e.lock.holder');
  // The child takes the lock, says so, and keeps it until its stdin closes: our release(), or our death.
  const child = spawn('flock', ['--exclusive', lockFile, 'sh', '-c', 'echo held; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    const waiting = setTimeout(() => {
      let holder = 'unknown';
      try {
        holder = readFileSync(holderFile, 'utf8').trim();
      } catch {}
      options.onWait?.(holder);
    }, 1000);
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('error', (err) => {
      clearTimeout(waiting);
      reject(new Error(`e2e lock: cannot run flock (util-linux): ${err.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(waiting);
      reject(new Error(`e2e lock: flock exited with ${code} before taking ${lockFile}: ${stderr.trim()}`));
    });
    child.stdout?.once('data', () => {
      clearTimeout(waiting);
      child.removeAllListeners('exit');
      writeFileSync(
        holderFile,
        `${options.holder ?? `pid ${process.pid}, since ${new Date().toISOString()}`}\n`,
      );
      resolve({ release: () => release(child) });
    });
  });
}

function release(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.stdin?.end();
  });
}
