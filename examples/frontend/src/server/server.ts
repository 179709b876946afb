/** Wires the frontend server together; SIGTERM/SIGINT stop it gracefully like the backend. */
import { createServer, type Server } from 'node:http';
import { createApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { createDevTools } from './dev.js';
import { createLogger, errorMessage, type Logger } from './logger.js';
import { createProxy } from './proxy.js';
import { MemorySource } from './static.js';

export interface Running {
  server: Server;
  port: number;
  shutdown(signal: string): Promise<number>;
}

export async function start(config: Config, logger: Logger): Promise<Running> {
  const dev = config.dev ? createDevTools(config.staticDir, logger) : undefined;
  const source = dev?.source ?? new MemorySource(config.staticDir);
  const proxy = createProxy(config.backendUrl, config.proxyTimeoutMs, (message) =>
    logger.warn('proxy error', { error: message }),
  );
  const app = createApp({
    source,
    proxy,
    logger,
    gitSha: config.gitSha,
    ...(dev ? { extra: dev.extra } : {}),
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
    backend: config.backendUrl.href,
    dev: config.dev,
    staticDir: config.staticDir,
    gitSha: config.gitSha,
  });

  let stopping: Promise<number> | undefined;
  const shutdown = (signal: string): Promise<number> => {
    stopping ??= (async () => {
      logger.info('shutting down', { signal, timeoutMs: config.shutdownTimeoutMs });
      dev?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs);
      });
      const outcome = await Promise.race([closed.then(() => 'closed' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        logger.error('in-flight requests did not finish in time; closing them', {
          timeoutMs: config.shutdownTimeoutMs,
        });
        server.closeAllConnections();
      }
      proxy.close();
      logger.info('stopped', { outcome });
      return outcome === 'closed' ? 0 : 1;
    })();
    return stopping;
  };
  return { server, port, shutdown };
}

export async function run(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    createLogger('info', { service: 'frontend' }).error('invalid configuration', {
      error: errorMessage(error),
    });
    process.exitCode = error instanceof ConfigError ? 2 : 1;
    return;
  }
  const logger = createLogger(config.logLevel, { service: 'frontend' });
  let running: Running;
  try {
    running = await start(config, logger);
  } catch (error) {
    logger.error('start failed', { error: errorMessage(error) });
    process.exit(1);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5_000).unref();
      running.shutdown(signal).then((code) => process.exit(code));
    });
  }
}
