/** esbuild options for the page's script, shared by the production build and the dev server. */
import { join } from 'node:path';

export function webBuildOptions(webDir: string, dev: boolean) {
  return {
    entryPoints: [join(webDir, 'main.ts')],
    bundle: true,
    format: 'esm' as const,
    target: 'es2022',
    platform: 'browser' as const,
    minify: !dev,
    sourcemap: dev ? ('inline' as const) : false,
    logLevel: 'silent' as const,
  };
}
