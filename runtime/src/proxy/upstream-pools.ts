import { Pool, type buildConnector, type Dispatcher } from 'undici';
import { CircuitBreaker, type CircuitChange } from './breaker/circuit-breaker.ts';
import { HealthChecker } from './health/health-checker.ts';
import { interimTolerantConnector } from './interim-responses.ts';
import { circuitBreaker } from './interceptors/circuit-breaker.ts';
import { queueTimeout } from './interceptors/queue-timeout.ts';
import { NO_ORIGIN_POLICY, type OriginPolicy } from './origin-policy.ts';

interface Entry {
  pool: Pool;
  /** The pool with the gateway's upstream interceptors; what routes dispatch through. */
  dispatcher: Dispatcher;
  site: Site;
  refs: number;
}

/** What lives with an origin rather than with one of its pools: its breaker and its health checks. */
interface Site {
  readonly circuit: CircuitBreaker;
  health: HealthChecker | null;
  refs: number;
  /** Its state was reported (it has had a breaker or health checks): its release is reported too. */
  watched: boolean;
}

/**
 * Keep-alive connection pools, one per (upstream origin, connect timeout), shared by every
 * routing table. A hot reload that keeps an upstream keeps its warm connections; a pool is closed
 * (gracefully: queued requests finish) when the last table using it is retired.
 *
 * Each origin also has one circuit breaker (in front of each of its pools) and at most one health
 * checker, shared by every route and routing table using the origin: a reload keeps their state,
 * and the checker stops when no table uses the origin any more. The settings are the latest
 * acquirer's (the newest routing table's).
 */
export class UpstreamPools {
  readonly #entries = new Map<string, Entry>();
  readonly #sites = new Map<string, Site>();
  readonly #connections: number;
  readonly #onCircuitChange: (change: CircuitChange) => void;

  constructor(options: { connectionsPerOrigin?: number; onCircuitChange?: (change: CircuitChange) => void } = {}) {
    this.#connections = options.connectionsPerOrigin ?? 256;
    this.#onCircuitChange = options.onCircuitChange ?? (() => {});
  }

  /** The circuit breaker of an origin some table uses (undefined for any other). */
  circuit(origin: string): CircuitBreaker | undefined {
    return this.#sites.get(origin)?.circuit;
  }

  /** The health checker of an origin, when it has one. */
  healthChecker(origin: string): HealthChecker | undefined {
    return this.#sites.get(origin)?.health ?? undefined;
  }

  #site(origin: string, policy: OriginPolicy): Site {
    let site = this.#sites.get(origin);
    if (!site) {
      site = { circuit: new CircuitBreaker(origin, { onChange: this.#onCircuitChange }), health: null, refs: 0, watched: false };
      this.#sites.set(origin, site);
    }
    site.refs++;
    if (!site.watched && (policy.circuitBreaker !== null || policy.healthCheck !== null)) {
      site.watched = true;
      this.#onCircuitChange({ upstream: origin, from: null, to: site.circuit.state, reason: 'watched' });
    }
    site.circuit.configure(policy.circuitBreaker);
    const health = policy.healthCheck;
    if (JSON.stringify(health) !== JSON.stringify(site.health?.settings ?? null)) {
      site.health?.stop();
      site.health = null;
      if (health === null) site.circuit.healthRemoved();
      else {
        site.health = new HealthChecker(origin, health, site.circuit);
        site.health.start();
      }
    }
    return site;
  }

  #releaseSite(origin: string, site: Site): void {
    if (--site.refs > 0) return;
    this.#sites.delete(origin);
    site.health?.stop();
    site.circuit.dispose();
    if (site.watched) this.#onCircuitChange({ upstream: origin, from: null, to: 'closed', reason: 'released' });
  }

  /**
   * The pool for an origin. `http2`: streams multiplexed over a few connections, h2c with prior
   * knowledge for http:// (what gRPC servers speak in a cluster), ALPN h2 for https://. Without
   * it, HTTP/1.1 only: undici would otherwise offer h2 by ALPN to https upstreams, and HTTP/1.1 is
   * what the rest of the proxy (1xx handling, hop-by-hop rules) is built for.
   */
  acquire(origin: string, connectTimeout: number, http2 = false, policy: OriginPolicy = NO_ORIGIN_POLICY): Dispatcher {
    const key = `${origin}|${connectTimeout}|${http2 ? 'h2' : 'h1'}`;
    const site = this.#site(origin, policy);
    let entry = this.#entries.get(key);
    if (!entry) {
      const h2c = http2 && origin.startsWith('http:');
      const pool = new Pool(origin, {
        connections: http2 ? Math.max(1, Math.ceil(this.#connections / 64)) : this.#connections,
        // useH2c is a connector option undici reads but does not declare in its types.
        connect: interimTolerantConnector({ timeout: connectTimeout, allowH2: http2, useH2c: h2c } as buildConnector.BuildOptions),
        allowH2: http2,
        ...(http2 ? { pipelining: 100, maxConcurrentStreams: 100 } : {}),
        keepAliveTimeout: 4_000,
        // Timeouts are set per request from the route's config.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      // The breaker last (outermost): a refused call never waits in the queue.
      entry = { pool, dispatcher: pool.compose(queueTimeout(), circuitBreaker(site.circuit)), site, refs: 0 };
      this.#entries.set(key, entry);
    }
    entry.refs++;
    return entry.dispatcher;
  }

  release(dispatcher: Dispatcher): void {
    for (const [key, entry] of this.#entries) {
      if (entry.dispatcher !== dispatcher) continue;
      if (--entry.refs === 0) {
        this.#entries.delete(key);
        entry.pool.close().catch(() => entry.pool.destroy());
      }
      this.#releaseSite(key.slice(0, key.indexOf('|')), entry.site);
      return;
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  async closeAll(): Promise<void> {
    const pools = [...this.#entries.values()].map((e) => e.pool);
    this.#entries.clear();
    this.#dropSites();
    await Promise.all(pools.map((p) => p.close().catch(() => p.destroy())));
  }

  destroyAll(): void {
    for (const entry of this.#entries.values()) entry.pool.destroy().catch(() => {});
    this.#entries.clear();
    this.#dropSites();
  }

  #dropSites(): void {
    for (const site of this.#sites.values()) {
      site.health?.stop();
      site.circuit.dispose();
    }
    this.#sites.clear();
  }
}
