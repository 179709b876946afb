/**
 * A loopback TCP proxy in front of a Kubernetes API server, which a test can cut and restore: real faults for the
 * loops' kubectl and helm, no mock. TLS passes through untouched (the client verifies the API server's own
 * certificate: the proxy listens on 127.0.0.1, a name in the certificate of a kind cluster's API server; for any
 * other server address the kubeconfig keeps the server's name with tls-server-name).
 *   - refuse: nothing listens on the port (connection refused); open connections are reset;
 *   - reset: each connection is accepted and reset at once (connection reset by peer); open ones too;
 *   - pass: bytes flow both ways.
 * A 429 needs the proxy to terminate TLS; that one is covered by stderr samples in test/unit/kube-faults.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';

export type ProxyMode = 'pass' | 'refuse' | 'reset';

export interface ApiProxy {
  /** A copy of the kubeconfig whose clusters point at the proxy (a private file). */
  kubeconfig: string;
  port: number;
  mode(): ProxyMode;
  /** Switches the mode; cutting (refuse, reset) resets every open connection. */
  set(mode: ProxyMode): Promise<void>;
  /** Connections accepted so far (the ones reset at once included). */
  accepted(): number;
  close(): Promise<void>;
}

/** Starts the proxy in front of the (one) API server of `kubeconfig`, passing. */
export async function startApiProxy(kubeconfig: string): Promise<ApiProxy> {
  const config = YAML.parse(readFileSync(kubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: { server: string; 'tls-server-name'?: string } }>;
  };
  const servers = new Set(config.clusters.map((c) => c.cluster.server));
  if (servers.size !== 1) throw new Error(`api proxy: ${kubeconfig} names ${servers.size} servers, not one`);
  const upstream = new URL([...servers][0] as string);
  const target = { host: upstream.hostname, port: Number(upstream.port || 443) };

  let mode: ProxyMode = 'pass';
  let accepted = 0;
  const open = new Set<Socket>();
  const onConnection = (client: Socket) => {
    accepted++;
    if (mode === 'reset') return void client.resetAndDestroy();
    const server = connect(target);
    for (const s of [client, server]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      // A reset on one side is passed on as a reset of the other.
      s.on('error', () => (s === client ? server : client).resetAndDestroy());
    }
    client.pipe(server);
    server.pipe(client);
  };

  let listener: Server | undefined;
  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer(onConnection);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      const s = listener;
      listener = undefined;
      if (!s) return resolve();
      s.close(() => resolve());
      // close() waits for open connections: they are reset below.
      resetOpen();
    });
  const resetOpen = () => {
    for (const s of open) s.resetAndDestroy();
    open.clear();
  };

  listener = await listen(0);
  const port = (listener.address() as { port: number }).port;

  for (const c of config.clusters) {
    // The proxy's address in the URL; the name the server's certificate is checked against stays the server's.
    if (upstream.hostname !== '127.0.0.1' && !c.cluster['tls-server-name'])
      c.cluster['tls-server-name'] = upstream.hostname;
    c.cluster.server = `https://127.0.0.1:${port}`;
  }
  const dir = mkdtempSync(join(tmpdir(), 'api-proxy-'));
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, YAML.stringify(config), { mode: 0o600 });

  return {
    kubeconfig: file,
    port,
    mode: () => mode,
    accepted: () => accepted,
    async set(next) {
      mode = next;
      if (next === 'refuse') await stopListening();
      else {
        if (next === 'reset') resetOpen();
        // Re-taking the same port: the kubeconfig names it.
        if (!listener) listener = await listen(port);
      }
    },
    async close() {
      mode = 'refuse';
      await stopListening();
    },
  };
}
