/** Items in Postgres. The schema is migrated on start under an advisory lock, so replicas may start together. */
import pg from 'pg';
import type { PostgresConfig } from './config.js';
import { withTimeout } from './timeout.js';

export interface Item {
  id: number;
  name: string;
  createdAt: string;
}

export interface ItemStore {
  create(name: string): Promise<Item>;
  /** Newest first. */
  list(limit: number): Promise<Item[]>;
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Arbitrary but fixed: every replica of this service takes the same lock while migrating. */
export const MIGRATION_LOCK_KEY = 0x6a657473; // "jets"

/** Append only: each entry runs once, in order, recorded in schema_migrations. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS items (
     id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
];

interface ItemRow {
  id: number;
  name: string;
  created_at: Date;
}

function toItem(row: ItemRow): Item {
  return { id: row.id, name: row.name, createdAt: row.created_at.toISOString() };
}

export class PostgresItemStore implements ItemStore {
  readonly pool: pg.Pool;

  constructor(config: PostgresConfig, onError: (error: Error) => void) {
    this.pool = new pg.Pool({
      ...config,
      max: 10,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      application_name: 'jetscale-example-backend',
    });
    // An idle client losing its server emits here; without a listener the process would crash.
    this.pool.on('error', onError);
  }

  /** Applies the migrations not yet applied. Returns how many ran. */
  async migrate(): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
        );
        const done = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
        const applied = new Set(done.rows.map((row) => row.version));
        let ran = 0;
        for (const [index, sql] of MIGRATIONS.entries()) {
          const version = index + 1;
          if (applied.has(version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(sql);
            await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK');
            throw error;
          }
          ran++;
        }
        return ran;
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      }
    } finally {
      client.release();
    }
  }

  /**
   * Inserts each named item that no item has yet, under the migration lock (two seeds at once insert each name
   * once). Returns how many it inserted: 0 on a database already seeded.
   */
  async seed(names: readonly string[]): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        let inserted = 0;
        for (const name of names) {
          const result = await client.query(
            'INSERT INTO items (name) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM items WHERE name = $1)',
            [name],
          );
          inserted += result.rowCount ?? 0;
        }
        await client.query('COMMIT');
        return inserted;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    } finally {
      client.release();
    }
  }

  async create(name: string): Promise<Item> {
    const result = await this.pool.query<ItemRow>(
      'INSERT INTO items (name) VALUES ($1) RETURNING id, name, created_at',
      [name],
    );
    const row = result.rows[0];
    if (!row) throw new Error('INSERT INTO items returned no row');
    return toItem(row);
  }

  async list(limit: number): Promise<Item[]> {
    const result = await this.pool.query<ItemRow>(
      'SELECT id, name, created_at FROM items ORDER BY id DESC LIMIT $1',
      [limit],
    );
    return result.rows.map(toItem);
  }

  async ping(timeoutMs: number): Promise<void> {
    await withTimeout(this.pool.query('SELECT 1'), timeoutMs, 'postgres');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
