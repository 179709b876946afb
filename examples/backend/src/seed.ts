/**
 * The seed (charts/app services.backend.seed; `npm run seed`): migrates, then inserts the example items a new
 * preview starts with. Idempotent: an item already there is not inserted again, so a reseed adds nothing twice.
 * Logs JSON lines like the server; exits 1 after logging why when it fails.
 */
import { pathToFileURL } from 'node:url';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { SEED_ITEMS } from './seed-items.js';
import { PostgresItemStore } from './store.js';

export async function seed(env: Record<string, string | undefined> = process.env): Promise<number> {
  const config = loadConfig(env);
  const log = createLogger(config.logLevel, { service: 'backend', task: 'seed', gitSha: config.gitSha });
  const store = new PostgresItemStore(config.postgres, (error) =>
    log.warn('postgres client error', { error: error.message }),
  );
  try {
    const migrated = await store.migrate();
    const inserted = await store.seed(SEED_ITEMS);
    log.info('seeded', { migrated, inserted, items: SEED_ITEMS.length });
    return 0;
  } catch (error) {
    log.error('seed failed', { error: error instanceof Error ? error.message : String(error) });
    return 1;
  } finally {
    await store.close();
  }
}

// Run as a program (node dist/seed.js), not when a test imports it.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = await seed();
