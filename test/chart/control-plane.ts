/**
 * A real Kubernetes control plane without nodes, on loopback: etcd plus kube-apiserver (the rig builds both
 * from source at the pinned Kubernetes version). Enough for what a chart does at install time — server-side
 * validation, admission (Pod Security), lookup of existing Secrets, helm's keep policy on uninstall — and
 * far lighter than a Kind cluster. Pods are never scheduled (no scheduler, no kubelet).
 *
 * Binaries: $JETSCALE_ETCD / $JETSCALE_KUBE_APISERVER, else the rig cache ($JETSCALE_RIG_CACHE:
 * bin/etcd-<recipe>/etcd and k8s/<version>/bin/kube-apiserver), else PATH.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const K8S_VERSION = 'v1.34.4';

function rigCache(): string {
  return process.env.JETSCALE_RIG_CACHE ?? join(homedir(), '.cache', 'jetscale-stack', 'rig');
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export function findEtcd(): string | undefined {
  if (process.env.JETSCALE_ETCD) return process.env.JETSCALE_ETCD;
  const bin = join(rigCache(), 'bin');
  if (existsSync(bin)) {
    for (const dir of readdirSync(bin)
      .filter((d) => d.startsWith('etcd-'))
      .sort()) {
      if (existsSync(join(bin, dir, 'etcd'))) return join(bin, dir, 'etcd');
    }
  }
  return onPath('etcd');
}

export function findKubeApiserver(): string | undefined {
  if (process.env.JETSCALE_KUBE_APISERVER) return process.env.JETSCALE_KUBE_APISERVER;
  const candidate = join(rigCache(), 'k8s', K8S_VERSION, 'bin', 'kube-apiserver');
  return existsSync(candidate) ? candidate : onPath('kube-apiserver');
}

/** Like requireTool: the binaries, or a reason to skip; in CI (CI=true) a missing one is an error. */
export function requireControlPlane():
  | { etcd: string; apiserver: string; skip?: undefined }
  | { etcd?: undefined; apiserver?: undefined; skip: string } {
  const etcd = findEtcd();
  const apiserver = findKubeApiserver();
  if (etcd && apiserver) return { etcd, apiserver };
  const missing = [etcd ? '' : 'etcd', apiserver ? '' : `kube-apiserver ${K8S_VERSION}`]
    .filter(Boolean)
    .join(' and ');
  const reason = `${missing} not found in ${rigCache()} or on PATH; build them with the rig (test/rig/tools/build.sh)`;
  if (process.env.CI === 'true') throw new Error(reason);
  return { skip: reason };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

export interface ApiResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: Kubernetes API objects
  body: any;
  warnings: string[];
}

export class ControlPlane {
  readonly kubeconfig: string;
  private readonly processes: ChildProcess[] = [];
  private readonly logs: string[] = [];

  private constructor(
    private readonly dir: string,
    private readonly port: number,
    private readonly token: string,
  ) {
    this.kubeconfig = join(dir, 'kubeconfig');
  }

  static async start(binaries: { etcd: string; apiserver: string }): Promise<ControlPlane> {
    const dir = mkdtempSync(join(tmpdir(), 'jetscale-control-plane-'));
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const token = randomBytes(24).toString('hex');
    const plane = new ControlPlane(dir, apiPort, token);

    const client = `http://127.0.0.1:${etcdClient}`;
    const peer = `http://127.0.0.1:${etcdPeer}`;
    plane.spawn('etcd', binaries.etcd, [
      '--name=test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      '--log-level=warn',
    ]);

    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`);
    plane.spawn('kube-apiserver', binaries.apiserver, [
      `--etcd-servers=${client}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=false',
      '--v=0',
    ]);

    writeFileSync(
      plane.kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: test\n  cluster:\n    server: https://127.0.0.1:${apiPort}\n    insecure-skip-tls-verify: true`,
        `users:\n- name: admin\n  user:\n    token: ${token}`,
        'contexts:\n- name: test\n  context:\n    cluster: test\n    user: admin',
        'current-context: test',
        '',
      ].join('\n'),
    );

    const deadline = Date.now() + 90_000;
    for (;;) {
      const exited = plane.processes.find((p) => p.exitCode !== null);
      if (exited) throw new Error(`${exited.spawnfile} exited (${exited.exitCode}):\n${plane.log()}`);
      try {
        const ready = await plane.api('GET', '/readyz');
        const ns = await plane.api('GET', '/api/v1/namespaces/default');
        if (ready.status === 200 && ns.status === 200) return plane;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`kube-apiserver did not become ready in 90 s:\n${plane.log()}`);
      await sleep(500);
    }
  }

  private spawn(name: string, path: string, args: string[]): void {
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      this.logs.push(`[${name}] ${chunk.toString()}`);
      if (this.logs.length > 200) this.logs.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.processes.push(child);
  }

  log(): string {
    return this.logs.join('').slice(-4000);
  }

  /** One request to the API server as cluster admin; JSON in and out. */
  api(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method,
          // the server's certificate is self-signed for this run; loopback only
          rejectUnauthorized: false,
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'application/json',
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // /readyz answers plain text
            }
            const warning = res.headers.warning;
            const warnings = warning === undefined ? [] : Array.isArray(warning) ? warning : [warning];
            resolve({ status: res.statusCode ?? 0, body: parsed, warnings });
          });
        },
      );
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  async stop(): Promise<void> {
    for (const child of [...this.processes].reverse()) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
