// Helpers for test/stack: run the real skaffold, helm and tilt binaries against this repository.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { repoRoot } from '../support/tools.js';

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Kubernetes objects of a multi-document YAML stream (empty documents dropped). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field
  spec?: any;
}

export function objects(stream: string): K8sObject[] {
  return parseAllDocuments(stream)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object' && 'kind' in o);
}

export function find(objs: K8sObject[], kind: string, name: string): K8sObject {
  const found = objs.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) {
    const have = objs.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} in the rendered output (have: ${have})`);
  }
  return found;
}

let emptyKubeconfig: string | undefined;

/**
 * Environment for the tools: no JETSCALE_* or SKAFFOLD_* from the caller, helm's directory first on PATH,
 * and a kubeconfig without clusters, so the caller's current context never leaks in (skaffold, for one,
 * rewrites image names to a kind cluster's advertised local registry).
 */
export function toolEnv(tools: { helm?: string }, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('JETSCALE_') && !k.startsWith('SKAFFOLD_')) env[k] = v;
  }
  if (tools.helm) env.PATH = `${dirname(tools.helm)}${delimiter}${env.PATH ?? ''}`;
  if (!emptyKubeconfig) {
    emptyKubeconfig = join(mkdtempSync(join(tmpdir(), 'jetscale-kubeconfig-')), 'config');
    writeFileSync(emptyKubeconfig, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
  }
  env.KUBECONFIG = emptyKubeconfig;
  env.SKAFFOLD_UPDATE_CHECK = 'false';
  env.SKAFFOLD_INTERACTIVE = 'false';
  return { ...env, ...extra };
}

export function run(bin: string, args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot): Run {
  const r = spawnSync(bin, args, {
    cwd,
    env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function mustRun(bin: string, args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot): string {
  const r = run(bin, args, env, cwd);
  if (r.status !== 0) {
    throw new Error(
      `${bin} ${args.join(' ')} exited ${r.status}\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`,
    );
  }
  return r.stdout;
}

// --- skaffold.yaml -----------------------------------------------------------------------------------

export interface HelmRelease {
  name: string;
  chartPath: string;
  valuesFiles?: string[];
  setValues?: Record<string, string>;
  setValueTemplates?: Record<string, string>;
  createNamespace?: boolean;
}
export interface SkaffoldConfig {
  apiVersion: string;
  build: {
    artifacts: {
      image: string;
      context: string;
      docker?: { dockerfile?: string; target?: string };
      sync?: { manual?: { src: string; dest: string; strip?: string }[]; infer?: string[] };
    }[];
  };
  deploy: { helm: { releases: HelmRelease[] } };
  profiles: {
    name: string;
    activation?: { env?: string }[];
    patches?: { op: string; path: string; value?: unknown }[];
  }[];
}

export function skaffoldConfig(root = repoRoot): SkaffoldConfig {
  return parse(readFileSync(join(root, 'skaffold.yaml'), 'utf8')) as SkaffoldConfig;
}

export const PROFILES = ['local-kind', 'ci-kind', 'preview', 'live'] as const;
export type Profile = (typeof PROFILES)[number];
