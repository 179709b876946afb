/** Builds the page into dist/public: main.ts bundled and minified by esbuild, the other files copied. */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { webBuildOptions } from '../src/server/webbuild.js';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function buildWeb(webDir: string, outDir: string): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  await build({ ...webBuildOptions(webDir, false), outfile: join(outDir, 'main.js') });
  const copied = readdirSync(webDir).filter((name) => !name.endsWith('.ts'));
  for (const name of copied) copyFileSync(join(webDir, name), join(outDir, name));
  return ['main.js', ...copied].sort();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await buildWeb(join(root, 'src', 'web'), join(root, 'dist', 'public'));
  console.log(`dist/public: ${files.join(', ')}`);
}
