import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../config/config-error.ts';
import { resolveConfig } from '../config/validate-config.ts';
import { builtinPlugins } from '../plugins/builtins.ts';
import { originPolicies } from './origin-policy.ts';

function problems(input: unknown): string[] {
  try {
    resolveConfig(input, builtinPlugins);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('circuit breaker, retry and health check config', () => {
  it('fills the defaults', () => {
    const config = resolveConfig({ routes: [{ path: '/a', upstream: 'http://u:1', circuitBreaker: {}, retry: {}, healthCheck: {} }] }, builtinPlugins);
    const route = config.routes[0]!;
    assert.deepEqual(route.circuitBreaker, { consecutiveFailures: 5, errorRate: null, cooldown: 10_000, halfOpenProbes: 1, failureStatuses: [500, 502, 503, 504] });
    assert.deepEqual(route.retry, {
      attempts: 3,
      on: ['connect-failure', 'reset', 'timeout'],
      statuses: [502, 503, 504],
      backoff: { base: 25, max: 1_000 },
      budget: { percent: 20, minRetries: 10, window: 10_000 },
    });
    assert.deepEqual(route.healthCheck, { path: '/', interval: 10_000, timeout: 2_000, healthyThreshold: 2, unhealthyThreshold: 3 });
    const withRate = resolveConfig({ routes: [{ path: '/a', upstream: 'http://u:1', circuitBreaker: { errorRate: { percent: 50 } }, timeout: { total: '2s' } }] }, builtinPlugins);
    assert.deepEqual(withRate.routes[0]!.circuitBreaker?.errorRate, { percent: 50, minRequests: 20, window: 10_000 });
    assert.equal(withRate.routes[0]!.timeout.total, 2_000);
  });

  const cases: [string, unknown, RegExp][] = [
    ['unknown breaker key', { circuitBreaker: { threshold: 3 } }, /^routes\[0\]\.circuitBreaker\.threshold: unknown key/],
    ['error rate above 100', { circuitBreaker: { errorRate: { percent: 150 } } }, /^routes\[0\]\.circuitBreaker\.errorRate\.percent: /],
    ['a 2xx as failure status', { circuitBreaker: { failureStatuses: [200] } }, /^routes\[0\]\.circuitBreaker\.failureStatuses\[0\]: expected an HTTP status from 400/],
    ['zero cooldown', { circuitBreaker: { cooldown: 0 } }, /^routes\[0\]\.circuitBreaker\.cooldown: expected a duration above 0/],
    ['too many attempts', { retry: { attempts: 50 } }, /^routes\[0\]\.retry\.attempts: /],
    ['unknown retry condition', { retry: { on: ['5xx'] } }, /^routes\[0\]\.retry\.on\[0\]: /],
    ['backoff base above max', { retry: { backoff: { base: '2s', max: '1s' } } }, /^routes\[0\]\.retry\.backoff\.max: must not be below backoff\.base/],
    ['budget above 100 %', { retry: { budget: { percent: 200 } } }, /^routes\[0\]\.retry\.budget\.percent: /],
    ['health check path without a slash', { healthCheck: { path: 'health' } }, /^routes\[0\]\.healthCheck\.path: expected a path/],
    ['zero threshold', { healthCheck: { unhealthyThreshold: 0 } }, /^routes\[0\]\.healthCheck\.unhealthyThreshold: /],
    ['bad total timeout', { timeout: { total: 'soon' } }, /^routes\[0\]\.timeout\.total: /],
  ];
  for (const [name, extra, expected] of cases) {
    it(`refuses ${name}, with its key path`, () => {
      const found = problems({ routes: [{ path: '/a', upstream: 'http://u:1', ...(extra as object) }] });
      assert.ok(found.some((p) => expected.test(p)), found.join('\n'));
    });
  }

  it('refuses two routes giving one origin different breakers or health checks, naming both', () => {
    const found = problems({
      routes: [
        { path: '/a', upstream: ['http://u:1', 'http://v:1'], circuitBreaker: { consecutiveFailures: 3 }, healthCheck: { path: '/h' } },
        { path: '/b', upstream: 'http://v:1/b', circuitBreaker: { consecutiveFailures: 4 }, healthCheck: { path: '/h' } },
        { path: '/c', backends: [{ url: 'http://u:1/c' }], healthCheck: { path: '/other' } },
      ],
    });
    assert.deepEqual(found, [
      'routes[1].circuitBreaker: http://v:1 already has other circuit breaker settings from routes[0]: an origin has one breaker, shared by its routes (give both the same settings, or set them on one)',
      'routes[2].healthCheck: http://u:1 already has other health check settings from routes[0]: an origin is checked once, for every route using it (give both the same settings, or set them on one)',
    ]);
  });

  it("a route that sets nothing shares the origin's breaker and health checks set by another", () => {
    const config = resolveConfig(
      {
        routes: [
          { path: '/a', upstream: 'http://u:1', circuitBreaker: { consecutiveFailures: 3 } },
          { path: '/b', upstream: 'http://u:1/b' },
          { path: '/c/:id', backends: [{ url: 'http://w:1/c/{id}' }], healthCheck: { path: '/h' } },
          { path: '/d', upstream: 'http://x:1' },
        ],
      },
      builtinPlugins,
    );
    const policies = originPolicies(config.routes);
    assert.equal(policies.get('http://u:1')?.circuitBreaker?.consecutiveFailures, 3);
    assert.equal(policies.get('http://w:1')?.healthCheck?.path, '/h');
    assert.deepEqual(policies.get('http://x:1'), { circuitBreaker: null, healthCheck: null });
  });
});
