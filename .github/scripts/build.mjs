#!/usr/bin/env node
// Builds the action's bundles: tsc (type-checks and compiles src/ to JavaScript), then ncc bundles each entry.
// Usage: node .github/scripts/build.mjs [outDir=dist]   (the check-dist test builds into a temp dir and compares)
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const out = resolve(root, process.argv[2] ?? 'dist');
// A fixed place for the compiled JavaScript: ncc records module paths in the bundle.
const js = join(root, 'build');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

try {
  rmSync(js, { recursive: true, force: true });
  run(bin('tsc'), ['-p', 'tsconfig.build.json', '--outDir', join(js, 'src')]);
  rmSync(out, { recursive: true, force: true });
  const entries = [
    ['index.js', out, ['--license', 'licenses.txt']],
    ['post.js', join(out, 'post'), []],
    ['cli.js', join(out, 'cli'), []],
    ['fork-gate.js', join(out, 'fork-gate'), []],
  ];
  for (const [entry, dir, extra] of entries) {
    run(bin('ncc'), ['build', join(js, 'src', entry), '-o', dir, '--quiet', ...extra]);
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
  }
} finally {
  rmSync(js, { recursive: true, force: true });
}
