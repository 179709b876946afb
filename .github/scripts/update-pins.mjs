#!/usr/bin/env node
// Rewrites the `tools` section of src/pins.json: for each tool version, downloads every official release
// asset, computes its SHA-256 and checks it against the checksum file the project publishes next to it.
// Needs the internet; tests never run it (they import urlFor only). Keeps every other section (rigTools, ...).
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const TOOLS = ['kind', 'helm', 'skaffold', 'kubectl'];
export const PLATFORMS = ['linux-amd64', 'linux-arm64', 'darwin-amd64', 'darwin-arm64', 'windows-amd64'];

// Same patterns as assetFor in src/tools.ts (test/unit/tools.test.ts checks that they agree).
const BASE = {
  kind: 'https://github.com/kubernetes-sigs/kind/releases/download',
  helm: 'https://get.helm.sh',
  skaffold: 'https://storage.googleapis.com/skaffold/releases',
  kubectl: 'https://dl.k8s.io/release',
};

/** Official asset URL and the URL of the checksum file published next to it. */
export function urlFor(tool, version, platform) {
  const [os, arch] = platform.split('-');
  const exe = os === 'windows' ? '.exe' : '';
  switch (tool) {
    case 'kind': {
      const url = `${BASE.kind}/${version}/kind-${os}-${arch}`;
      return { url, checksumUrl: `${url}.sha256sum` };
    }
    case 'helm': {
      const url = `${BASE.helm}/helm-${version}-${os}-${arch}.${os === 'windows' ? 'zip' : 'tar.gz'}`;
      return { url, checksumUrl: `${url}.sha256sum` };
    }
    case 'skaffold': {
      const url = `${BASE.skaffold}/${version}/skaffold-${os}-${arch}${exe}`;
      return { url, checksumUrl: `${url}.sha256` };
    }
    case 'kubectl': {
      const url = `${BASE.kubectl}/${version}/bin/${os}/${arch}/kubectl${exe}`;
      return { url, checksumUrl: `${url}.sha256` };
    }
    default:
      throw new Error(`unknown tool '${tool}'; expected one of ${TOOLS.join(', ')}`);
  }
}

const HELP = `Usage: node .github/scripts/update-pins.mjs [TOOL=VERSION ...] [options]

Rewrites tools.<tool>.version and tools.<tool>.assets in src/pins.json with the SHA-256 of each
official release asset. With no TOOL=VERSION, refreshes every tool at its currently pinned version.

  TOOL=VERSION        e.g. kind=v0.30.0 helm=v3.19.0 skaffold=v2.16.1 kubectl=v1.34.4
  --platforms LIST    comma-separated platform keys (default: ${PLATFORMS.join(',')})
  --published-only    trust the published checksum file instead of downloading each asset
                      (faster; the default downloads the asset and requires both to agree)
  --dry-run           print the result, do not write src/pins.json
  --help              this text

An asset that does not exist (HTTP 404) is left out; installTools then fails for that platform with
"no pinned checksum ...". Needs network access to the download sites.`;

function parseArgs(argv) {
  const opts = { wanted: new Map(), platforms: PLATFORMS, publishedOnly: false, dryRun: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') opts.help = true;
    else if (arg === '--dry-run') opts.dryRun = true;
    else if (arg === '--published-only') opts.publishedOnly = true;
    else if (arg === '--platforms') {
      const list = argv[++i];
      if (!list) throw new Error('--platforms needs a value, e.g. --platforms linux-amd64,darwin-arm64');
      opts.platforms = list.split(',').map((p) => p.trim());
      for (const p of opts.platforms) {
        if (!/^(linux|darwin|windows)-(amd64|arm64)$/.test(p)) {
          throw new Error(
            `--platforms: '${p}' is not a platform key; expected <linux|darwin|windows>-<amd64|arm64>`,
          );
        }
      }
    } else {
      const m = /^([a-z]+)=(v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$/.exec(arg);
      if (!m || !TOOLS.includes(m[1])) {
        throw new Error(
          `argument '${arg}' is not TOOL=VERSION (TOOL one of ${TOOLS.join(', ')}, e.g. kind=v0.30.0)`,
        );
      }
      opts.wanted.set(m[1], m[2].startsWith('v') ? m[2] : `v${m[2]}`);
    }
  }
  return opts;
}

async function sha256Of(url) {
  const res = await fetch(url, { redirect: 'follow' });
  if (res.status === 404) return undefined;
  if (!res.ok || !res.body) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const hash = createHash('sha256');
  await pipeline(Readable.fromWeb(res.body), hash);
  return hash.digest('hex');
}

async function publishedSha256(url) {
  const res = await fetch(url, { redirect: 'follow' });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const text = (await res.text()).trim();
  const sha = text.split(/\s+/)[0]?.toLowerCase();
  if (!sha || !/^[0-9a-f]{64}$/.test(sha)) throw new Error(`${url} does not start with a SHA-256: '${text}'`);
  return sha;
}

async function pinTool(tool, version, opts) {
  const assets = {};
  for (const platform of opts.platforms) {
    const { url, checksumUrl } = urlFor(tool, version, platform);
    const published = await publishedSha256(checksumUrl);
    let sha = published;
    if (!opts.publishedOnly) {
      process.stderr.write(`${tool} ${version} ${platform}: downloading ${url}\n`);
      const computed = await sha256Of(url);
      if (computed === undefined) {
        process.stderr.write(`${tool} ${version} ${platform}: no such asset (HTTP 404), left out\n`);
        continue;
      }
      if (published !== undefined && published !== computed) {
        throw new Error(`${url}: published sha256 ${published} but the download hashes to ${computed}`);
      }
      if (published === undefined) process.stderr.write(`  (no published checksum at ${checksumUrl})\n`);
      sha = computed;
    }
    if (sha === undefined) {
      process.stderr.write(`${tool} ${version} ${platform}: no published checksum, left out\n`);
      continue;
    }
    assets[platform] = sha;
    process.stderr.write(`${tool} ${version} ${platform}: ${sha}\n`);
  }
  return assets;
}

export async function main(argv) {
  const opts = parseArgs(argv);
  if (opts.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const pinsPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'pins.json');
  const pins = JSON.parse(await readFile(pinsPath, 'utf8'));
  const targets = opts.wanted.size > 0 ? [...opts.wanted] : TOOLS.map((t) => [t, pins.tools[t].version]);
  for (const [tool, version] of targets) {
    const assets = await pinTool(tool, version, opts);
    if (Object.keys(assets).length === 0)
      throw new Error(`${tool} ${version}: no asset found for any platform`);
    pins.tools[tool] = { ...pins.tools[tool], version, assets };
  }
  const text = `${JSON.stringify(pins, null, 2)}\n`;
  if (opts.dryRun) process.stdout.write(text);
  else {
    await writeFile(pinsPath, text);
    process.stderr.write(`wrote ${pinsPath}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`update-pins: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
