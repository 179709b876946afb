/** Static files: loaded into memory once at start (production), so nothing is read per request. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';

export interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

export interface StaticSource {
  /** `path` is a decoded URL path like "/index.html". */
  get(path: string): Promise<StaticFile | undefined>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

export function staticFile(path: string, body: Buffer): StaticFile {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, type: contentType(path), etag };
}

export class MemorySource implements StaticSource {
  readonly files = new Map<string, StaticFile>();

  constructor(dir: string) {
    const walk = (current: string): void => {
      for (const entry of readdirSync(current, { withFileTypes: true })) {
        const full = join(current, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile()) {
          const path = `/${relative(dir, full).split(sep).join('/')}`;
          this.files.set(path, staticFile(path, readFileSync(full)));
        }
      }
    };
    walk(dir);
    if (!this.files.has('/index.html')) {
      throw new Error(`${dir} has no index.html: build the page first (npm run build)`);
    }
  }

  async get(path: string): Promise<StaticFile | undefined> {
    return this.files.get(path);
  }
}

/**
 * Maps a request path to a file path: "/" → "/index.html". Undefined when the path cannot name a file
 * (bad escapes, "..", NUL, backslashes).
 */
export function filePath(pathname: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) return undefined;
  if (decoded.split('/').some((segment) => segment === '..' || segment === '.')) return undefined;
  return decoded.endsWith('/') ? `${decoded}index.html` : decoded;
}
