/**
 * Vitest global setup of the integration tests: real Postgres and Redis for this run, installed first with apt-get
 * when missing and running as root (ensureServices), on free loopback ports in temporary directories; one line per
 * thing set up; stopped and removed at the end of the run, whatever its outcome.
 */
import type { TestProject } from 'vitest/node';
import { currentHost, ensureServices, PostgresServer, RedisServer, serverVersions } from './services.js';

const log = (line: string) => console.log(line);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bins = await ensureServices(currentHost(), log);
  const versions = await serverVersions(bins);
  const [postgres, redis] = await Promise.allSettled([PostgresServer.start(bins), RedisServer.start(bins)]);
  if (postgres.status === 'rejected' || redis.status === 'rejected') {
    // Remove the one that did start before failing the run.
    await Promise.all(
      [postgres, redis].map((r) => (r.status === 'fulfilled' ? r.value.dispose() : undefined)),
    );
    throw postgres.status === 'rejected' ? postgres.reason : (redis as PromiseRejectedResult).reason;
  }
  const pg = postgres.value;
  const as = bins.pgUser ? `, as user ${bins.pgUser.name}` : '';
  log(
    `test services: postgres ${versions.postgres} on 127.0.0.1:${pg.port} (started for this run: ${bins.pgBin}${as}, data in ${pg.dir})`,
  );
  log(
    `test services: redis ${versions.redis} on 127.0.0.1:${redis.value.port} (started for this run: ${bins.redisServer}, in ${redis.value.dir})`,
  );
  project.provide('services', { postgres: pg.state(), redis: redis.value.state() });
  return async () => {
    await Promise.all([pg.dispose(), redis.value.dispose()]);
    log('test services: stopped postgres and redis, removed their directories');
  };
}
