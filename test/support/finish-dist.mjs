// After ncc: put {"type":"module"} next to each bundle, so each runs as ESM wherever it is copied.
import { writeFileSync } from 'node:fs';

for (const dir of ['dist', 'dist/post', 'dist/cli']) {
  writeFileSync(`${dir}/package.json`, `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
}
