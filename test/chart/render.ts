/**
 * Runs the real helm (test/support/tools.ts: the rig's tool cache, else PATH) against charts/app and parses
 * what it renders. Shared by the test/chart suites.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot, requireTool } from '../support/tools.js';

export const chartDir = join(repoRoot, 'charts', 'app');
export const helm = requireTool('helm');

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with argv (no shell) and resolves with its exit code and output; never rejects on exit code. */
export function runHelm(args: string[]): Promise<HelmResult> {
  const path = helm.path;
  if (!path) throw new Error(`helm is not available: ${helm.skip}`);
  return new Promise((resolve, reject) => {
    execFile(
      path,
      args,
      { cwd: repoRoot, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, HELM_NO_PLUGINS: '1' } },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

/** A Kubernetes object as rendered; only the fields the tests read are typed. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are arbitrary Kubernetes objects
  spec?: any;
  stringData?: Record<string, string>;
}

/** A way to render the chart: the values files (relative to the repo root) and --set flags. */
export interface Scenario {
  name: string;
  release: string;
  files: string[];
  set?: string[];
}

export const values = (file: string): string => join('charts', 'app', file);

/** The stages (values.<env>.yaml plus what the deployer adds) and, chart-testing style, each ci/*-values.yaml. */
export const stages: Record<'local' | 'preview' | 'live' | 'liveInCluster', Scenario> = {
  local: { name: 'local', release: 'app', files: [values('values.local.yaml')] },
  preview: {
    name: 'preview',
    release: 'pr-42',
    files: [values('values.preview.yaml')],
    set: ['ingress.host=pr-42.preview.example.com', 'global.gitSha=0123456789abcdef0123456789abcdef01234567'],
  },
  live: {
    name: 'live',
    release: 'jetscale',
    files: [values('values.live.yaml'), values('ci/live-values.yaml')],
  },
  liveInCluster: {
    name: 'live with in-cluster Postgres/Redis (the rig)',
    release: 'jetscale',
    files: [
      values('values.live.yaml'),
      values('ci/live-values.yaml'),
      values('ci/live-incluster-values.yaml'),
    ],
  },
};

export function templateArgs(scenario: Scenario, extra: string[] = []): string[] {
  const args = ['template', scenario.release, chartDir, '--namespace', `ns-${scenario.release}`];
  for (const file of scenario.files) args.push('-f', file);
  for (const set of scenario.set ?? []) args.push('--set', set);
  return [...args, ...extra];
}

const cache = new Map<string, Promise<Manifest[]>>();

/** helm template for a scenario, parsed; throws with helm's stderr when the render fails. */
export function render(scenario: Scenario): Promise<Manifest[]> {
  const key = JSON.stringify(scenario);
  let rendered = cache.get(key);
  if (!rendered) {
    rendered = runHelm(templateArgs(scenario)).then((result) => {
      if (result.code !== 0) {
        throw new Error(`helm template (${scenario.name}) failed (exit ${result.code}):\n${result.stderr}`);
      }
      return parseManifests(result.stdout);
    });
    cache.set(key, rendered);
  }
  return rendered;
}

export function parseManifests(text: string): Manifest[] {
  const manifests: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML from helm: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value) manifests.push(value);
  }
  return manifests;
}

export const ofKind = (manifests: Manifest[], kind: string): Manifest[] =>
  manifests.filter((m) => m.kind === kind);

/** The pod templates (Deployments, StatefulSets and migration Jobs) with their owner. */
export function workloads(manifests: Manifest[]): Manifest[] {
  return manifests.filter((m) => ['Deployment', 'StatefulSet', 'Job'].includes(m.kind));
}

// biome-ignore lint/suspicious/noExplicitAny: container specs are plain rendered objects
export type Container = Record<string, any>;

export function containersOf(workload: Manifest): { init: Container[]; main: Container[] } {
  const pod = workload.spec.template.spec;
  return { init: pod.initContainers ?? [], main: pod.containers ?? [] };
}

export function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) {
    const have = manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} in the render; it has: ${have}`);
  }
  return found;
}
