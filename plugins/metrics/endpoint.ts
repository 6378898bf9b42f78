import net from 'node:net';
import type { Logger } from 'pino';
import type { GatewayResponse } from '../../runtime/src/chain/types.ts';
import { errorResponse } from '../../runtime/src/errors.ts';
import type { EndpointHandler, EndpointRequest } from '../../runtime/src/plugins/builtin-plugin.ts';
import { unmapIpv4 } from '../../runtime/src/proxy/trusted-proxies.ts';

/** Who may scrape: the TCP peer's address against IP addresses and CIDR ranges. */
export class ScrapeAllowList {
  readonly #list = new net.BlockList();

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#list.addAddress(address, family);
      else this.#list.addSubnet(address, Number(bits), family);
    }
  }

  allows(remoteAddress: string): boolean {
    const address = unmapIpv4(remoteAddress);
    const family = net.isIP(address);
    if (family === 0) return false;
    return this.#list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

export interface ScrapeSource {
  readonly contentType: string;
  /** The exposition text: this process's registry, or the whole cluster's. */
  scrape(): Promise<string>;
}

/**
 * `GET /metrics` (and HEAD). Concurrent scrapes share one collection, and its text is served
 * again for `cacheFor` ms after it completes: a client scraping back to back (one keep-alive
 * connection, no pause) costs one collection per `cacheFor`, not a CPU core. A failed collection
 * is not kept.
 */
export function metricsEndpoint(
  source: ScrapeSource,
  options: { allow: ScrapeAllowList | null; logger: Logger; cacheFor?: number; now?: () => number },
): EndpointHandler {
  const cacheFor = options.cacheFor ?? 0;
  const now = options.now ?? (() => performance.now());
  let pending: Promise<string> | null = null;
  let cached: { text: string; until: number } | null = null;
  const collect = (): Promise<string> => {
    if (cached !== null && now() < cached.until) return Promise.resolve(cached.text);
    return (pending ??= source.scrape().then(
      (text) => {
        pending = null;
        if (cacheFor > 0) cached = { text, until: now() + cacheFor };
        return text;
      },
      (err: unknown) => {
        pending = null;
        throw err;
      },
    ));
  };

  return async function serveMetrics(req: EndpointRequest): Promise<GatewayResponse> {
    if (options.allow !== null && !options.allow.allows(req.remoteAddress)) return errorResponse('FORBIDDEN');
    if (req.method !== 'GET' && req.method !== 'HEAD') return errorResponse('METHOD_NOT_ALLOWED', { allow: 'GET, HEAD' });
    let text: string;
    try {
      text = await collect();
    } catch (err) {
      options.logger.warn({ err: { message: (err as Error).message } }, 'metrics scrape failed');
      // The cluster primary did not answer (see cluster.ts): a gap in Prometheus, not a made-up value.
      return errorResponse('METRICS_UNAVAILABLE');
    }
    return { status: 200, headers: { 'content-type': source.contentType, 'cache-control': 'no-store' }, body: text };
  };
}

/** Whether `host` (server.host) only listens on the loopback interface. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true;
  const address = unmapIpv4(host);
  return net.isIPv4(address) && address.startsWith('127.');
}
