/**
 * The rig's tools (test/rig/tools/build.sh): the Go tools modules build exactly the versions pinned in
 * src/pins.json, and the binaries the rig built report those versions.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { pinnedVersion, repoRoot, requireTool } from '../support/tools.js';

const toolsDir = join(repoRoot, 'test', 'rig', 'tools');
const buildScript = join(toolsDir, 'build.sh');

interface GoMod {
  requires: Map<string, string>;
  replaces: Map<string, { path: string; version?: string }>;
  tools: string[];
}

/** Reads require, replace and tool directives (single-line and block forms) of a go.mod. */
function readGoMod(file: string): GoMod {
  const mod: GoMod = { requires: new Map(), replaces: new Map(), tools: [] };
  let block: string | undefined;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (!line) continue;
    if (block && line === ')') {
      block = undefined;
      continue;
    }
    const open = line.match(/^(require|replace|tool)\s*\($/);
    if (open) {
      block = open[1];
      continue;
    }
    const single = line.match(/^(require|replace|tool)\s+(.*)$/);
    const verb = block ?? single?.[1];
    const [path = '', ...words] = (block ? line : (single?.[2] ?? '')).split(/\s+/);
    if (verb === 'require') mod.requires.set(path, words[0] ?? '');
    if (verb === 'tool') mod.tools.push(path);
    if (verb === 'replace') {
      const arrow = words.indexOf('=>');
      mod.replaces.set(path, { path: words[arrow + 1] ?? '', version: words[arrow + 2] });
    }
  }
  return mod;
}

interface PinsJson {
  tools: Record<string, { version: string }>;
  rigTools: Record<string, { version: string }>;
}

function pin(tool: string): string {
  const version = pinnedVersion(tool);
  if (!version)
    throw new Error(`src/pins.json has no version for ${tool} (tools.${tool} or rigTools.${tool})`);
  return version;
}

// tool, Go module directory under test/rig/tools, upstream module, package built
const modules = [
  ['helm', 'helm', 'helm.sh/helm/v3', 'helm.sh/helm/v3/cmd/helm'],
  [
    'skaffold',
    'skaffold',
    'github.com/GoogleContainerTools/skaffold/v2',
    'github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold',
  ],
  ['kind', 'kind', 'sigs.k8s.io/kind', 'sigs.k8s.io/kind'],
  ['kubectl', 'kubernetes', 'k8s.io/kubernetes', 'k8s.io/kubernetes/cmd/kubectl'],
  ['actionlint', 'actionlint', 'github.com/rhysd/actionlint', 'github.com/rhysd/actionlint/cmd/actionlint'],
  ['act', 'act', 'github.com/nektos/act', 'github.com/nektos/act'],
  ['tilt', 'tilt', 'github.com/tilt-dev/tilt', 'github.com/tilt-dev/tilt/cmd/tilt'],
] as const;

describe('Go tools modules agree with src/pins.json', () => {
  test.each(modules)('%s: test/rig/tools/%s/go.mod requires %s at the pin', (tool, dir, module, pkg) => {
    const mod = readGoMod(join(toolsDir, dir, 'go.mod'));
    expect(mod.requires.get(module), `${dir}/go.mod require ${module}`).toBe(pin(tool));
    expect(mod.tools).toContain(pkg);
    expect(existsSync(join(toolsDir, dir, 'go.sum')), `${dir}/go.sum is committed`).toBe(true);
  });

  test('every Kubernetes staging module is required and replaced at v0.<minor>.<patch> of the kubectl pin', () => {
    const kube = pin('kubectl');
    const staging = kube.replace(/^v1\./, 'v0.');
    const mod = readGoMod(join(toolsDir, 'kubernetes', 'go.mod'));
    const stagingReplaces = [...mod.replaces].filter(([path]) => path.startsWith('k8s.io/'));
    expect(stagingReplaces.length).toBeGreaterThan(25);
    for (const [path, target] of stagingReplaces) {
      expect(target, `replace ${path}`).toEqual({ path, version: staging });
      const required = mod.requires.get(path);
      if (required !== undefined) expect(required, `require ${path}`).toBe(staging);
    }
    for (const cmd of ['kubeadm', 'kubelet', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      expect(mod.tools).toContain(`k8s.io/kubernetes/cmd/${cmd}`);
    }
  });
});

describe('build.sh', () => {
  const temps: string[] = [];
  afterAll(() => {
    for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A copy of the repository layout build.sh needs (src/pins.json, the script, the named tools modules) in a
   * temporary directory, with its own tool cache, so a test can change pins or modules freely.
   */
  function rigCopy(moduleDirs: string[], editPins: (pins: PinsJson) => void = () => {}) {
    const root = mkdtempSync(join(tmpdir(), 'rig-tools-'));
    temps.push(root);
    const tools = join(root, 'test', 'rig', 'tools');
    mkdirSync(join(root, 'src'));
    mkdirSync(tools, { recursive: true });
    const pins = JSON.parse(readFileSync(join(repoRoot, 'src', 'pins.json'), 'utf8')) as PinsJson;
    editPins(pins);
    writeFileSync(join(root, 'src', 'pins.json'), JSON.stringify(pins));
    cpSync(buildScript, join(tools, 'build.sh'));
    for (const dir of moduleDirs) cpSync(join(toolsDir, dir), join(tools, dir), { recursive: true });
    const cache = join(root, 'toolcache');
    const run = (...args: string[]) => {
      const result = spawnSync('bash', [join(tools, 'build.sh'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, JETSCALE_TOOL_CACHE: cache },
      });
      if (result.error) throw result.error;
      return result;
    };
    return { tools, cache, run };
  }

  const go = spawnSync('go', ['version']).status === 0;
  const noGo = 'go is not on PATH; build.sh needs Go 1.26+';
  if (!go && process.env.CI === 'true') throw new Error(noGo);

  test('rejects an unknown tool, naming it and the accepted ones', () => {
    const run = spawnSync('bash', [buildScript, 'helm', 'kubeadm'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("unknown tool 'kubeadm'");
    expect(run.stderr).toContain('accepted: helm skaffold kind kubectl actionlint k8s-server act tilt');
  });

  test.skipIf(!go)(
    `refuses to build when src/pins.json and the tools module disagree${go ? '' : ` (${noGo})`}`,
    () => {
      const rig = rigCopy(['helm'], (pins) => {
        pins.tools.helm = { version: 'v3.18.9' };
      });
      const run = rig.run('helm');
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('src/pins.json pins v3.18.9');
      expect(run.stderr).toContain('test/rig/tools/helm/go.mod requires helm.sh/helm/v3 v3.19.0');
      expect(existsSync(join(rig.cache, 'helm'))).toBe(false);
    },
  );

  test.skipIf(!go)(
    `builds into the tool-cache layout, then reuses it until the recipe changes${go ? '' : ` (${noGo})`}`,
    () => {
      const rig = rigCopy(['kind']);
      const version = pin('kind');
      const dir = join(rig.cache, 'kind', version.replace(/^v/, ''));

      const first = rig.run('kind');
      expect(first.status, first.stderr).toBe(0);
      expect(first.stdout).toMatch(new RegExp(`\\[rig:tools\\] kind ${version} built in \\d+s`));
      expect(existsSync(join(dir, 'x64.complete'))).toBe(true);
      expect(output(join(dir, 'x64', 'kind'), ['version'])).toContain(`kind ${version} `);

      const second = rig.run('kind');
      expect(second.status, second.stderr).toBe(0);
      expect(second.stdout).toContain(`[rig:tools] kind ${version} cached`);

      // A changed go.mod (here only a comment) is a changed recipe: rebuilt.
      writeFileSync(
        join(rig.tools, 'kind', 'go.mod'),
        `${readFileSync(join(rig.tools, 'kind', 'go.mod'), 'utf8')}// edited\n`,
      );
      const third = rig.run('kind');
      expect(third.status, third.stderr).toBe(0);
      expect(third.stdout).toContain(`[rig:tools] kind ${version} built in`);

      // A missing marker means an unfinished install: rebuilt.
      rmSync(join(dir, 'x64.complete'));
      const fourth = rig.run('kind');
      expect(fourth.stdout).toContain(`[rig:tools] kind ${version} built in`);
      expect(existsSync(join(dir, 'x64.complete'))).toBe(true);
    },
  );
});

/** Runs a binary and returns its stdout (plus stderr), failing the test with both on a non-zero exit. */
function output(path: string, args: string[]): string {
  const run = spawnSync(path, args, { encoding: 'utf8', timeout: 30_000 });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`${path} ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return `${run.stdout}${run.stderr}`.trim();
}

// tool, arguments, what the output must show for the pinned version v
const versionChecks: [string, string[], (v: string) => RegExp][] = [
  ['helm', ['version', '--template', '{{.Version}}'], (v) => new RegExp(`^${v}$`)],
  ['kind', ['version'], (v) => new RegExp(`^kind ${v} go\\S+ linux/amd64$`)],
  ['kubectl', ['version', '--client', '--output', 'yaml'], (v) => new RegExp(`gitVersion: ${v}\\n`)],
  ['skaffold', ['version'], (v) => new RegExp(`^${v}$`)],
  ['actionlint', ['-version'], (v) => new RegExp(`^${v}\\n`)],
  ['act', ['--version'], (v) => new RegExp(`^act version ${v}$`)],
  ['tilt', ['version'], (v) => new RegExp(`^${v}, built \\d{4}-\\d{2}-\\d{2}$`)],
];

describe.each(versionChecks)('%s binary', (tool, args, expected) => {
  const found = requireTool(tool);
  test.skipIf(found.skip !== undefined)(`reports the pinned version (${found.skip ?? found.path})`, () => {
    const path = found.path as string;
    const hint = `${path} is not the pinned ${tool} ${pin(tool)}; build it with: npm run rig:tools`;
    expect(output(path, args), hint).toMatch(expected(pin(tool)));
  });
});

describe('k8s-server binaries', () => {
  const version = pin('kubectl');
  const bin = join(
    process.env.JETSCALE_RIG_CACHE ?? join(homedir(), '.cache', 'jetscale-stack', 'rig'),
    'k8s',
    version,
    'bin',
  );
  const built = existsSync(join(bin, '.complete'));
  const reason = `${bin}/.complete not found; build with: bash test/rig/tools/build.sh k8s-server`;
  if (!built && process.env.CI === 'true') throw new Error(reason);
  const checks: [string, string[], RegExp][] = [
    ['kubeadm', ['version', '-o', 'short'], new RegExp(`^${version}$`)],
    ['kubelet', ['--version'], new RegExp(`^Kubernetes ${version}$`)],
    ['kube-apiserver', ['--version'], new RegExp(`^Kubernetes ${version}$`)],
    ['kube-controller-manager', ['--version'], new RegExp(`^Kubernetes ${version}$`)],
    ['kube-scheduler', ['--version'], new RegExp(`^Kubernetes ${version}$`)],
    ['kube-proxy', ['--version'], new RegExp(`^Kubernetes ${version}$`)],
  ];
  test.skipIf(!built).each(checks)(
    `%s reports ${version} (${built ? bin : reason})`,
    (cmd, args, expected) => {
      expect(output(join(bin, cmd), args)).toMatch(expected);
    },
  );
});
