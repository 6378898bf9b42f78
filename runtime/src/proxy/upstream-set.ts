import type { Dispatcher } from 'undici';
import type { CircuitBreaker } from './breaker/circuit-breaker.ts';
import { compileTemplate, fillTemplate, hasPlaceholders, type CompiledTemplate } from './path-template.ts';

/** One upstream URL of a route: where to connect and how to build the forwarded path. */
export interface UpstreamTarget {
  readonly url: string;
  readonly origin: string;
  readonly pool: Dispatcher;
  /** Host header value the upstream expects (unless the route preserves the client's). */
  readonly host: string;
  /** Either a template filled from params, or a prefix put before the forwarded path. */
  readonly template: CompiledTemplate | null;
  readonly prefix: string;
  /** Skip this upstream until this time (ms since epoch) after a connection failure. */
  downUntil: number;
  /** The origin's breaker (shared with every route using the origin); null: none (tests). */
  readonly circuit: CircuitBreaker | null;
}

export function createTarget(url: string, pool: Dispatcher, circuit: CircuitBreaker | null = null): UpstreamTarget {
  const parsed = new URL(url);
  const path = parsed.pathname;
  const templated = hasPlaceholders(decodeURI(path));
  return {
    url,
    origin: parsed.origin,
    pool,
    host: parsed.host,
    template: templated ? compileTemplate(decodeURI(path)) : null,
    prefix: templated || path === '/' ? '' : path.replace(/\/+$/, ''),
    downUntil: 0,
    circuit,
  };
}

/** The path sent to one upstream for a request whose forwarded path is `path`. */
export function upstreamPath(target: UpstreamTarget, path: string, params: Record<string, string>, claims: Readonly<Record<string, unknown>> | null = null): string {
  if (target.template) return fillTemplate(target.template, params, claims);
  return target.prefix === '' ? path : target.prefix + path;
}

/**
 * Round-robin over a route's upstreams with passive health: an upstream that refused or timed out
 * a connection is skipped for `cooldownMs`, and one whose circuit does not admit calls (open, or
 * half-open with its probes taken) is skipped until it does. If every upstream is skipped, the one
 * whose cooldown ends first is tried anyway (better a likely 502 than a certain one), and when
 * every circuit is open, one of them: its breaker answers the coded 503 at once.
 */
export class UpstreamSet {
  readonly targets: readonly UpstreamTarget[];
  readonly #cooldownMs: number;
  #next = 0;

  constructor(targets: readonly UpstreamTarget[], cooldownMs = 5_000) {
    this.targets = targets;
    this.#cooldownMs = cooldownMs;
  }

  /**
   * Pick the next healthy upstream, skipping those in `tried`. Null when all were tried.
   * `rotate: false` (a retry) leaves the rotation where it was, so that the next request still
   * starts at the upstream after the one it started at: first attempts stay evenly spread.
   */
  pick(tried: ReadonlySet<UpstreamTarget> | null, now = Date.now(), rotate = true): UpstreamTarget | null {
    const n = this.targets.length;
    if (n === 1) return tried?.has(this.targets[0]!) ? null : this.targets[0]!;
    let fallback: UpstreamTarget | null = null;
    let shut: UpstreamTarget | null = null;
    for (let i = 0; i < n; i++) {
      const target = this.targets[(this.#next + i) % n]!;
      if (tried?.has(target)) continue;
      if (target.circuit !== null && !target.circuit.admits) {
        shut ??= target;
        continue;
      }
      if (target.downUntil <= now) {
        if (rotate) this.#next = (this.#next + i + 1) % n;
        return target;
      }
      if (!fallback || target.downUntil < fallback.downUntil) fallback = target;
    }
    return fallback ?? shut;
  }

  /** Whether some upstream is in the rotation (its circuit not open): what `/readyz` asks with `requireUpstreams`. */
  hasUpstreamInRotation(): boolean {
    return this.targets.some((t) => t.circuit === null || t.circuit.state !== 'open');
  }

  markDown(target: UpstreamTarget, now = Date.now()): void {
    target.downUntil = now + this.#cooldownMs;
  }

  markUp(target: UpstreamTarget): void {
    target.downUntil = 0;
  }
}
