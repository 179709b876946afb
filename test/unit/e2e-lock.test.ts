// The machine's e2e lock (test/support/e2e-lock.ts): a second run waits for the first, and a run that dies
// (SIGKILL, no cleanup) does not leave the machine locked.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { acquireE2eLock } from '../support/e2e-lock.js';

const settled = (p: Promise<unknown>) =>
  Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), 1500))]);

describe('the e2e lock', () => {
  test('a second run waits, told who holds the lock, until the first releases it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2e-lock-'));
    const first = await acquireE2eLock(dir, { holder: 'first run' });
    const told: string[] = [];
    const second = acquireE2eLock(dir, { onWait: (h) => told.push(h) });
    expect(await settled(second)).toBe(false);
    expect(told).toEqual(['first run']);
    await first.release();
    expect(await settled(second)).toBe(true);
    await (await second).release();
  });

  test('a run killed while holding the lock leaves it free', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2e-lock-'));
    // The holder is a separate Node process running the same module (compiled here: Node 20 runs no TypeScript).
    const source = readFileSync(new URL('../support/e2e-lock.ts', import.meta.url), 'utf8');
    const lockModule = join(dir, 'e2e-lock.mjs');
    writeFileSync(
      lockModule,
      ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText,
    );
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { acquireE2eLock } = await import(${JSON.stringify(lockModule)});
         await acquireE2eLock(${JSON.stringify(dir)}); console.log('holding'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((r) => holder.stdout.once('data', r));
      const blocked = acquireE2eLock(dir);
      expect(await settled(blocked)).toBe(false);
      holder.kill('SIGKILL');
      expect(await settled(blocked)).toBe(true);
      await (await blocked).release();
    } finally {
      // a failed expectation must not leave the holder running
      holder.kill('SIGKILL');
    }
  });
});
