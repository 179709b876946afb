/**
 * Dev mode: serves src/web straight from disk, bundles main.ts with esbuild on each request, and reloads
 * open pages when a file under src/web changes (server-sent events on /__dev/events). A restart of the
 * server itself (scripts/dev.mjs) drops the event stream; the page reloads when it reconnects.
 * esbuild is a dev dependency: only this module loads it, and only in dev mode.
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { errorMessage, type Logger } from './logger.js';
import { type StaticFile, type StaticSource, staticFile } from './static.js';
import { webBuildOptions } from './webbuild.js';

export const RELOAD_SCRIPT = `<script type="module">
const source = new EventSource('/__dev/events');
let opened = false;
source.addEventListener('open', () => { if (opened) location.reload(); opened = true; });
source.addEventListener('reload', () => location.reload());
</script>`;

export interface DevTools {
  source: StaticSource;
  extra(req: IncomingMessage, res: ServerResponse, pathname: string): boolean;
  close(): void;
}

export function createDevTools(webDir: string, logger: Logger): DevTools {
  const clients = new Set<ServerResponse>();
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    watcher = watch(webDir, { recursive: true }, () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        logger.info('web sources changed: reloading pages', { pages: clients.size });
        for (const client of clients) client.write('event: reload\ndata: {}\n\n');
      }, 50);
    });
  } catch (error) {
    logger.warn('cannot watch the web sources; reload by hand', { dir: webDir, error: errorMessage(error) });
  }

  const source: StaticSource = {
    async get(path: string): Promise<StaticFile | undefined> {
      if (path === '/main.js') {
        const esbuild = await import('esbuild');
        const result = await esbuild.build({ ...webBuildOptions(webDir, true), write: false });
        const output = result.outputFiles[0];
        if (!output) throw new Error('esbuild produced no output for main.ts');
        return staticFile(path, Buffer.from(output.contents));
      }
      if (path.endsWith('.ts')) return undefined;
      try {
        const body = await readFile(join(webDir, path));
        if (path === '/index.html') {
          return staticFile(
            path,
            Buffer.from(body.toString('utf8').replace('</body>', `${RELOAD_SCRIPT}\n</body>`)),
          );
        }
        return staticFile(path, body);
      } catch {
        return undefined;
      }
    },
  };

  return {
    source,
    extra(req, res, pathname) {
      if (pathname !== '/__dev/events') return false;
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        Connection: 'keep-alive',
      });
      res.write(': connected\n\n');
      clients.add(res);
      req.once('close', () => clients.delete(res));
      return true;
    },
    close() {
      clearTimeout(timer);
      watcher?.close();
      for (const client of clients) client.end();
      clients.clear();
    },
  };
}
