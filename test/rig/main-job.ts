/**
 * The main job (npm run main-job: node test/rig/main-job.mjs [--dry-run]): test/e2e/ci-kind.test.ts, the
 * bundled action's ci-kind loop on a real Kind cluster, taking the short path wherever this machine allows it.
 *
 * What that test needs: kind, kubectl, helm and skaffold at the pinned versions in the rig's tool cache (where
 * test/support/tools.ts finds them), a Docker engine, a Kind node image, and the rig's images of the examples
 * and their stand-ins (test/rig/up.sh builds those on every path). It does not need tilt, act or actionlint
 * (other tests use them), nor the Kubernetes server binaries, which only the rig's own node image is built from.
 *
 * Per item, the ordinary path is tried first:
 *   - each tool: the action's own installer (src/tools.ts), the release asset checked against src/pins.json;
 *   - the node image: `docker pull` of kind's published node image, pinned by digest (src/pins.json nodeImage).
 * decide() then picks the path from the attempt's outcome alone: a download or pull that was refused or could
 * not reach its site → that item's source build (test/rig/tools/build.sh, or up.sh building the rig's own node
 * image); a checksum or digest mismatch → the job fails, never a fallback; any other failure fails too, since
 * a source build would hide it. A tool that the rig built from source earlier (its <version>/x64.recipe) stays
 * on that path without an attempt: the installer would reject it (its checksum is not the release's) and
 * delete it, and a refused download would then cost a rebuild.
 *
 * --dry-run makes the same attempts (what they fetch stays in the cache), prints each item's path and why,
 * and stops there: no source build, no rig, no test.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pinsFile from '../../src/pins.json' with { type: 'json' };
import { installTools, type Pins, type RetryOptions, type ToolName, toolchainPins } from '../../src/tools.js';
import { repoRoot, toolCacheDir } from '../support/tools.js';

/** The tools test/e2e/ci-kind.test.ts needs (test/e2e/rig.ts rigProblem). */
export const MAIN_JOB_TOOLS: readonly ToolName[] = ['kind', 'helm', 'skaffold', 'kubectl'];
/** kind's published node image, pinned by digest: the action's default `node-image`. */
export const PUBLISHED_NODE_IMAGE: string = pinsFile.nodeImage;

/** What one attempt at the ordinary path came to. */
export type Outcome =
  /** It worked: the tool is installed and verified, or the image is in Docker. */
  | { kind: 'done'; detail: string }
  /** It failed with this message (the installer's error, or docker pull's output). */
  | { kind: 'failed'; error: string }
  /** Nothing was tried, for this reason; the item takes the source path. */
  | { kind: 'not-tried'; reason: string };

export interface Decision {
  item: string;
  path: 'ordinary' | 'source';
  /** One line for the log: the item, what happened and, for the source path, what is built instead. */
  line: string;
}

// A checksum or digest that does not match: the download site or a proxy serves other bytes than the pinned
// release. Never a reason to build instead (src/tools.ts "checksum mismatch"; Docker's and containerd's words).
const INTEGRITY =
  /checksum mismatch|verification failed for digest|digest did not match|unexpected (?:commit|content) digest/i;

// Refused, or the site was not reached: what a machine without download sites or registries sees, and what
// a source build is the answer to. Node's errno codes and src/tools.ts's HTTP wording, then Docker's.
const REFUSED: ReadonlyArray<readonly [RegExp, string]> = [
  [/\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)\b/, '$1'],
  [/\bHTTP ([45]\d\d)\b/, 'HTTP $1'],
  [/\b(CERT_[A-Z_]+|UNABLE_TO_[A-Z_]+|SELF_SIGNED_CERT[A-Z_]*|x509: [^\n]+)/, '$1'],
  [/\b(no data for \d+ ms|truncated: received \d+ of \d+ bytes|Request timeout)/, '$1'],
  [/\b(no pinned checksum for [^;]+)/, '$1'],
  [
    /\b(no such host|connection refused|i\/o timeout|TLS handshake timeout|network is unreachable|connection reset by peer|server misbehaving|context deadline exceeded|Client\.Timeout exceeded|proxyconnect tcp)\b/,
    '$1',
  ],
  [
    /\b(toomanyrequests|unauthorized|pull access denied|denied: requested access|manifest unknown|not found: manifest unknown)\b/i,
    '$1',
  ],
];

/** Why an attempt's error counts as refused or unreachable (a short token), or undefined when it does not. */
export function refusal(error: string): string | undefined {
  if (INTEGRITY.test(error)) return undefined;
  for (const [pattern, token] of REFUSED) {
    const m = pattern.exec(error);
    if (m) return m[0].replace(pattern, token);
  }
  return undefined;
}

/**
 * The path an item takes, from its attempt's outcome alone. Throws on a checksum or digest mismatch (never a
 * fallback) and on any failure that is not a refused or unreachable download or pull.
 *   item      what was attempted, e.g. "kind v0.30.0"
 *   fallback  what the source path does instead, e.g. "building from the Go module proxy (…)"
 */
export function decide(item: string, outcome: Outcome, fallback: string): Decision {
  if (outcome.kind === 'done') return { item, path: 'ordinary', line: `${item}: ${outcome.detail}` };
  if (outcome.kind === 'not-tried') {
    return { item, path: 'source', line: `${item}: ${outcome.reason} → ${fallback}` };
  }
  if (INTEGRITY.test(outcome.error)) {
    throw new Error(
      `${item}: ${outcome.error}\n` +
        'A checksum or digest mismatch means the site served other bytes than the pinned release; the main ' +
        'job stops here and does not fall back to a source build.',
    );
  }
  const why = refusal(outcome.error);
  if (why === undefined) {
    throw new Error(
      `${item}: ${outcome.error}\n` +
        'This is not a refused or unreachable download or pull, so the main job does not fall back to a ' +
        'source build (it would hide the failure).',
    );
  }
  return {
    item,
    path: 'source',
    line: `${item}: refused or unreachable (${why}: ${oneLine(outcome.error)}) → ${fallback}`,
  };
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}

export interface ToolAttemptOptions {
  /** The rig's tool cache (test/support/tools.ts toolCacheDir). */
  toolCache: string;
  baseUrls?: Partial<Record<ToolName, string>>;
  pins?: Pins;
  retry?: RetryOptions;
  stallTimeoutMs?: number;
}

/** A few quick retries: a machine that reaches no download site should learn it in seconds, not minutes. */
const PROBE_RETRY: RetryOptions = { attempts: 3, minDelayMs: 1_000, maxDelayMs: 4_000 };

/** The action's installer for one tool, into the rig's tool cache. */
export async function attemptTool(name: ToolName, opts: ToolAttemptOptions): Promise<Outcome> {
  const pins = opts.pins ?? toolchainPins();
  const version = pins.tools[name].version;
  const versionDir = join(opts.toolCache, name, version.replace(/^v/, ''));
  // test/rig/tools/build.sh writes x64.recipe next to what it built (test/support/tools.ts: the rig is x64)
  if (existsSync(join(versionDir, 'x64.recipe'))) {
    return { kind: 'not-tried', reason: `built from source earlier (${versionDir})` };
  }
  const cached = existsSync(join(versionDir, `${process.arch}.complete`));
  // @actions/tool-cache reads RUNNER_TOOL_CACHE at call time; on a runner it names the runner's own cache.
  process.env.RUNNER_TOOL_CACHE = opts.toolCache;
  try {
    const dirs = await installTools([{ name, version }], {
      pins,
      baseUrls: opts.baseUrls,
      retry: opts.retry ?? PROBE_RETRY,
      stallTimeoutMs: opts.stallTimeoutMs ?? 15_000,
    });
    const how = cached ? 'in the tool cache' : 'downloaded';
    return { kind: 'done', detail: `${how} and verified against src/pins.json (${dirs[name]})` };
  } catch (error) {
    return { kind: 'failed', error: error instanceof Error ? error.message : String(error) };
  }
}

export function dockerAnswers(): boolean {
  return spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore' }).status === 0;
}

/** `docker pull` of the node image, unless Docker has it already. */
export async function attemptPull(image: string): Promise<Outcome> {
  if (spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status === 0) {
    return { kind: 'done', detail: 'already in Docker' };
  }
  try {
    await promisify(execFile)('docker', ['pull', image], { timeout: 20 * 60_000, maxBuffer: 16 << 20 });
    return { kind: 'done', detail: 'pulled (Docker checked it against the pinned digest)' };
  } catch (error) {
    const e = error as { stderr?: string; message?: string };
    return { kind: 'failed', error: (e.stderr?.trim() || e.message) ?? String(error) };
  }
}

const toolFallback = (name: ToolName) =>
  `source build: test/rig/tools/build.sh ${name} (from the Go module proxy; nothing to do when its build is current)`;
const NODE_FALLBACK =
  "source build: test/rig/up.sh builds the rig's own node image (test/rig/lib.sh NODE_IMAGE, Kubernetes from source)";

export interface Plan {
  /** One line per item: ✓ the ordinary path, ↻ the source path, with why. */
  lines: string[];
  /** Tools to build from source (test/rig/tools/build.sh). */
  build: ToolName[];
  /** The node image for up.sh and the test (JETSCALE_RIG_NODE_IMAGE); unset: the rig builds its own. */
  nodeImage?: string;
  /** Items that must fail the job (decide threw): a mismatch, or a failure that is not a refusal. */
  failures: string[];
}

/** Every item's decision, and what the job does with them. */
export function plan(
  tools: ReadonlyArray<{ name: ToolName; item: string; outcome: Outcome }>,
  node?: { item: string; image: string; outcome: Outcome },
): Plan {
  const out: Plan = { lines: [], build: [], failures: [] };
  const take = (item: string, outcome: Outcome, fallback: string): Decision | undefined => {
    try {
      const d = decide(item, outcome, fallback);
      out.lines.push(`${d.path === 'ordinary' ? '✓' : '↻'} ${d.line}`);
      return d;
    } catch (error) {
      out.failures.push(error instanceof Error ? error.message : String(error));
      return undefined;
    }
  };
  for (const t of tools) {
    if (take(t.item, t.outcome, toolFallback(t.name))?.path === 'source') out.build.push(t.name);
  }
  if (node && take(node.item, node.outcome, NODE_FALLBACK)?.path === 'ordinary') out.nodeImage = node.image;
  return out;
}

/** Runs a command with the job's output, and resolves with its exit code. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  console.log(`main job: ${cmd} ${args.join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: 'inherit' });
    child.on('error', (error) => {
      console.error(`main job: cannot run ${cmd}: ${error.message}`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

export async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((a) => a !== '--dry-run');
  if (unknown.length > 0) {
    console.error(`main job: unknown argument '${unknown[0]}'; accepted: --dry-run`);
    return 2;
  }
  const dryRun = argv.includes('--dry-run');
  // The installer's core.debug lines are for a runner's debug log, which hides them; a terminal shows them all.
  if (process.env.GITHUB_ACTIONS !== 'true') {
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) =>
      typeof chunk === 'string' && chunk.startsWith('::debug::')
        ? true
        : (write as (...a: unknown[]) => boolean)(chunk, ...rest)) as typeof process.stdout.write;
  }
  const toolCache = toolCacheDir();
  // Outside a runner, core.addPath would print ::add-path:: commands; a scratch GITHUB_PATH takes them.
  if (!process.env.GITHUB_PATH) {
    const file = join(mkdtempSync(join(tmpdir(), 'jetscale-main-job-')), 'github-path');
    writeFileSync(file, '');
    process.env.GITHUB_PATH = file;
  }
  console.log(
    `main job: trying the ordinary path first (tools into ${toolCache}, node image ${PUBLISHED_NODE_IMAGE})`,
  );

  const givenNodeImage = process.env.JETSCALE_RIG_NODE_IMAGE;
  let docker = dockerAnswers();
  if (!docker && !dryRun && givenNodeImage === undefined) {
    // up.sh would start one anyway (docker.sh); the pull needs it first.
    if ((await run('bash', ['test/rig/docker.sh'], process.env)) !== 0) return 1;
    docker = dockerAnswers();
  }
  const nodeItem = `node image ${PUBLISHED_NODE_IMAGE}`;
  const nodeAttempt: Promise<Outcome | undefined> =
    givenNodeImage !== undefined
      ? Promise.resolve(undefined)
      : docker
        ? attemptPull(PUBLISHED_NODE_IMAGE)
        : Promise.resolve(
            dryRun
              ? undefined
              : { kind: 'not-tried', reason: 'no Docker engine answers after test/rig/docker.sh' },
          );
  const [toolOutcomes, nodeOutcome] = await Promise.all([
    Promise.all(MAIN_JOB_TOOLS.map((name) => attemptTool(name, { toolCache }))),
    nodeAttempt,
  ]);

  const pins = toolchainPins();
  const p = plan(
    MAIN_JOB_TOOLS.map((name, i) => ({
      name,
      item: `${name} ${pins.tools[name].version}`,
      outcome: toolOutcomes[i] as Outcome,
    })),
    nodeOutcome && { item: nodeItem, image: PUBLISHED_NODE_IMAGE, outcome: nodeOutcome },
  );
  if (givenNodeImage !== undefined) {
    p.lines.push(`node image ${givenNodeImage}: given by JETSCALE_RIG_NODE_IMAGE, not pulled`);
    p.nodeImage = givenNodeImage;
  } else if (nodeOutcome === undefined) {
    p.lines.push(
      `${nodeItem}: no Docker engine answers, so no pull was tried; a real run starts one ` +
        '(test/rig/docker.sh) and then tries it',
    );
  }
  for (const line of p.lines) console.log(`main job: ${line}`);
  if (p.failures.length > 0) {
    for (const f of p.failures) console.error(`main job: ✗ ${f}`);
    return 1;
  }
  const { build, nodeImage } = p;
  if (dryRun) {
    console.log(
      `main job: dry run; a real run would now ${build.length ? `run test/rig/tools/build.sh ${build.join(' ')}, ` : ''}` +
        `bring up the rig (test/rig/up.sh${nodeImage ? ` with JETSCALE_RIG_NODE_IMAGE=${nodeImage}` : ''}) ` +
        'and run test/e2e/ci-kind.test.ts',
    );
    return 0;
  }

  const env = { ...process.env };
  if (nodeImage) env.JETSCALE_RIG_NODE_IMAGE = nodeImage;
  if (build.length > 0 && (await run('bash', ['test/rig/tools/build.sh', ...build], env)) !== 0) return 1;
  if ((await run('bash', ['test/rig/up.sh'], env)) !== 0) return 1;
  const vitest = join(repoRoot, 'node_modules', '.bin', 'vitest');
  const code = await run(
    vitest,
    ['run', '--config', 'vitest.e2e.config.ts', 'test/e2e/ci-kind.test.ts'],
    env,
  );
  // Again at the end, where a reader of the job's log looks first.
  console.log('main job: paths taken');
  for (const line of p.lines) console.log(`main job: ${line}`);
  return code;
}
