// Shared by the benchmark scripts in test/bench: arguments, running a command with timed output lines, the
// action's steps from its start and end lines, medians with min and max, the interleaved order of runs, the
// per-step tables, the gantt chart and the closing ratio lines. Prints figures it measured and nothing else: a
// step that did not run is `missing`, an expected line that never came fails the benchmark. The pure parts
// are unit-tested in test/unit/bench-lib.test.ts.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { ganttChart } from '../../src/gantt.mjs';

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
  // The e2e scenarios' rig values (the wait image too), plus the examples' images for the bare helm install.
  const values = YAML.parse(readFileSync(join(root, 'test', 'rig', 'values.yaml'), 'utf8'));
  for (const service of ['backend', 'frontend'])
    values.services[service].image = {
      repository: `jetscale-rig/${service}`,
      tag: 'rig',
      pullPolicy: 'Never',
    };
  writeFileSync(file, YAML.stringify(values));
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
    child.on('close', (code) => {
      if (buf) onLine(buf, (performance.now() - t0) / 1000);
      done([code, (performance.now() - t0) / 1000, all]);
    });
  });
}

/** Fewer runs give no meaningful median with min and max. */
export const MIN_RUNS = 5;

/** Bad command-line arguments: printed with the usage, before anything is run. */
export class UsageError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The benchmarks' arguments: --runs N (default and minimum 5), --gantt FILE (also writes the median runs as a
 * Mermaid gantt chart), --help. Returns { help: true } for --help; throws UsageError naming the bad argument.
 */
export function parseArgs(argv) {
  const opts = { runs: MIN_RUNS, gantt: undefined, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '' || (inline === undefined && v.startsWith('-')))
        throw new UsageError(
          `${flag} needs a value (${flag === '--runs' ? '--runs 5' : '--gantt steps.md'})`,
        );
      return v;
    };
    if (flag === '--help' || flag === '-h') opts.help = true;
    else if (flag === '--runs') {
      const v = value();
      if (!/^\d+$/.test(v))
        throw new UsageError(`--runs ${v}: not a whole number; use --runs N with N >= ${MIN_RUNS}`);
      if (Number(v) < MIN_RUNS)
        throw new UsageError(
          `--runs ${v}: at least ${MIN_RUNS} runs are needed for a median with min and max (default ${MIN_RUNS})`,
        );
      opts.runs = Number(v);
    } else if (flag === '--gantt') opts.gantt = value();
    else if (/^\d+$/.test(arg))
      throw new UsageError(`unexpected argument '${arg}': the number of runs is --runs ${arg}`);
    else throw new UsageError(`unknown argument '${arg}'`);
  }
  return opts;
}

/**
 * The command line of a benchmark: parses the arguments first (--help or a bad one exits here, before the body
 * touches any cluster), then runs body(opts). A usage error exits 2, a failed benchmark 1, with the message.
 */
export async function benchMain(name, usage, body) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${name}: ${error.message}\n\n${usage}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(usage);
    return;
  }
  try {
    await body(opts);
  } catch (error) {
    console.error(`${name}: failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

/**
 * The order of the runs: run i of every variant, then run i + 1 (A B A B …), so machine noise over the session
 * hits each variant alike. [{ variant, i }].
 */
export function interleave(runs, variants) {
  const order = [];
  for (let i = 0; i < runs; i++) for (const variant of variants) order.push({ variant, i });
  return order;
}

/** What the action prints as a step starts and ends (src/loops/index.ts). */
const START = /^▶ (.+)$/;
const END = /^([✓✗]) (.+) \(\d+(?:\.\d+)? s(?:, failed)?\)$/;

/**
 * The steps of one run from its output lines [[line, seconds since start], …]: [{ name, start, end, ok }] in
 * the order they started, times in seconds. `spans` adds steps marked by lines of other programs:
 * [{ name, from: RegExp, to: RegExp }]. Every step that started must end: a missing end line throws (a number
 * from half a step would be made up), as does an end line with no start.
 */
export function parseSteps(lines, what, spans = []) {
  const steps = [];
  const open = (name, t) => steps.push({ name, start: t, end: undefined, ok: undefined });
  const close = (name, t, ok, line) => {
    const step = steps.findLast((s) => s.name === name && s.end === undefined);
    if (!step) throw new Error(`${what}: the line '${line}' ends step '${name}', which never started`);
    step.end = t;
    step.ok = ok;
  };
  for (const [line, t] of lines) {
    const start = START.exec(line);
    const end = END.exec(line);
    if (start) open(start[1], t);
    else if (end) close(end[2], t, end[1] === '✓', line);
    for (const span of spans) {
      if (span.from.test(line)) open(span.name, t);
      else if (span.to.test(line)) close(span.name, t, true, line);
    }
  }
  const unfinished = steps.find((s) => s.end === undefined);
  if (unfinished)
    throw new Error(
      `${what}: step '${unfinished.name}' started but its end line never came ` +
        `(is dist/ built from this source? npm run build)`,
    );
  return steps;
}

/** Throws unless every expected step is in the run: a step mark the script relies on, never a silent 0 or NaN. */
export function requireSteps(steps, expected, what) {
  const missing = expected.filter((name) => !steps.some((s) => s.name === name));
  if (missing.length)
    throw new Error(
      `${what}: expected step${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')} not in its output (the lines that mark ${missing.length > 1 ? 'them' : 'it'} never came)`,
    );
}

/**
 * Seconds in steps named `name` less the time of other steps that ran inside them (a report nested in the
 * namespace step is counted once, under its own name); undefined if it did not run.
 */
export function ownTime(steps, name) {
  const outer = steps.filter((s) => s.name === name);
  if (!outer.length) return undefined;
  return outer.reduce((sum, o) => {
    const inner = steps.filter((s) => s !== o && s.name !== name && s.start >= o.start && s.end <= o.end);
    return sum + (o.end - o.start) - inner.reduce((n, s) => n + (s.end - s.start), 0);
  }, 0);
}

/** Seconds spent in steps named `name` (summed if it ran more than once); undefined if it did not run. */
export function duration(steps, name) {
  const mine = steps.filter((s) => s.name === name);
  return mine.length ? mine.reduce((sum, s) => sum + (s.end - s.start), 0) : undefined;
}

/** Seconds spent in steps whose names match `test`; undefined if none ran. */
export function durationOf(steps, test) {
  const mine = steps.filter((s) => test(s.name));
  return mine.length ? mine.reduce((sum, s) => sum + (s.end - s.start), 0) : undefined;
}

/** Median, min and max of measured figures. Throws on none, or on anything that is not a measured time. */
export function stats(xs, what = 'figures') {
  if (!xs.length) throw new Error(`${what}: no measurements`);
  const bad = xs.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x) || x < 0);
  if (bad >= 0) throw new Error(`${what}: ${xs[bad]} is not a measured time`);
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return {
    n: s.length,
    median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2,
    min: s[0],
    max: s[s.length - 1],
  };
}

/**
 * The lines of a table of runs: per row, median, min and max over the runs it ran in. rows: [[label, (run) =>
 * seconds | undefined]]; a row that ran in no run reads `missing`, one that ran in some `ran in k of n`.
 */
export function tableLines(title, runs, rows, width = 34) {
  const num = (x) => `${x.toFixed(1)} s`.padStart(9);
  const lines = [`${title} (median of ${runs.length}, min, max)`];
  for (const [label, of] of rows) {
    const xs = runs.map(of).filter((x) => x !== undefined);
    const name = `  ${label.padEnd(width)}`;
    if (!xs.length) {
      lines.push(`${name}${'missing'.padStart(9)}`);
      continue;
    }
    const s = stats(xs, label);
    const partial = s.n < runs.length ? `   ran in ${s.n} of ${runs.length} runs` : '';
    lines.push(`${name}${num(s.median)}${num(s.min)}${num(s.max)}${partial}`);
  }
  return lines;
}

/** Rows for every step seen in any of the runs, in the order they first started, then the total. */
export function stepRows(runs) {
  const names = [
    ...new Set(runs.flatMap((r) => [...r.steps].sort((a, b) => a.start - b.start).map((s) => s.name))),
  ];
  return [...names.map((n) => [n, (r) => duration(r.steps, n)]), ['total', (r) => r.total]];
}

/** `ci-kind: 0.58x bare (median of 5)`: the ratio of the medians of the totals, for a script to read. */
export function ratioLine(label, ours, base, baseName = 'bare') {
  if (ours.length !== base.length)
    throw new Error(`${label}: ${ours.length} runs of ours against ${base.length} of ${baseName}`);
  const a = stats(ours, `${label} (ours)`).median;
  const b = stats(base, `${label} (${baseName})`).median;
  if (b === 0) throw new Error(`${label}: the ${baseName} median is 0 s, no ratio`);
  return `${label}: ${(a / b).toFixed(2)}x ${baseName} (median of ${ours.length})`;
}

/** The run whose total is the median (the lower of the two middle ones for an even count), with its index. */
export function medianRun(runs) {
  const order = runs.map((_, i) => i).sort((a, b) => runs[a].total - runs[b].total);
  const i = order[Math.floor((order.length - 1) / 2)];
  return { run: runs[i], i };
}

/** The median run of each variant as one gantt chart, a section each: [[label, runs]] → Markdown. */
export function ganttOfMedianRuns(title, variants) {
  const steps = variants.flatMap(([label, runs]) => {
    const { run, i } = medianRun(runs);
    const section = `${label}, run ${i + 1} of ${runs.length}, ${run.total.toFixed(1)} s`;
    return [...run.steps]
      .sort((a, b) => a.start - b.start)
      .map((s) => ({ name: s.name, startMs: s.start * 1000, endMs: s.end * 1000, ok: s.ok, section }));
  });
  return ganttChart(steps, { title });
}

/** Times steps of a run of bare commands, as parseSteps returns them for the action. */
export function stopwatch() {
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  const steps = [];
  return {
    steps,
    total: now,
    async step(name, fn) {
      const s = { name, start: now(), end: undefined, ok: false };
      steps.push(s);
      try {
        const out = await fn();
        s.ok = true;
        return out;
      } finally {
        s.end = now();
      }
    },
  };
}

/**
 * Runs the bundled action (node dist/index.js) with env: { total, steps } timed from its start and end lines
 * (plus `spans` of other programs' lines); `startup` is the time before its first step. Throws when it fails,
 * or when a step in `expected` did not run.
 */
export async function runAction(env, what, expected, spans = []) {
  const lines = [];
  const [code, total, out] = await run(process.execPath, [resolve(root, 'dist/index.js')], env, (line, t) =>
    lines.push([line, t]),
  );
  if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${out.slice(-3000)}`);
  const steps = parseSteps(lines, what, spans);
  requireSteps(steps, expected, what);
  if (!steps.length) throw new Error(`${what}: printed no step lines`);
  steps.unshift({ name: 'startup', start: 0, end: steps[0].start, ok: true });
  return { total, steps };
}
