// Drift: the Tiltfile, skaffold.yaml and charts/app must agree on the services, their images and the
// values file of each environment.
//
// The single source of truth is skaffold.yaml: the Tiltfile reads build.artifacts (service names, build
// contexts) and deploy.helm.releases[0] (chart path, untemplated values files) from it with read_yaml
// instead of repeating them. What this test checks, without any tool:
//   - skaffold.yaml: artifacts are the contract's services, each profile's values files exist and end
//     with the action's JETSCALE_VALUES_FILE, setValueTemplates map IMAGE_REPO_/IMAGE_TAG_<artifact> to
//     <artifact>.image.repository/tag, the `siblings` profile maps examples/<x> to ../<x>;
//   - charts/app: one component (subchart with a Deployment) per artifact with image.repository/tag,
//     postgres and redis present, and the environment values files skaffold names;
//   - Tiltfile: reads skaffold.yaml, names no chart path, values file or service image itself (regexes
//     below run over its code with comments and the docstring removed), its release is skaffold's local
//     default, its per-service tables only name artifacts, and it builds the Dockerfiles' `dev` stage.
// With tilt and helm present it also evaluates the real Tiltfile (`tilt alpha tiltfile-result`) and
// compares what Tilt would build and deploy with `skaffold render -p local-kind`.
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { declarationOf, readStageDeclaration } from '../../src/declaration.js';
import { devPlan } from '../../src/dev.js';
import { planBuild, runSkaffoldConfig } from '../../src/loops/build.js';
import { repoRoot, requireTool } from '../support/tools.js';
import {
  type HelmRelease,
  type K8sObject,
  mustRun,
  objects,
  PROFILES,
  type Profile,
  run,
  type SkaffoldConfig,
  skaffoldConfig,
  toolEnv,
} from './stack-tools.js';

/** The contract's services (common brief): image names, example contexts, chart components. */
// The action's list (the services a preview fills from a companion PR or the baseline) is skaffold's artifacts.
// The services the chart declares by default (what src/declaration.ts reads): every one is a Skaffold artifact.
const DECLARED = declarationOf(
  parse(readFileSync(join(repoRoot, 'charts', 'app', 'values.yaml'), 'utf8')),
).services;
const SERVICES = DECLARED.map((s) => s.name);
const DATA = ['postgres', 'redis'];
/** What the laptop loop builds for the default declaration with no sibling checkouts: the bundled examples. */
const LAPTOP = devPlan(readStageDeclaration(repoRoot, 'local', {}), {
  stackDir: repoRoot,
  sourcesDir: mkdtempSync(join(tmpdir(), 'no-siblings-')),
});
/**
 * The values file of each environment. CI runs the chart's defaults (values.yaml) with global.environment=ci;
 * the other stages have their own file on top of the defaults.
 */
const VALUES_OF: Record<Profile, string> = {
  'local-kind': 'charts/app/values.local.yaml',
  'ci-kind': 'charts/app/values.yaml',
  preview: 'charts/app/values.preview.yaml',
  live: 'charts/app/values.live.yaml',
};

/** skaffold's profile patches (JSON patch `add`/`replace` on JSON-pointer paths), enough for our file. */
function applyProfile(base: SkaffoldConfig, profile: string): SkaffoldConfig {
  const config = structuredClone(base);
  const p = config.profiles.find((x) => x.name === profile);
  if (!p)
    throw new Error(
      `skaffold.yaml has no profile '${profile}' (profiles: ${base.profiles.map((x) => x.name)})`,
    );
  for (const patch of p.patches ?? []) {
    if (patch.op !== 'add' && patch.op !== 'replace') throw new Error(`unsupported patch op '${patch.op}'`);
    const keys = patch.path
      .split('/')
      .slice(1)
      .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop() as string;
    // biome-ignore lint/suspicious/noExplicitAny: walking arbitrary YAML
    let node: any = config;
    for (const k of keys) {
      if (node?.[k] === undefined)
        throw new Error(`profile ${profile}: patch path ${patch.path} does not exist`);
      node = node[k];
    }
    if (patch.op === 'replace' && node[last] === undefined) {
      throw new Error(`profile ${profile}: replace of missing ${patch.path}`);
    }
    node[last] = structuredClone(patch.value);
  }
  return config;
}

const base = skaffoldConfig();
const release = (c: SkaffoldConfig): HelmRelease => c.deploy.helm.releases[0] as HelmRelease;
const chartDir = join(repoRoot, release(base).chartPath);

/** The Tiltfile's code: comments, and the module docstring, removed. */
function tiltCode(): string {
  const text = readFileSync(join(repoRoot, 'Tiltfile'), 'utf8').replace(/^\s*"""[\s\S]*?"""/m, '');
  return text
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .join('\n');
}

describe('skaffold.yaml is the source of truth', () => {
  test('artifacts are the services, built from their bundled example, as the laptop plan builds them', () => {
    expect(LAPTOP.problems).toEqual([]);
    expect(base.build.artifacts.map((a) => a.image)).toEqual(SERVICES);
    for (const s of LAPTOP.services) {
      const a = base.build.artifacts.find((x) => x.image === s.name);
      expect(s.source, s.name).toBe('example');
      expect(a?.context, s.name).toBe(relative(repoRoot, s.context));
      expect(join(repoRoot, a?.context ?? '', a?.docker?.dockerfile ?? 'Dockerfile'), s.name).toBe(
        s.dockerfile,
      );
    }
  });

  test("skaffold.yaml's artifacts are the declaration's build contexts (services.<n>.build)", () => {
    const built = DECLARED.filter((s) => s.build);
    const form = (a: SkaffoldConfig['build']['artifacts'][number]) => ({
      image: a.image,
      context: a.context,
      dockerfile: a.docker?.dockerfile ?? 'Dockerfile',
      target: a.docker?.target,
    });
    const declared = (target: 'target' | 'devTarget') =>
      built.map((s) => ({
        image: s.name,
        context: s.build?.context,
        dockerfile: s.build?.dockerfile,
        target: target === 'devTarget' ? (s.build?.devTarget ?? s.build?.target) : s.build?.target,
      }));
    expect(base.build.artifacts.map(form)).toEqual(declared('target'));
    // the laptop builds each declared devTarget; every other stage the declared target
    expect(applyProfile(base, 'local-kind').build.artifacts.map(form)).toEqual(declared('devTarget'));
    for (const profile of PROFILES.filter((p) => p !== 'local-kind'))
      expect(applyProfile(base, profile).build.artifacts.map(form), profile).toEqual(declared('target'));
  });

  test("a run's own Skaffold file (the action's) builds what skaffold.yaml builds, from the stack's absolute paths", () => {
    const plan = planBuild(
      { images: [] },
      { workspace: repoRoot, stackDir: repoRoot },
      { services: DECLARED, checks: [] },
    );
    const config = runSkaffoldConfig(repoRoot, plan) as unknown as SkaffoldConfig;
    expect(config.build.artifacts).toEqual(
      base.build.artifacts.map((a) => ({ ...a, context: join(repoRoot, a.context) })),
    );
    for (const profile of PROFILES.filter((p) => p !== 'local-kind')) {
      const committed = release(applyProfile(base, profile));
      const own = release(applyProfile(config, profile));
      expect(own.chartPath, profile).toBe(join(repoRoot, committed.chartPath));
      expect(own.setValueTemplates, profile).toEqual(committed.setValueTemplates);
    }
  });

  test('the siblings profile (JETSCALE_SOURCES=siblings) builds ../<service> instead', () => {
    const siblings = applyProfile(base, 'siblings');
    expect(siblings.build.artifacts.map((a) => a.context)).toEqual(SERVICES.map((s) => `../${s}`));
    expect(base.profiles.find((p) => p.name === 'siblings')?.activation).toEqual([
      { env: 'JETSCALE_SOURCES=siblings' },
    ]);
  });

  test('setValueTemplates feed each artifact, and only artifacts, into services.<service>.image.*', () => {
    for (const profile of PROFILES) {
      const t = release(applyProfile(base, profile)).setValueTemplates ?? {};
      for (const s of SERVICES) {
        expect(t[`services.${s}.image.repository`], `${profile}: services.${s}.image.repository`).toBe(
          `{{.IMAGE_REPO_${s}}}`,
        );
        expect(t[`services.${s}.image.tag`], `${profile}: services.${s}.image.tag`).toBe(
          `{{.IMAGE_TAG_${s}}}@{{.IMAGE_DIGEST_${s}}}`,
        );
      }
      const named = Object.values(t).flatMap((v) =>
        [...v.matchAll(/IMAGE_[A-Z_]+?_([a-z0-9]+)\}\}/g)].map((m) => m[1]),
      );
      expect(new Set(named), profile).toEqual(new Set(SERVICES));
    }
  });

  test.each(PROFILES)(
    'profile %s deploys charts/app with its environment values file, then JETSCALE_VALUES_FILE',
    (profile) => {
      const r = release(applyProfile(base, profile));
      const own = VALUES_OF[profile];
      expect(r.chartPath).toBe('charts/app');
      // helm applies the chart's values.yaml by itself; any other environment file comes first
      const files = own === 'charts/app/values.yaml' ? [] : [own];
      // the last entry is the action's file; unset, it defaults to repeating the environment's file (a no-op)
      files.push(`{{ env "JETSCALE_VALUES_FILE" | default "${own}" }}`);
      expect(r.valuesFiles).toEqual(files);
    },
  );

  test('profile ci-kind sets the stage to ci; the others take it from their values file', () => {
    expect(release(applyProfile(base, 'ci-kind')).setValues).toEqual({ 'global.environment': 'ci' });
    for (const profile of PROFILES.filter((p) => p !== 'ci-kind')) {
      expect(release(applyProfile(base, profile)).setValues, profile).toBeUndefined();
    }
  });
});

describe('charts/app agrees with skaffold.yaml', () => {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'));
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  const subchartDir = join(chartDir, 'charts');
  const declared = Object.keys(values.services ?? {});

  test('one declared service per artifact; postgres and redis are the only subcharts', () => {
    expect(declared.sort()).toEqual([...SERVICES].sort());
    const deps = (chart.dependencies ?? []).map((d: { name: string }) => d.name);
    expect(deps.sort()).toEqual(DATA);
    expect(readdirSync(subchartDir).sort()).toEqual(DATA);
  });

  test('each artifact has services.<service>.image.repository and tag in the chart values', () => {
    for (const s of SERVICES) {
      expect(Object.keys(values.services[s]?.image ?? {}), s).toEqual(
        expect.arrayContaining(['repository', 'tag']),
      );
    }
  });

  test.each(PROFILES)('the values file of %s exists, parses and names its stage', (profile) => {
    const file = join(repoRoot, VALUES_OF[profile]);
    expect(existsSync(file), file).toBe(true);
    const stage = parse(readFileSync(file, 'utf8'))?.global?.environment;
    const expected =
      profile === 'ci-kind' ? 'local' : { 'local-kind': 'local', preview: 'preview', live: 'live' }[profile];
    expect(stage, `${file}: global.environment`).toBe(expected);
  });
});

describe('the Tiltfile reads skaffold.yaml instead of repeating it', () => {
  const code = tiltCode();

  test('it reads the helm release from skaffold.yaml and the services from stack dev:plan', () => {
    expect(code).toMatch(/read_yaml\('skaffold\.yaml'\)/);
    expect(code).toMatch(/\['node', 'dist\/cli\/index\.js', 'dev:plan',/);
    expect(code).toMatch(/for svc in PLAN\['services'\]|SERVICES = PLAN\['services'\]/);
    expect(code).toMatch(/skaffold\['deploy'\]\['helm'\]\['releases'\]\[0\]/);
    expect(code).toMatch(/\['chartPath'\]/);
    expect(code).toMatch(/\.get\('valuesFiles'/);
  });

  test('it names no chart path, values file, build context or image of its own', () => {
    expect(code).not.toMatch(/charts\//);
    expect(code).not.toMatch(/values[\w.-]*\.ya?ml/);
    expect(code).not.toMatch(/examples\//);
    expect(code).not.toMatch(/docker_build\(\s*'/);
  });

  test("its release is skaffold's local default release", () => {
    const tiltRelease = /^RELEASE = '([a-z0-9-]+)'/m.exec(code)?.[1];
    const skaffoldDefault = /\| default "([a-z0-9-]+)"/.exec(release(base).name)?.[1];
    expect(tiltRelease).toBe('app');
    expect(skaffoldDefault).toBe(tiltRelease);
  });

  test('its ports, order and tests come from the services declaration, not tables of its own', () => {
    expect(code).not.toMatch(/^(PORTS|DEPS) = /m);
    // no port, probe path or example name written into the Tiltfile
    for (const literal of [
      /\b8080\b/,
      /\b8081\b/,
      /\/healthz/,
      /\/readyz/,
      /id="app"/,
      /'backend'/,
      /'frontend'/,
    ])
      expect(code).not.toMatch(literal);
  });

  test('its builds and live updates come from the plan, not settings of its own', () => {
    for (const field of [
      'context',
      'dockerfile',
      'target',
      'buildArgs',
      'ignore',
      'rebuildOn',
      'sync',
      'run',
    ])
      expect(code, field).toMatch(new RegExp(`svc(\\['|\\.get\\(')${field}'`));
    expect(code).not.toMatch(/target='/);
    expect(code).not.toMatch(/npm install|'\/app'/);
  });

  test("skaffold's local-kind builds the stage the plan builds, and the other stages the last one", () => {
    const targets = (profile: string) =>
      Object.fromEntries(applyProfile(base, profile).build.artifacts.map((a) => [a.image, a.docker?.target]));
    expect(targets('local-kind')).toEqual(Object.fromEntries(LAPTOP.services.map((s) => [s.name, s.target])));
    for (const profile of PROFILES.filter((p) => p !== 'local-kind'))
      expect(Object.values(targets(profile)), profile).toEqual(SERVICES.map(() => undefined));
  });

  test("skaffold's local-kind syncs what dev.sync says (default: the context to workingDir or /app)", () => {
    const synced = Object.fromEntries(
      applyProfile(base, 'local-kind').build.artifacts.map((a) => [a.image, a.sync?.manual]),
    );
    const declared = Object.fromEntries(
      LAPTOP.services.map((s) => [
        s.name,
        s.sync.map(({ from, to }) => {
          const rel = relative(s.context, from);
          return rel ? { src: `${rel}/**/*`, dest: to, strip: `${rel}/` } : { src: '**/*', dest: to };
        }),
      ]),
    );
    expect(synced).toEqual(declared);
  });
});

// --- with the real tools: what Tilt would build and deploy equals skaffold's local-kind -----------------

interface TiltManifest {
  Name: string;
  ImageTargets?: { selector: string; BuildDetails: { ref?: string; context?: string; target?: string } }[];
  DeployTarget?: { yaml?: string };
  ResourceDependencies?: string[];
  Labels?: Record<string, string>;
}

const tilt = requireTool('tilt');
const skaffoldTool = requireTool('skaffold');
const helmTool = requireTool('helm');
const dynamicSkip = tilt.skip ?? skaffoldTool.skip ?? helmTool.skip;

/** Drops nulls, empty objects and empty lists: Tilt re-serializes YAML through the API types, which adds them. */
function prune(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(prune);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const p = prune(x);
    const empty = p === null || (typeof p === 'object' && Object.keys(p as object).length === 0);
    if (!empty) out[k] = p;
  }
  return out;
}

/**
 * For comparing Tilt's and skaffold's manifests: pruned, images by repository only (the tags differ by
 * design), GIT_SHA masked (Tilt: the sources' commit; skaffold: JETSCALE_SHA), generated Secrets by key.
 */
function normalize(objs: K8sObject[]): Map<string, unknown> {
  const text = JSON.stringify(prune(objs), (k, v) => {
    if (k === 'image' && typeof v === 'string') return v.replace(/:[^/:@]+(@sha256:[0-9a-f]+)?$/, ':<tag>');
    if (v && typeof v === 'object' && v.name === 'GIT_SHA' && 'value' in v) return { ...v, value: '<sha>' };
    return v;
  });
  const masked = (JSON.parse(text) as K8sObject[]).map((o) => {
    if (o.kind !== 'Secret') return o;
    const s = o as K8sObject & { data?: Record<string, string>; stringData?: Record<string, string> };
    const mask = (d?: Record<string, string>) =>
      Object.fromEntries(Object.keys(d ?? {}).map((k) => [k, '<random>']));
    return { ...s, data: mask(s.data), stringData: mask(s.stringData) };
  });
  return new Map(masked.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
}

describe.skipIf(dynamicSkip !== undefined)(
  `the Tiltfile, evaluated by tilt${dynamicSkip ? ` (skipped: ${dynamicSkip})` : ''}`,
  () => {
    const work = mkdtempSync(join(tmpdir(), 'jetscale-tilt-'));
    // a kubeconfig naming the kind context; nothing connects to it while the Tiltfile is evaluated
    const kubeconfig = join(work, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: kind-jetscale-local, cluster: {server: "https://127.0.0.1:9"}}]',
        'users: [{name: kind-jetscale-local, user: {}}]',
        'contexts: [{name: kind-jetscale-local, context: {cluster: kind-jetscale-local, user: kind-jetscale-local}}]',
        'current-context: kind-jetscale-local',
        '',
      ].join('\n'),
    );
    const env = toolEnv({ helm: helmTool.path }, { KUBECONFIG: kubeconfig, TILT_DISABLE_ANALYTICS: '1' });

    test('Tilt builds the artifacts (dev stage) and deploys the objects skaffold -p local-kind deploys', () => {
      const result = JSON.parse(
        mustRun(
          tilt.path as string,
          ['alpha', 'tiltfile-result', '-f', 'Tiltfile', '--context', 'kind-jetscale-local'],
          env,
        ),
      ) as { Manifests: TiltManifest[] };
      const manifests = new Map(result.Manifests.map((m) => [m.Name, m]));

      // images: one per artifact, from examples/<service> (no ../<service> here), dev target
      for (const a of base.build.artifacts) {
        const m = manifests.get(a.image);
        expect(m, `Tilt resource ${a.image}`).toBeDefined();
        const images = (m as TiltManifest).ImageTargets ?? [];
        expect(images.map((i) => i.selector)).toEqual([a.image]);
        expect(images[0]?.BuildDetails.context).toBe(join(repoRoot, a.context));
        expect(images[0]?.BuildDetails.target).toBe('dev');
      }
      const built = result.Manifests.flatMap((m) => (m.ImageTargets ?? []).map((i) => i.selector));
      expect(built.sort()).toEqual(SERVICES.slice().sort());
      expect(manifests.get('backend')?.ResourceDependencies?.slice().sort()).toEqual(DATA);

      // deploy: every object, field for field, as skaffold renders local-kind
      const tiltObjects = result.Manifests.flatMap((m) =>
        m.DeployTarget?.yaml ? objects(m.DeployTarget.yaml) : [],
      );
      const skaffoldObjects = objects(
        mustRun(
          skaffoldTool.path as string,
          [
            'render',
            '-p',
            'local-kind',
            '--offline=true',
            '--digest-source=tag',
            '--images',
            'backend=backend:x',
            '--images',
            'frontend=frontend:x',
          ],
          env,
        ),
      );
      // stable across Tiltfile loads (helm template has no `lookup`: no fresh random passwords per load)
      const again = JSON.parse(
        mustRun(
          tilt.path as string,
          ['alpha', 'tiltfile-result', '-f', 'Tiltfile', '--context', 'kind-jetscale-local'],
          env,
        ),
      ) as { Manifests: TiltManifest[] };
      expect(again.Manifests.map((m) => m.DeployTarget?.yaml)).toEqual(
        result.Manifests.map((m) => m.DeployTarget?.yaml),
      );

      const fromTilt = normalize(tiltObjects);
      const fromSkaffold = normalize(skaffoldObjects);
      expect([...fromTilt.keys()].sort()).toEqual([...fromSkaffold.keys()].sort());
      for (const [k, o] of fromTilt) expect(o, k).toEqual(fromSkaffold.get(k));
    });

    test('Tilt builds ../<service> when it has a Dockerfile, else examples/<service>, and says which', () => {
      // <dir>/stack is this repository's stack files; <dir>/backend is a product checkout, frontend is not
      const dir = mkdtempSync(join(tmpdir(), 'jetscale-tilt-siblings-'));
      const stack = join(dir, 'stack');
      mkdirSync(stack);
      for (const f of [
        'Tiltfile',
        'skaffold.yaml',
        'charts',
        'kind',
        'dist',
        'package.json',
        'examples/backend/Dockerfile',
        'examples/frontend/Dockerfile',
      ]) {
        cpSync(join(repoRoot, f), join(stack, f), { recursive: true });
      }
      mkdirSync(join(dir, 'backend'));
      writeFileSync(join(dir, 'backend', 'Dockerfile'), 'FROM scratch AS dev\n');
      const r = run(
        tilt.path as string,
        ['alpha', 'tiltfile-result', '-v', '-f', join(stack, 'Tiltfile'), '--context', 'kind-jetscale-local'],
        env,
        stack,
      );
      expect(r.status, r.stderr.slice(-2000)).toBe(0);
      const manifests = (JSON.parse(r.stdout) as { Manifests: TiltManifest[] }).Manifests;
      const contexts = Object.fromEntries(
        manifests.flatMap((m) => (m.ImageTargets ?? []).map((i) => [i.selector, i.BuildDetails.context])),
      );
      expect(contexts).toEqual({
        backend: join(dir, 'backend'),
        frontend: join(stack, 'examples', 'frontend'),
      });
      expect(r.stderr).toContain(
        `backend: building the sibling checkout at ${join(dir, 'backend')} (Dockerfile Dockerfile, target dev)`,
      );
      expect(r.stderr).toContain(
        `frontend: building the bundled example at ${join(stack, 'examples', 'frontend')} (Dockerfile Dockerfile, target dev)`,
      );
    });
  },
);
