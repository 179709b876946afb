/**
 * Real Postgres and Redis servers for the integration tests, from Debian's packages (postgresql, redis-server),
 * started on free loopback ports in temporary directories by test/support/global-setup.ts.
 * ensureServices() finds the binaries, installs the missing packages with apt-get when it runs as root, and
 * otherwise fails naming what is missing and the command that installs it: the tests never skip for want of them.
 * Postgres refuses to run as root, so under root initdb/pg_ctl run as the `postgres` user the package creates.
 */
import { execFile } from 'node:child_process';
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

/** Where the servers are looked for: the real machine (currentHost) or, in the unit test, directories without them. */
export interface Host {
  /** Directories searched for redis-server, runuser and apt-get, in order. */
  path: string[];
  /** Directories holding <major>/bin/{initdb,pg_ctl}, newest major first (Debian: /usr/lib/postgresql). */
  pgRoots: string[];
  /** $PG_BINDIR: a directory holding initdb and pg_ctl, tried first. */
  pgBinDir?: string;
  uid: number;
  passwdFile: string;
}

export function currentHost(): Host {
  // sbin directories too: a non-root PATH often lacks them, and runuser lives there.
  const path = [
    ...(process.env.PATH ?? '').split(delimiter),
    '/usr/local/bin',
    '/usr/bin',
    '/usr/sbin',
    '/sbin',
  ];
  return {
    path: [...new Set(path.filter(Boolean))],
    pgRoots: ['/usr/lib/postgresql'],
    ...(process.env.PG_BINDIR ? { pgBinDir: process.env.PG_BINDIR } : {}),
    uid: process.getuid?.() ?? -1,
    passwdFile: '/etc/passwd',
  };
}

/** Something the servers need that is not there, and the Debian package that provides it. */
export interface Missing {
  what: string;
  aptPackage: string;
}

export function findServices(
  host: Host,
): { bins: Binaries; missing: [] } | { bins?: undefined; missing: Missing[] } {
  const missing: Missing[] = [];
  const pgBin = findPostgresBin(host);
  if (!pgBin) {
    const where = [...(host.pgBinDir ? [host.pgBinDir] : []), ...host.pgRoots.map((root) => `${root}/*/bin`)];
    missing.push({
      what: `Postgres (initdb and pg_ctl) is not in ${where.join(' or ')}`,
      aptPackage: 'postgresql',
    });
  }
  const redisServer = findOnPath(host, 'redis-server');
  if (!redisServer) missing.push({ what: 'redis-server is not on PATH', aptPackage: 'redis-server' });
  let pgUser: Binaries['pgUser'];
  if (host.uid === 0) {
    pgUser = passwdEntry(host.passwdFile, 'postgres');
    if (!pgUser)
      missing.push({
        what: 'running as root, and there is no "postgres" user to run Postgres as (it refuses to run as root)',
        aptPackage: 'postgresql',
      });
    if (!findOnPath(host, 'runuser'))
      missing.push({
        what: 'running as root, and runuser (to run Postgres as "postgres") is missing',
        aptPackage: 'util-linux',
      });
  }
  if (missing.length > 0 || !pgBin || !redisServer) return { missing };
  return { bins: pgUser ? { pgBin, redisServer, pgUser } : { pgBin, redisServer }, missing: [] };
}

/**
 * The servers' binaries, installing the missing Debian packages first when running as root with apt-get.
 * Anything else is an error naming what is missing and how to install it.
 */
export async function ensureServices(host: Host, log: (line: string) => void): Promise<Binaries> {
  const found = findServices(host);
  if (found.bins) return found.bins;
  const packages = [...new Set(found.missing.map((m) => m.aptPackage))];
  const missing = found.missing.map((m) => m.what).join('; ');
  const need = `the backend's integration tests need real Postgres and Redis servers, but ${missing}`;
  const aptGet = findOnPath(host, 'apt-get');
  if (host.uid !== 0 || !aptGet) {
    const how = aptGet
      ? `install them with: sudo apt-get install -y ${packages.join(' ')}`
      : `there is no apt-get here: install ${packages.join(' ')} (or the same from this system's packages)`;
    throw new Error(
      `${need}. ${how}; or set PG_BINDIR to a directory holding initdb and pg_ctl and put redis-server on PATH.`,
    );
  }
  log(`test services: installing ${packages.join(' ')} with apt-get, because ${missing}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', ...packages],
  ]) {
    try {
      await execFileAsync(aptGet, args, { env, timeout: 600_000, maxBuffer: 64 << 20 });
    } catch (error) {
      const { stderr = '' } = error as { stderr?: string };
      throw new Error(
        `${need}, and apt-get ${args.join(' ')} failed: ${(error as Error).message}\n${stderr}`,
      );
    }
  }
  const again = findServices(host);
  if (!again.bins) {
    const still = again.missing.map((m) => m.what).join('; ');
    throw new Error(
      `after apt-get install ${packages.join(' ')}, still: ${still} (set PG_BINDIR if initdb and pg_ctl live elsewhere)`,
    );
  }
  return again.bins;
}

function findPostgresBin(host: Host): string | undefined {
  const candidates = host.pgBinDir ? [host.pgBinDir] : [];
  for (const root of host.pgRoots.filter((dir) => existsSync(dir))) {
    const majors = readdirSync(root)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...majors.map((major) => join(root, major, 'bin')));
  }
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
}

function findOnPath(host: Host, name: string): string | undefined {
  return host.path.map((dir) => join(dir, name)).find((path) => existsSync(path));
}

function passwdEntry(file: string, name: string): { name: string; uid: number; gid: number } | undefined {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid && gid) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/** "15.18" from pg_ctl, "7.0.15" from redis-server, for the line saying what was set up. */
export async function serverVersions(bins: Binaries): Promise<{ postgres: string; redis: string }> {
  const [pg, redis] = await Promise.all([
    execFileAsync(join(bins.pgBin, 'pg_ctl'), ['--version']),
    execFileAsync(bins.redisServer, ['--version']),
  ]);
  return {
    postgres: /\(PostgreSQL\) (\S+)/.exec(pg.stdout)?.[1] ?? pg.stdout.trim(),
    redis: /v=(\S+)/.exec(redis.stdout)?.[1] ?? redis.stdout.trim(),
  };
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

/** What a test process needs to reach and stop/restart a server that global-setup.ts started. */
export interface PostgresState {
  bins: Binaries;
  port: number;
  dir: string;
}

export class PostgresServer {
  readonly user = 'jetscale';
  readonly password = 'pg-secret-for-tests';
  private readonly data: string;

  private constructor(
    private readonly bins: Binaries,
    readonly port: number,
    readonly dir: string,
  ) {
    this.data = join(this.dir, 'data');
  }

  static async start(bins: Binaries): Promise<PostgresServer> {
    const server = new PostgresServer(bins, await freePort(), mkdtempSync(join(tmpdir(), 'jetscale-pg-')));
    try {
      await server.init();
      await server.resume();
    } catch (error) {
      rmSync(server.dir, { recursive: true, force: true });
      throw error;
    }
    return server;
  }

  /** The server another process started, from its state(). */
  static attach(state: PostgresState): PostgresServer {
    return new PostgresServer(state.bins, state.port, state.dir);
  }

  state(): PostgresState {
    return { bins: this.bins, port: this.port, dir: this.dir };
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

export interface RedisState {
  bin: string;
  port: number;
  dir: string;
}

/**
 * redis-server daemonized with a pid file in its directory, so that the test process can stop and restart the
 * server the global setup started, and the global teardown can stop whichever one runs by then.
 */
export class RedisServer {
  readonly password = 'redis-secret-for-tests';
  private readonly pidFile: string;
  private readonly logFile: string;

  private constructor(
    private readonly bin: string,
    readonly port: number,
    readonly dir: string,
  ) {
    this.pidFile = join(dir, 'redis.pid');
    this.logFile = join(dir, 'redis.log');
  }

  static async start(bins: Binaries): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'jetscale-redis-'));
    const server = new RedisServer(bins.redisServer, await freePort(), dir);
    try {
      await server.resume();
    } catch (error) {
      await server.dispose();
      throw error;
    }
    return server;
  }

  static attach(state: RedisState): RedisServer {
    return new RedisServer(state.bin, state.port, state.dir);
  }

  state(): RedisState {
    return { bin: this.bin, port: this.port, dir: this.dir };
  }

  url(): string {
    return `redis://:${this.password}@127.0.0.1:${this.port}/0`;
  }

  async resume(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--requirepass', this.password];
    args.push('--save', '', '--appendonly', 'no', '--dir', this.dir);
    args.push('--daemonize', 'yes', '--pidfile', this.pidFile, '--logfile', this.logFile);
    try {
      await execFileAsync(this.bin, args, { timeout: 20_000 });
      await waitForPort(this.port, 20_000);
    } catch (error) {
      throw new Error(`redis-server did not start: ${(error as Error).message}\n${this.log()}`);
    }
  }

  async stop(): Promise<void> {
    if (!existsSync(this.pidFile)) return;
    const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    try {
      process.kill(pid, 'SIGTERM');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      rmSync(this.pidFile, { force: true });
      return;
    }
    // Not process.kill(pid, 0): without a reaping init the exited daemon lingers as a zombie. Redis removes its
    // pid file on shutdown; the port closes when it exits.
    const deadline = Date.now() + 20_000;
    while (existsSync(this.pidFile) || !(await refusesConnections(this.port))) {
      if (Date.now() > deadline)
        throw new Error(`redis-server (pid ${pid}) still runs 20 s after SIGTERM\n${this.log()}`);
      await sleep(50);
    }
  }

  async dispose(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }
}

export async function refusesConnections(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

/** What global-setup.ts hands the test files. */
export interface ProvidedServices {
  postgres: PostgresState;
  redis: RedisState;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: ProvidedServices;
  }
}
