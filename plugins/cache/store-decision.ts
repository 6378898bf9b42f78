import type { GatewayResponse } from '../../runtime/src/chain/types.ts';
import { lifetimeOf, parseCacheControl, varyNames, type FreshnessSettings, type Lifetime, type NotStored } from './cache-control.ts';

export interface StoreSettings extends FreshnessSettings {
  readonly statuses: ReadonlySet<number>;
  readonly maxEntryBytes: number;
}

export type StoreDecision = { readonly store: true; readonly lifetime: Lifetime; readonly vary: readonly string[] } | { readonly store: false; readonly reason: NotStored | 'too-large' };

/**
 * Whether a response the upstream (or the middleware after the cache) gave may be stored, judged
 * from its head: the body is only known to fit `maxEntryBytes` once it has ended.
 */
export function decideStore(res: GatewayResponse, now: number, settings: StoreSettings): StoreDecision {
  const headers = res.headers;
  if (!settings.statuses.has(res.status) || res.upgradeSocket !== undefined) return { store: false, reason: 'status' };
  // A session handed to one client must never be replayed to the next one.
  if (headers['set-cookie'] !== undefined) return { store: false, reason: 'set-cookie' };
  const vary = varyNames(headers['vary']);
  if (vary[0] === '*') return { store: false, reason: 'vary' };
  const lifetime = lifetimeOf(headers, parseCacheControl(headers['cache-control']), now, settings);
  if (typeof lifetime === 'string') return { store: false, reason: lifetime };
  const declared = headers['content-length'];
  if (typeof declared === 'string' && Number(declared) > settings.maxEntryBytes) return { store: false, reason: 'too-large' };
  return { store: true, lifetime, vary };
}
