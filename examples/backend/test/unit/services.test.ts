/**
 * ensureServices on a host made of temporary directories: what it finds, when it runs apt-get (a stand-in script
 * on the host's PATH that records its arguments and, if told to, puts the binaries in place) and what it says.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureServices, type Host } from '../support/services.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

interface Layout {
  uid: number;
  postgres?: boolean;
  redis?: boolean;
  postgresUser?: boolean;
  /** apt-get on PATH: absent, doing nothing, or installing what it is asked for. */
  aptGet?: 'none' | 'noop' | 'installs';
}

function host(layout: Layout): { host: Host; aptCalls: () => string[]; root: string } {
  const root = mkdtempSync(join(tmpdir(), 'services-test-'));
  roots.push(root);
  const bin = join(root, 'bin');
  const pgBin = join(root, 'lib/postgresql/16/bin');
  mkdirSync(bin, { recursive: true });
  const tool = (path: string, body = 'exit 0') => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
  };
  const passwd = join(root, 'passwd');
  writeFileSync(
    passwd,
    `root:x:0:0:root:/root:/bin/bash\n${layout.postgresUser ? 'postgres:x:101:104::/:/bin/sh\n' : ''}`,
  );
  if (layout.postgres) for (const name of ['initdb', 'pg_ctl']) tool(join(pgBin, name));
  if (layout.redis) tool(join(bin, 'redis-server'));
  if (layout.uid === 0) tool(join(bin, 'runuser'));
  const calls = join(root, 'apt-calls');
  const record = `echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> ${calls}`;
  // What Debian's packages would put in place: the binaries, and the postgres user postgresql creates.
  const install = [
    `case " $* " in *" postgresql "*) mkdir -p ${pgBin}; for t in initdb pg_ctl; do printf '#!/bin/sh\\n' > ${pgBin}/$t; done`,
    `  echo postgres:x:101:104::/:/bin/sh >> ${passwd};; esac`,
    `case " $* " in *" redis-server "*) printf '#!/bin/sh\\n' > ${bin}/redis-server;; esac`,
  ].join('\n');
  if (layout.aptGet === 'noop') tool(join(bin, 'apt-get'), record);
  if (layout.aptGet === 'installs') tool(join(bin, 'apt-get'), `${record}\n${install}`);
  return {
    host: { path: [bin], pgRoots: [join(root, 'lib/postgresql')], uid: layout.uid, passwdFile: passwd },
    aptCalls: () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : []),
    root,
  };
}

describe('ensureServices', () => {
  it('finds installed servers and runs nothing', async () => {
    const { host: h, aptCalls, root } = host({ uid: 1000, postgres: true, redis: true, aptGet: 'installs' });
    const lines: string[] = [];
    await expect(ensureServices(h, (line) => lines.push(line))).resolves.toEqual({
      pgBin: join(root, 'lib/postgresql/16/bin'),
      redisServer: join(root, 'bin/redis-server'),
    });
    expect(aptCalls()).toEqual([]);
    expect(lines).toEqual([]);
  });

  it.each([
    {
      layout: { uid: 1000, aptGet: 'noop' },
      says: [
        /Postgres \(initdb and pg_ctl\) is not in \S+\/lib\/postgresql\/\*\/bin/,
        /redis-server is not on PATH/,
      ],
      command: 'install them with: sudo apt-get install -y postgresql redis-server;',
    },
    {
      layout: { uid: 1000, postgres: true, aptGet: 'noop' },
      says: [/but redis-server is not on PATH\./],
      command: 'sudo apt-get install -y redis-server;',
    },
    {
      layout: { uid: 1000, redis: true, aptGet: 'noop' },
      says: [/but Postgres \(initdb and pg_ctl\) is not in/],
      command: 'sudo apt-get install -y postgresql;',
    },
    {
      layout: { uid: 0, postgresUser: true, aptGet: 'none' },
      says: [/Postgres \(initdb and pg_ctl\) is not in/, /redis-server is not on PATH/],
      command: 'there is no apt-get here: install postgresql redis-server',
    },
  ] satisfies Array<{ layout: Layout; says: RegExp[]; command: string }>)(
    'fails naming what is missing and how to install it: uid $layout.uid, apt-get $layout.aptGet, postgres $layout.postgres, redis $layout.redis',
    async ({ layout, says, command }) => {
      const { host: h, aptCalls } = host(layout);
      const error = await ensureServices(h, () => {}).then(
        () => undefined,
        (e: Error) => e.message,
      );
      expect(error).toMatch(/^the backend's integration tests need real Postgres and Redis servers, but /);
      for (const pattern of says) expect(error).toMatch(pattern);
      expect(error).toContain(command);
      expect(error).toContain('or set PG_BINDIR');
      if (!layout.postgres) expect(error).not.toMatch(/but redis-server/);
      expect(aptCalls()).toEqual([]);
    },
  );

  it('as root, installs the missing packages with apt-get, says so, and finds the servers', async () => {
    const { host: h, aptCalls, root } = host({ uid: 0, aptGet: 'installs' });
    const lines: string[] = [];
    const bins = await ensureServices(h, (line) => lines.push(line));
    expect(bins).toEqual({
      pgBin: join(root, 'lib/postgresql/16/bin'),
      redisServer: join(root, 'bin/redis-server'),
      pgUser: { name: 'postgres', uid: 101, gid: 104 },
    });
    expect(aptCalls()).toEqual([
      'DEBIAN_FRONTEND=noninteractive update -qq',
      'DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends postgresql redis-server',
    ]);
    expect(lines).toEqual([
      expect.stringMatching(
        /^test services: installing postgresql redis-server with apt-get, because Postgres .* is not in .*; redis-server is not on PATH; running as root, and there is no "postgres" user/,
      ),
    ]);
  });

  it('as root with Postgres present but no postgres user to run it as, installs postgresql only', async () => {
    const { host: h, aptCalls } = host({ uid: 0, postgres: true, redis: true, aptGet: 'installs' });
    await expect(ensureServices(h, () => {})).resolves.toMatchObject({ pgUser: { name: 'postgres' } });
    expect(aptCalls().at(-1)).toBe(
      'DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends postgresql',
    );
  });

  it('as root, fails naming what is still missing when apt-get installed nothing', async () => {
    const { host: h, aptCalls } = host({ uid: 0, postgresUser: true, postgres: true, aptGet: 'noop' });
    await expect(ensureServices(h, () => {})).rejects.toThrow(
      'after apt-get install redis-server, still: redis-server is not on PATH',
    );
    expect(aptCalls()).toHaveLength(2);
  });
});
