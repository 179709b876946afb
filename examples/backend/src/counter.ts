/** The items-created counter in Redis. Commands fail fast while Redis is away (no offline queue). */
import { createClient } from '@redis/client';
import { withTimeout } from './timeout.js';

export interface Counter {
  increment(): Promise<number>;
  get(): Promise<number>;
  ping(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export const COUNTER_KEY = 'jetscale:items:created';

export interface RedisCounterEvents {
  onError(error: Error): void;
  onReady(): void;
}

export class RedisCounter implements Counter {
  private readonly client;

  constructor(url: string, events: RedisCounterEvents) {
    this.client = createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 2_000,
        // Keep trying for as long as the process lives; readiness reports the outage meanwhile.
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000),
      },
    });
    this.client.on('error', events.onError);
    this.client.on('ready', events.onReady);
  }

  /** Starts connecting in the background; the first success is reported through onReady. */
  start(): void {
    this.client.connect().catch(() => {
      // Only reached when the client is closed while connecting; errors went to onError.
    });
  }

  async increment(): Promise<number> {
    return await this.client.incr(COUNTER_KEY);
  }

  async get(): Promise<number> {
    const value = await this.client.get(COUNTER_KEY);
    return value === null ? 0 : Number.parseInt(value, 10);
  }

  async ping(timeoutMs: number): Promise<void> {
    if (!this.client.isReady) throw new Error('redis is not connected');
    await withTimeout(this.client.ping(), timeoutMs, 'redis');
  }

  async close(): Promise<void> {
    if (this.client.isReady) {
      await this.client.close();
    } else if (this.client.isOpen) {
      this.client.destroy();
    }
  }
}
