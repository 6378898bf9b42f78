import { formatPath, type ConfigIssue } from '../config/config-error.ts';
import type { ResolvedCircuitBreaker, ResolvedHealthCheck, ResolvedRoute } from '../config/resolved-config.ts';
import { compileValueTemplate } from './template.ts';

/**
 * What belongs to an upstream origin rather than to a route: its circuit breaker and its active
 * health checks. Routes set them (on their upstream set), and every route using the origin shares
 * the one breaker and the one checker, whether it set them or not.
 */
export interface OriginPolicy {
  readonly circuitBreaker: ResolvedCircuitBreaker | null;
  readonly healthCheck: ResolvedHealthCheck | null;
}

export const NO_ORIGIN_POLICY: OriginPolicy = Object.freeze({ circuitBreaker: null, healthCheck: null });

/** The upstream URLs a route connects to: its upstreams, or each backend's origin (`/` as path). */
export function routeUpstreamUrls(route: ResolvedRoute): string[] {
  if (!route.backends) return [...route.upstreams];
  // resolve-backends made sure the scheme and host are literal (or {env.X}, filled when compiled).
  return route.backends.map((b) => `${/^https?:\/\/[^/?#]*/i.exec(compileValueTemplate(b.url).template[0] as string)![0]}/`);
}

/**
 * Every origin's policy, from the routes that set one. Routes that set different ones for the same
 * origin are a config problem (reported with both key paths when `issues` is given; otherwise the
 * first route's wins, which cannot happen to a config that was validated).
 */
export function originPolicies(routes: readonly ResolvedRoute[], issues?: ConfigIssue[]): Map<string, OriginPolicy> {
  const found = new Map<string, { circuitBreaker: ResolvedCircuitBreaker | null; breakerFrom: number; healthCheck: ResolvedHealthCheck | null; healthFrom: number }>();
  routes.forEach((route, i) => {
    for (const url of routeUpstreamUrls(route)) {
      const origin = new URL(url).origin;
      let entry = found.get(origin);
      if (!entry) {
        entry = { circuitBreaker: null, breakerFrom: -1, healthCheck: null, healthFrom: -1 };
        found.set(origin, entry);
      }
      if (route.circuitBreaker) {
        if (entry.circuitBreaker === null) {
          entry.circuitBreaker = route.circuitBreaker;
          entry.breakerFrom = i;
        } else if (entry.breakerFrom !== i && !same(entry.circuitBreaker, route.circuitBreaker)) {
          issues?.push({
            path: formatPath(['routes', i, 'circuitBreaker']),
            message: `${origin} already has other circuit breaker settings from routes[${entry.breakerFrom}]: an origin has one breaker, shared by its routes (give both the same settings, or set them on one)`,
          });
        }
      }
      if (route.healthCheck) {
        if (entry.healthCheck === null) {
          entry.healthCheck = route.healthCheck;
          entry.healthFrom = i;
        } else if (entry.healthFrom !== i && !same(entry.healthCheck, route.healthCheck)) {
          issues?.push({
            path: formatPath(['routes', i, 'healthCheck']),
            message: `${origin} already has other health check settings from routes[${entry.healthFrom}]: an origin is checked once, for every route using it (give both the same settings, or set them on one)`,
          });
        }
      }
    }
  });
  const policies = new Map<string, OriginPolicy>();
  for (const [origin, e] of found) {
    policies.set(origin, e.circuitBreaker === null && e.healthCheck === null ? NO_ORIGIN_POLICY : { circuitBreaker: e.circuitBreaker, healthCheck: e.healthCheck });
  }
  return policies;
}

/** Resolved settings are plain data with keys in schema order. */
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
