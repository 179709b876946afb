// kind/: the cluster configs parse, bind only 127.0.0.1, wire containerd to the local registry, and
// kind/create.sh, kind/registry-hosts.toml and kind/local-registry-hosting.yaml agree on the registry.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { repoRoot } from '../support/tools.js';

interface KindNode {
  role?: string;
  labels?: Record<string, string>;
  extraPortMappings?: {
    containerPort: number;
    hostPort?: number;
    listenAddress?: string;
    protocol?: string;
  }[];
}
interface KindCluster {
  kind: string;
  apiVersion: string;
  name?: string;
  networking?: { apiServerAddress?: string };
  containerdConfigPatches?: string[];
  nodes?: KindNode[];
}

const kindDir = join(repoRoot, 'kind');
const read = (file: string) => readFileSync(join(kindDir, file), 'utf8');

function cluster(file: string): KindCluster {
  const docs = parseAllDocuments(read(file));
  expect(docs, `${file} must hold exactly one YAML document`).toHaveLength(1);
  const doc = docs[0] as (typeof docs)[number];
  expect(doc.errors, `${file} must parse`).toEqual([]);
  return doc.toJS() as KindCluster;
}

const CONFIGS = ['cluster.local.yaml', 'cluster.ci.yaml', 'cluster.multinode.yaml'] as const;

describe('kind cluster configs', () => {
  test.each(CONFIGS)(
    '%s is a kind v1alpha4 Cluster without a name or image (both come from the command line)',
    (file) => {
      const c = cluster(file);
      expect(c.kind).toBe('Cluster');
      expect(c.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
      expect(c.name).toBeUndefined();
      for (const node of c.nodes ?? []) expect(node).not.toHaveProperty('image');
    },
  );

  test.each(CONFIGS)('%s binds only 127.0.0.1 on the host', (file) => {
    const c = cluster(file);
    expect(c.networking?.apiServerAddress).toBe('127.0.0.1');
    for (const node of c.nodes ?? []) {
      for (const mapping of node.extraPortMappings ?? []) expect(mapping.listenAddress).toBe('127.0.0.1');
    }
  });

  test.each(CONFIGS)(
    "%s points containerd at /etc/containerd/certs.d (the local registry's hosts.toml)",
    (file) => {
      const patches = cluster(file).containerdConfigPatches ?? [];
      expect(patches.join('\n')).toMatch(
        /\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\]\s+config_path\s*=\s*"\/etc\/containerd\/certs\.d"/,
      );
    },
  );

  test('cluster.local.yaml: one node publishing 80 and 443 on 127.0.0.1', () => {
    const c = cluster('cluster.local.yaml');
    expect(c.nodes).toHaveLength(1);
    const node = (c.nodes ?? [])[0] ?? {};
    expect(node.role ?? 'control-plane').toBe('control-plane');
    const published = (node.extraPortMappings ?? []).map((m) => [
      m.containerPort,
      m.hostPort,
      m.listenAddress,
    ]);
    expect(published).toEqual([
      [80, 80, '127.0.0.1'],
      [443, 443, '127.0.0.1'],
    ]);
  });

  test('cluster.ci.yaml: one node, no host ports', () => {
    const c = cluster('cluster.ci.yaml');
    expect(c.nodes).toHaveLength(1);
    for (const node of c.nodes ?? []) expect(node.extraPortMappings ?? []).toEqual([]);
  });

  test('cluster.multinode.yaml: 1 control plane + 3 workers, each worker in its own zone', () => {
    const nodes = cluster('cluster.multinode.yaml').nodes ?? [];
    expect(nodes.filter((n) => (n.role ?? 'control-plane') === 'control-plane')).toHaveLength(1);
    const workers = nodes.filter((n) => n.role === 'worker');
    expect(workers).toHaveLength(3);
    const zones = workers.map((w) => w.labels?.['topology.kubernetes.io/zone']);
    for (const zone of zones) expect(zone).toMatch(/^[a-z0-9-]+$/);
    expect(new Set(zones).size).toBe(3);
    for (const node of nodes) expect(node.extraPortMappings ?? []).toEqual([]);
  });
});

describe('local registry wiring', () => {
  const script = read('create.sh');
  const regName = /^reg_name=(\S+)$/m.exec(script)?.[1];
  const regPort = /^reg_port=(\d+)$/m.exec(script)?.[1];

  test('create.sh names the registry container and port once', () => {
    expect(regName).toMatch(/^[a-z0-9-]+$/);
    expect(regPort).toBe('5001');
    expect(script).toContain(`-p "127.0.0.1:\${reg_port}:5000"`);
  });

  test('registry-hosts.toml sends localhost:<port> to the registry container on the kind network', () => {
    const hosts = read('registry-hosts.toml')
      .split('\n')
      .filter((l) => l.trim() && !l.trim().startsWith('#'));
    expect(hosts).toEqual([`[host."http://${regName}:5000"]`]);
    expect(script).toContain(`reg_dir="/etc/containerd/certs.d/localhost:\${reg_port}"`);
  });

  test('local-registry-hosting.yaml is the KEP-1755 ConfigMap for localhost:<port>', () => {
    const cm = parse(read('local-registry-hosting.yaml'));
    expect(cm).toMatchObject({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'local-registry-hosting', namespace: 'kube-public' },
    });
    const hosting = parse(cm.data['localRegistryHosting.v1']);
    expect(hosting.host).toBe(`localhost:${regPort}`);
  });

  test('create.sh is valid sh and rejects bad input naming the input, the value and the accepted form', () => {
    execFileSync('sh', ['-n', join(kindDir, 'create.sh')]);
    const cases: [string[], RegExp][] = [
      [['--bogus'], /unknown argument '--bogus' \(accepted: --config FILE, --name NAME/],
      [
        ['--config', '/nonexistent.yaml'],
        /--config '\/nonexistent\.yaml' is not a file \(expected one of .*cluster\.\*\.yaml\)/,
      ],
      [['--name', 'Bad_Name'], /--name 'Bad_Name' is not a valid cluster name \(lower-case letters, digits/],
    ];
    for (const [args, message] of cases) {
      // DOCKER/KIND point at `false`: if validation let the input through, nothing real would run
      const run = spawnSync('sh', [join(kindDir, 'create.sh'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, DOCKER: 'false', KIND: 'false', KUBECTL: 'false' },
      });
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });
});
