import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import type { MetricsPluginOptions } from '../../sdk/src/builtins/metrics.ts';
import { DEFAULT_HOOK_BUCKETS, DEFAULT_REQUEST_BUCKETS, metricsOptions } from './options.ts';
import { resolveConfig } from '../../runtime/src/config/validate-config.ts';
import { builtinPlugins } from '../../runtime/src/plugins/builtins.ts';
import { ConfigError } from '../../runtime/src/config/config-error.ts';

/**
 * The SDK's hand-written `MetricsPluginOptions` and the schema's input type accept the same
 * shapes: these lines stop compiling when one side gains or loses a key or changes a type.
 */
type Extends<A, B> = [A] extends [B] ? true : false;
type Input = z.input<typeof metricsOptions>;
// Durations are a template-literal type in the SDK and a regex-checked string in the schema.
type Loosen<T> = { [K in keyof T]-?: K extends 'clusterTimeout' | 'cacheFor' ? 'duration' : T[K] extends object | undefined ? Loosen<NonNullable<T[K]>> : NonNullable<T[K]> };
const sdkFitsSchema: Extends<MetricsPluginOptions, Input> = true;
const sameShape: Extends<Loosen<Input>, Loosen<MetricsPluginOptions>> = true;
const sameShapeBack: Extends<Loosen<MetricsPluginOptions>, Loosen<Input>> = true;

function issues(options: unknown): string[] {
  try {
    resolveConfig({ plugins: { m: { use: 'metrics', options } }, routes: [{ path: '/x', upstream: 'http://127.0.0.1:9' }] } as never, builtinPlugins);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('metrics options', () => {
  it('the SDK type and the schema describe the same options', () => {
    assert.equal(sdkFitsSchema && sameShape && sameShapeBack, true);
  });

  it('defaults', () => {
    const o = metricsOptions.parse({});
    assert.deepEqual(o, {
      path: '/metrics',
      buckets: { request: [...DEFAULT_REQUEST_BUCKETS], upstream: [...DEFAULT_REQUEST_BUCKETS], hook: [...DEFAULT_HOOK_BUCKETS] },
      processMetrics: true,
      processMetricsPrefix: '',
      clusterTimeout: 3000,
      cacheFor: 1000,
    });
  });

  it('accepts durations with units and partial buckets', () => {
    const o = metricsOptions.parse({ clusterTimeout: '1.5s', buckets: { request: [0.1, 1] }, allow: ['10.0.0.0/8', '::1', '127.0.0.1'] });
    assert.equal(o.clusterTimeout, 1500);
    assert.deepEqual(o.buckets.request, [0.1, 1]);
    assert.deepEqual(o.buckets.upstream, [...DEFAULT_REQUEST_BUCKETS]);
  });

  it('names the offending key in config errors', () => {
    assert.deepEqual(issues({ buckets: { request: [1, 0.5] } }), ['plugins.m.options.buckets.request: bucket bounds must be strictly increasing']);
    assert.match(issues({ buckets: { hook: [0, 1] } })[0]!, /^plugins\.m\.options\.buckets\.hook\[0\]: bucket bounds are positive seconds/);
    assert.match(issues({ path: 'metrics' })[0]!, /^plugins\.m\.options\.path: expected a plain path/);
    assert.match(issues({ path: '/a/../metrics' })[0]!, /^plugins\.m\.options\.path: path segments cannot be/);
    assert.match(issues({ path: '/metrics?x=1' })[0]!, /^plugins\.m\.options\.path/);
    assert.match(issues({ allow: ['10.0.0.0/33'] })[0]!, /^plugins\.m\.options\.allow\[0\]: expected an IP address or CIDR/);
    assert.match(issues({ allow: [] })[0]!, /^plugins\.m\.options\.allow: list at least one address/);
    assert.match(issues({ clusterTimeout: '2h' })[0]!, /^plugins\.m\.options\.clusterTimeout/);
    assert.match(issues({ clusterTimeout: 0 })[0]!, /^plugins\.m\.options\.clusterTimeout: expected between 10 ms and 60 s/);
    assert.match(issues({ cacheFor: '2m' })[0]!, /^plugins\.m\.options\.cacheFor: expected at most 60 s/);
    assert.deepEqual(issues({ cacheFor: 0 }), []);
    assert.match(issues({ processMetricsPrefix: 'bad-prefix' })[0]!, /^plugins\.m\.options\.processMetricsPrefix/);
    // Names promtool would reject: ':' is for recording rules, and names are snake_case.
    assert.match(issues({ processMetricsPrefix: 'isogate:' })[0]!, /^plugins\.m\.options\.processMetricsPrefix: expected a metric name prefix/);
    assert.match(issues({ processMetricsPrefix: 'myApp_' })[0]!, /^plugins\.m\.options\.processMetricsPrefix: expected snake_case/);
    assert.deepEqual(issues({ processMetricsPrefix: 'isogate_' }), []);
    assert.deepEqual(issues({ processMetricsPrefix: 'ISOGATE_' }), []);
    assert.match(issues({ prefix: 'x_' })[0]!, /^plugins\.m\.options/);
  });
});
