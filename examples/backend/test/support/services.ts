/**
 * Real Postgres and Redis servers for the integration tests, started from Debian's packages
 * (apt-get install -y postgresql redis-server) on random loopback ports in temporary directories.
 * Postgres refuses to run as root, so under root initdb/pg_ctl run as the `postgres` user the package creates.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface Binaries {
  pgBin: string;
  redisServer: string;
  /** Set when running as root: the user initdb and pg_ctl run as. */
  pgUser?: { name: string; uid: number; gid: number };
}

/** The binaries, or a reason to skip. In CI (CI=true) a missing binary is an error, never a skip. */
export function requireServices(): { bins: Binaries; skip?: undefined } | { bins?: undefined; skip: string } {
  const problems: string[] = [];
  const pgBin = findPostgresBin();
  if (!pgBin) problems.push('initdb/pg_ctl not found under /usr/lib/postgresql/*/bin (or $PG_BINDIR)');
  const redisServer = findOnPath('redis-server', ['/usr/bin', '/usr/sbin', '/usr/local/bin']);
  if (!redisServer) problems.push('redis-server not found on PATH');
  let pgUser: Binaries['pgUser'];
  if (process.getuid?.() === 0) {
    pgUser = passwdEntry('postgres');
    if (!pgUser) problems.push('running as root and there is no "postgres" user to run Postgres as');
    if (!findOnPath('runuser', ['/usr/sbin', '/sbin']))
      problems.push('running as root and runuser is missing');
  }
  if (problems.length === 0 && pgBin && redisServer) {
    return { bins: pgUser ? { pgBin, redisServer, pgUser } : { pgBin, redisServer } };
  }
  const reason = `${problems.join('; ')}; install them with: apt-get install -y postgresql redis-server`;
  if (process.env.CI === 'true') throw new Error(reason);
  return { skip: reason };
}

function findPostgresBin(): string | undefined {
  const candidates: string[] = [];
  if (process.env.PG_BINDIR) candidates.push(process.env.PG_BINDIR);
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => `/usr/lib/postgresql/${version}/bin`));
  }
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
}

function findOnPath(name: string, extra: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extra].filter(Boolean);
  return dirs.map((dir) => join(dir, name)).find((path) => existsSync(path));
}

function passwdEntry(name: string): { name: string; uid: number; gid: number } | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid && gid) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

export class PostgresServer {
  readonly user = 'jetscale';
  readonly password = 'pg-secret-for-tests';
  private readonly dir: string;
  private readonly data: string;

  private constructor(
    private readonly bins: Binaries,
    readonly port: number,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'jetscale-pg-'));
    this.data = join(this.dir, 'data');
  }

  static async start(bins: Binaries): Promise<PostgresServer> {
    const server = new PostgresServer(bins, await freePort());
    await server.init();
    await server.resume();
    return server;
  }

  url(database = 'postgres'): string {
    return `postgres://${this.user}:${this.password}@127.0.0.1:${this.port}/${database}`;
  }

  private async run(tool: string, args: string[]): Promise<void> {
    const path = join(this.bins.pgBin, tool);
    const [file, argv] = this.bins.pgUser
      ? ['runuser', ['-u', this.bins.pgUser.name, '--', path, ...args]]
      : [path, args];
    try {
      await execFileAsync(file, argv, { cwd: this.dir, timeout: 120_000 });
    } catch (error) {
      const log = existsSync(join(this.dir, 'log')) ? readFileSync(join(this.dir, 'log'), 'utf8') : '';
      throw new Error(`${tool} ${args.join(' ')} failed: ${(error as Error).message}\n${log}`);
    }
  }

  private async init(): Promise<void> {
    const pwfile = join(this.dir, 'pwfile');
    writeFileSync(pwfile, `${this.password}\n`);
    chmodSync(pwfile, 0o600);
    if (this.bins.pgUser) {
      const { uid, gid } = this.bins.pgUser;
      chownSync(this.dir, uid, gid);
      chownSync(pwfile, uid, gid);
    }
    await this.run('initdb', [
      '-D',
      this.data,
      '-U',
      this.user,
      `--pwfile=${pwfile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
  }

  /** Starts (or starts again after stop) on the same port and data directory. */
  async resume(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    await this.run('pg_ctl', [
      'start',
      '-D',
      this.data,
      '-l',
      join(this.dir, 'log'),
      '-w',
      '-t',
      '60',
      '-o',
      options,
    ]);
  }

  async stop(): Promise<void> {
    await this.run('pg_ctl', ['stop', '-D', this.data, '-m', 'fast', '-w', '-t', '60']);
  }

  async dispose(): Promise<void> {
    try {
      await this.stop();
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class RedisServer {
  readonly password = 'redis-secret-for-tests';
  private child: ChildProcess | undefined;
  private output = '';
  private readonly dir = mkdtempSync(join(tmpdir(), 'jetscale-redis-'));

  private constructor(
    private readonly bin: string,
    readonly port: number,
  ) {}

  static async start(bins: Binaries): Promise<RedisServer> {
    const server = new RedisServer(bins.redisServer, await freePort());
    await server.resume();
    return server;
  }

  url(): string {
    return `redis://:${this.password}@127.0.0.1:${this.port}/0`;
  }

  async resume(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--requirepass', this.password];
    args.push('--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no');
    const child = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    try {
      await waitForPort(this.port, 20_000);
    } catch (error) {
      throw new Error(`redis-server did not start: ${(error as Error).message}\n${this.output}`);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
