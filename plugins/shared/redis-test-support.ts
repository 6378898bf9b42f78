import { Redis } from 'ioredis';

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export const HOW_TO_START_REDIS = `Redis is not reachable at ${REDIS_URL} (set REDIS_URL to use another). Start one with:\n  redis-server --port 6379 --save '' --appendonly no --daemonize yes`;

/** Resolve when Redis answers PING; throw (failing the test, never skipping it) with how to start one. */
export async function requireRedis(url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, connectTimeout: 2_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new Error(`${HOW_TO_START_REDIS}\n(${(err as Error).message})`, { cause: err });
  } finally {
    client.disconnect();
  }
}

/** A key prefix no other test run uses. */
let counter = 0;
export function uniquePrefix(label: string): string {
  return `isogate-test:${label}:${process.pid}:${Date.now().toString(36)}:${counter++}`;
}

/** Delete every key under `prefix` (SCAN, not KEYS). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}
