// Shared by the benchmark scripts in test/bench: running a command with timed output lines, medians, and
// the per-step table. Prints figures; asserts nothing.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..', '..');
export const toolCache =
  process.env.JETSCALE_TOOL_CACHE ?? join(homedir(), '.cache', 'jetscale-stack', 'toolcache');
const pins = JSON.parse(readFileSync(join(root, 'src/pins.json'), 'utf8'));

/** Directory of a pinned tool (src/pins.json `tools` or `rigTools`) in the rig's tool cache. */
export const toolDir = (t) => join(toolCache, t, (pins.tools[t] ?? pins.rigTools[t]).version.slice(1), 'x64');
/** Path of a pinned tool in the rig's tool cache. */
export const tool = (t) => join(toolDir(t), t);

/**
 * JETSCALE_TRUSTED_TOOL_SHA256 for the rig's tools: they are built from source, not the pinned release assets, and
 * the action rejects (and removes) a cache hit it cannot verify.
 */
export const trustedTools = () =>
  ['kind', 'helm', 'skaffold', 'kubectl']
    .filter((t) => existsSync(tool(t)))
    .map(
      (t) =>
        `${t}=${createHash('sha256')
          .update(readFileSync(tool(t)))
          .digest('hex')}`,
    )
    .join(' ');

/** Writes <dir>/rig-values.yaml: the chart on the rig's images, loaded into the cluster, never pulled. */
export function rigValuesFile(dir) {
  const file = join(dir, 'rig-values.yaml');
  writeFileSync(
    file,
    `postgres:\n  image: { repository: jetscale-rig/postgres, tag: "15", pullPolicy: Never }\nredis:\n  image: { repository: jetscale-rig/redis, tag: "7", pullPolicy: Never }\nservices:\n  backend:\n    image: { repository: jetscale-rig/backend, tag: rig, pullPolicy: Never }\n  frontend:\n    image: { repository: jetscale-rig/frontend, tag: rig, pullPolicy: Never }\n`,
  );
  return file;
}

/** Runs a command; calls onLine(line, secondsSinceStart) for each output line; resolves with [code, seconds, output]. */
export function run(cmd, args, env = {}, onLine = () => {}) {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    let all = '';
    const feed = (d) => {
      buf += d.toString();
      all += d.toString();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        onLine(buf.slice(0, i), (performance.now() - t0) / 1000);
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.on('close', (code) => done([code, (performance.now() - t0) / 1000, all]));
  });
}

/** Runs the bundled action (node dist/index.js) with env; its steps timed from the "▶ step" lines it prints. */
export async function runAction(env, what) {
  const marks = [];
  const [code, total, out] = await run(process.execPath, [resolve(root, 'dist/index.js')], env, (line, t) => {
    const m = /^▶ (.+)$/.exec(line);
    if (m) marks.push([m[1], t]);
  });
  if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${out.slice(-3000)}`);
  const steps = {};
  marks.forEach(([name, t], k) => {
    steps[name] = (marks[k + 1]?.[1] ?? total) - t;
  });
  steps.startup = marks[0]?.[1] ?? 0; // before the first step: Node start, input validation
  return { total, steps };
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Prints the median of each step and of the total over runs of { total, steps }. */
export function table(label, rs, width = 18) {
  const names = [...new Set(rs.flatMap((r) => Object.keys(r.steps)))];
  const row = (name, xs) => console.log(`  ${name.padEnd(width)} ${median(xs).toFixed(1).padStart(7)} s`);
  console.log(`\n${label} (median of ${rs.length})`);
  for (const n of names)
    row(
      n,
      rs.map((r) => r.steps[n] ?? 0),
    );
  row(
    'total',
    rs.map((r) => r.total),
  );
}

/** Ratio of the medians of the totals of two sets of runs. */
export const ratio = (a, b) => (median(a.map((r) => r.total)) / median(b.map((r) => r.total))).toFixed(2);
