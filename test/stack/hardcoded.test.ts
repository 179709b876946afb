// Issue 11's acceptance: no service port, probe path, example Service name or example API path is written into the
// chart's templates, the action's source or the Tiltfile. They live in the services declaration
// (charts/app/values.yaml, the examples' own entries) and every part reads them from there.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from 'vitest';
import { repoRoot } from '../support/tools.js';

const LITERALS = ['8080', '8081', '/healthz', '/readyz', 'app-frontend', 'app-backend', '/api/items'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test.each(['charts/app/templates', 'src', 'Tiltfile'])(
  '%s names no service port, probe path or example name',
  (where) => {
    const root = join(repoRoot, where);
    const all = statSync(root).isDirectory() ? files(root) : [root];
    const found = all.flatMap((f) => {
      const text = readFileSync(f, 'utf8');
      return LITERALS.filter((l) => text.includes(l)).map((l) => `${relative(repoRoot, f)}: ${l}`);
    });
    expect(found).toEqual([]);
  },
);
