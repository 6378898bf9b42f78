import type { PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { contributedMetrics, SampledGaugeFamily } from '../metrics/contributed.ts';
import { CounterFamily, type CounterSeries } from '../metrics/series.ts';

/**
 * What a lookup came to, one per request through a cache instance:
 * - `hit`: answered from a fresh entry (a 304 to a conditional request included);
 * - `stale`: answered from a stale entry while one background request refreshes it;
 * - `revalidated`: a stale entry the upstream confirmed (304) and that then answered;
 * - `collapsed`: answered with the entry a concurrent request was filling;
 * - `miss`: the upstream answered (no entry, an expired one, another variant, or a follower that
 *   stopped waiting);
 * - `bypass`: not for the cache (a method other than GET/HEAD, a Range request, credentials the
 *   key does not tell apart).
 */
export const RESULTS = ['hit', 'stale', 'revalidated', 'collapsed', 'miss', 'bypass'] as const;
export type CacheResult = (typeof RESULTS)[number];

export type RouteCounters = Readonly<Record<CacheResult, CounterSeries>>;

/**
 * The cache's metrics, exported by the metrics built-in (plugins/metrics/contributed.ts):
 * `gateway_cache_requests_total{route,result}`, `gateway_cache_stored_bytes{plugin}` (memory
 * stores: what this process holds) and `gateway_cache_store_errors_total{plugin}` (failed Redis
 * commands).
 */
export class CacheMetrics {
  readonly requests: CounterFamily;
  readonly storedBytes: SampledGaugeFamily;
  readonly storeErrors: CounterFamily;

  constructor(ctx: Pick<PluginFactoryContext, 'shared'>) {
    const contributed = contributedMetrics(ctx);
    this.requests = contributed.family('gateway_cache_requests_total', () => new CounterFamily('gateway_cache_requests_total', 'Requests through a response cache, by route template and result (hit, stale, revalidated, collapsed, miss, bypass)', ['route', 'result']));
    this.storedBytes = contributed.family('gateway_cache_stored_bytes', () => new SampledGaugeFamily('gateway_cache_stored_bytes', 'Bytes held by a memory response cache in this process (bodies, headers and keys), by plugin instance', ['plugin']));
    this.storeErrors = contributed.family('gateway_cache_store_errors_total', () => new CounterFamily('gateway_cache_store_errors_total', 'Failed commands to a shared (Redis) response cache, answered as misses, by plugin instance', ['plugin']));
  }

  /** A route's series, resolved once per routing table. */
  route(template: string): RouteCounters {
    const out = {} as Record<CacheResult, CounterSeries>;
    for (const result of RESULTS) out[result] = this.requests.series(template, result);
    return out;
  }
}
