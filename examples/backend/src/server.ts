/**
 * Wires config, stores and the HTTP server together, runs the migrations, and shuts down gracefully:
 * on SIGTERM/SIGINT it stops accepting connections, lets in-flight requests finish, closes the pools and
 * exits 0; if that takes longer than SHUTDOWN_TIMEOUT_MS it exits 1.
 */
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from './app.js';
import { type Config, ConfigError, loadConfig, redact } from './config.js';
import { RedisCounter } from './counter.js';
import { createLogger, errorMessage, type Logger } from './logger.js';
import { PostgresItemStore } from './store.js';

export interface Running {
  server: Server;
  port: number;
  /** Resolves with the exit code once the shutdown finished. */
  shutdown(signal: string): Promise<number>;
}

export async function start(config: Config, logger: Logger): Promise<Running> {
  let lastPgError = '';
  const store = new PostgresItemStore(config.postgres, (error) => {
    logger.warn('postgres idle client error', { error: errorMessage(error) });
  });
  let lastRedisError = '';
  const counter = new RedisCounter(config.redisUrl, {
    onError: (error) => {
      const message = errorMessage(error);
      // While Redis is away every reconnect attempt fails the same way: log each distinct error once.
      if (message !== lastRedisError) logger.warn('redis error', { error: message });
      lastRedisError = message;
    },
    onReady: () => {
      lastRedisError = '';
      logger.info('redis ready');
    },
  });

  let migrated = false;
  let migrationState = 'migrations pending';
  let stopping = false;
  const app = createApp({
    store,
    counter,
    logger,
    gitSha: config.gitSha,
    readyTimeoutMs: config.readyTimeoutMs,
    postgresBlocker: () => (migrated ? undefined : migrationState),
    shuttingDown: () => stopping,
  });

  const server = createServer({ keepAliveTimeout: 5_000 }, app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info('listening', {
    port,
    gitSha: config.gitSha,
    postgres: config.postgres.connectionString
      ? redact(config.postgres.connectionString)
      : `${config.postgres.host}:${config.postgres.port}`,
    redis: redact(config.redisUrl),
  });

  counter.start();

  // Postgres may come up after us (it does in a fresh namespace): retry the migrations until they succeed.
  const migrations = (async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        const ran = await store.migrate();
        migrated = true;
        logger.info('migrations done', { applied: ran, attempt });
        return;
      } catch (error) {
        migrationState = `migrations pending: ${errorMessage(error)}`;
        if (migrationState !== lastPgError)
          logger.warn('migrations failed, retrying', { error: errorMessage(error), attempt });
        lastPgError = migrationState;
        await sleep(Math.min(250 * attempt, 2_000));
      }
    }
  })();

  let shuttingDown: Promise<number> | undefined;
  const shutdown = (signal: string): Promise<number> => {
    shuttingDown ??= (async () => {
      stopping = true;
      logger.info('shutting down', { signal, timeoutMs: config.shutdownTimeoutMs });
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Kept-alive connections without a request in flight would hold close() open: end them now.
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs);
      });
      const outcome = await Promise.race([closed.then(() => 'closed' as const), timedOut]);
      if (outcome === 'timeout') {
        logger.error('in-flight requests did not finish in time; closing them', {
          timeoutMs: config.shutdownTimeoutMs,
        });
        server.closeAllConnections();
      }
      clearTimeout(timer);
      // A migration stuck behind another replica's lock must not hold the shutdown.
      await Promise.race([migrations, sleep(1_000)]);
      const results = await Promise.allSettled([store.close(), counter.close()]);
      for (const result of results) {
        if (result.status === 'rejected')
          logger.warn('closing a pool failed', { error: errorMessage(result.reason) });
      }
      logger.info('stopped', { outcome });
      return outcome === 'closed' ? 0 : 1;
    })();
    return shuttingDown;
  };

  return { server, port, shutdown };
}

/** Entry point: reads the environment, starts, and exits on SIGTERM/SIGINT. */
export async function run(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    const logger = createLogger('info', { service: 'backend' });
    logger.error('invalid configuration', { error: errorMessage(error) });
    process.exitCode = error instanceof ConfigError ? 2 : 1;
    return;
  }
  const logger = createLogger(config.logLevel, { service: 'backend' });
  let running: Running;
  try {
    running = await start(config, logger);
  } catch (error) {
    logger.error('start failed', { error: errorMessage(error) });
    process.exit(1);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      // A hard stop in case closing the pools hangs as well.
      setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5_000).unref();
      running.shutdown(signal).then((code) => process.exit(code));
    });
  }
}
