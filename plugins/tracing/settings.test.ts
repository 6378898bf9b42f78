import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tracingOptions, type TracingOptionsInput } from './options.ts';
import { parseResourceAttributes, providerKey, resolveSettings } from './settings.ts';

const resolve = (options: TracingOptionsInput, env: Record<string, string> = {}) => resolveSettings(tracingOptions.parse(options), env);

describe('tracing settings: config, then OTEL_* environment, then defaults', () => {
  it('defaults without config or environment', () => {
    const s = resolve({});
    assert.equal(s.enabled, true);
    assert.equal(s.serviceName, 'isogate');
    assert.equal(s.exporter, 'otlp-http');
    assert.equal(s.otlp.endpoint, 'http://localhost:4318/v1/traces');
    assert.equal(s.otlp.encoding, 'protobuf');
    assert.deepEqual(s.sampling, { ratio: 1, parentBased: true, honourIncomingSampled: 'trusted-proxies' });
    assert.equal(s.attributeValueLengthLimit, 1024);
    assert.equal(s.shutdownTimeoutMs, 2000);
    assert.deepEqual(s.batch, { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMs: 5000, exportTimeoutMs: 30000 });
    assert.deepEqual(s.warnings, []);
  });

  it('reads the standard variables when the config is silent', () => {
    const s = resolve(
      {},
      {
        OTEL_SERVICE_NAME: 'edge',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,team=plat%20form',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_BSP_SCHEDULE_DELAY: '1000',
        OTEL_BSP_MAX_QUEUE_SIZE: '100',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50',
      },
    );
    assert.equal(s.serviceName, 'edge');
    assert.deepEqual(s.resource, { 'deployment.environment.name': 'prod', team: 'plat form', 'service.name': 'edge' });
    assert.equal(s.otlp.endpoint, 'http://collector:4318/v1/traces', 'the generic endpoint gets the signal path');
    assert.equal(s.otlp.encoding, 'json');
    assert.deepEqual(s.sampling, { ratio: 0.25, parentBased: true, honourIncomingSampled: 'trusted-proxies' });
    assert.equal(s.batch.scheduledDelayMs, 1000);
    assert.equal(s.batch.maxQueueSize, 100);
    assert.equal(s.batch.maxExportBatchSize, 50);
  });

  it('prefers the config over the environment, per setting', () => {
    const s = resolve(
      { serviceName: 'from-config', otlp: { endpoint: 'https://otlp.example.com/custom/traces' }, sampling: { ratio: 0.5 }, resourceAttributes: { team: 'config' } },
      {
        OTEL_SERVICE_NAME: 'from-env',
        OTEL_RESOURCE_ATTRIBUTES: 'team=env,region=eu',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://env:4318/v1/traces',
        OTEL_TRACES_SAMPLER: 'traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.1',
      },
    );
    assert.equal(s.serviceName, 'from-config');
    assert.deepEqual(s.resource, { team: 'config', region: 'eu', 'service.name': 'from-config' });
    assert.equal(s.otlp.endpoint, 'https://otlp.example.com/custom/traces');
    assert.equal(s.sampling.ratio, 0.5, 'config ratio');
    assert.equal(s.sampling.parentBased, false, 'the environment still decides what the config left out');
  });

  it('uses a signal-specific endpoint as is, and service.name from OTEL_RESOURCE_ATTRIBUTES', () => {
    const s = resolve({}, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/traces', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318', OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' });
    assert.equal(s.otlp.endpoint, 'http://c:4318/traces');
    assert.equal(s.serviceName, 'from-attrs');
  });

  it('completes a configured HTTP endpoint without a path, not a gRPC one', () => {
    assert.equal(resolve({ otlp: { endpoint: 'http://collector:4318' } }).otlp.endpoint, 'http://collector:4318/v1/traces');
    assert.equal(resolve({ otlp: { endpoint: 'http://collector:4318/' } }).otlp.endpoint, 'http://collector:4318/v1/traces');
    assert.equal(resolve({ exporter: 'otlp-grpc', otlp: { endpoint: 'http://collector:4317' } }).otlp.endpoint, 'http://collector:4317');
    assert.equal(resolve({ exporter: 'otlp-grpc' }).otlp.endpoint, 'http://localhost:4317');
    assert.equal(resolve({ exporter: 'otlp-grpc' }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' }).otlp.endpoint, 'http://c:4317');
  });

  it('maps OTEL_TRACES_EXPORTER and the protocol onto the exporter kind', () => {
    assert.equal(resolve({}, { OTEL_TRACES_EXPORTER: 'none' }).exporter, 'none');
    assert.equal(resolve({}, { OTEL_TRACES_EXPORTER: 'console' }).exporter, 'console');
    assert.equal(resolve({}, { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }).exporter, 'otlp-grpc');
    assert.equal(resolve({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).exporter, 'otlp-grpc');
    assert.equal(resolve({ exporter: 'otlp-http' }, { OTEL_TRACES_EXPORTER: 'none' }).exporter, 'otlp-http');
  });

  it('maps every OTEL_TRACES_SAMPLER', () => {
    const sampler = (name: string, arg?: string) => {
      const { ratio, parentBased } = resolve({}, arg === undefined ? { OTEL_TRACES_SAMPLER: name } : { OTEL_TRACES_SAMPLER: name, OTEL_TRACES_SAMPLER_ARG: arg }).sampling;
      return { ratio, parentBased };
    };
    assert.deepEqual(sampler('always_on'), { ratio: 1, parentBased: false });
    assert.deepEqual(sampler('always_off'), { ratio: 0, parentBased: false });
    assert.deepEqual(sampler('traceidratio', '0.3'), { ratio: 0.3, parentBased: false });
    assert.deepEqual(sampler('parentbased_always_on'), { ratio: 1, parentBased: true });
    assert.deepEqual(sampler('parentbased_always_off'), { ratio: 0, parentBased: true });
    assert.deepEqual(sampler('parentbased_traceidratio', '0'), { ratio: 0, parentBased: true });
  });

  it('honours only trusted proxies\' sampled flag by default, and none when parentBased is off', () => {
    const honour = (options: TracingOptionsInput, env: Record<string, string> = {}) => resolve(options, env).sampling.honourIncomingSampled;
    assert.equal(honour({}), 'trusted-proxies');
    assert.equal(honour({ sampling: { honourIncomingSampled: 'always' } }), 'always');
    assert.equal(honour({ sampling: { parentBased: false } }), 'never');
    assert.equal(honour({}, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }), 'never');
    assert.equal(honour({}, { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }), 'trusted-proxies');
  });

  it('limits attribute values: the config, then the span-specific variable, then the general one, then 1024', () => {
    const limit = (options: TracingOptionsInput, env: Record<string, string> = {}) => resolve(options, env).attributeValueLengthLimit;
    assert.equal(limit({}), 1024);
    assert.equal(limit({}, { OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '300' }), 300);
    assert.equal(limit({}, { OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '300', OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '200' }), 200);
    assert.equal(limit({ attributeValueLengthLimit: 4096 }, { OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '200' }), 4096);
    const bad = resolve({}, { OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: 'lots', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '0' });
    assert.equal(bad.attributeValueLengthLimit, 1024);
    assert.equal(bad.warnings.length, 2, bad.warnings.join('\n'));
  });

  it('ignores malformed variables with a warning instead of failing the gateway', () => {
    const s = resolve(
      {},
      {
        OTEL_TRACES_SAMPLER: 'traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '7',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url',
        OTEL_BSP_MAX_QUEUE_SIZE: '-3',
        OTEL_RESOURCE_ATTRIBUTES: 'novalue,bad=%E0%A4%A',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon',
      },
    );
    assert.equal(s.sampling.ratio, 1);
    assert.equal(s.otlp.endpoint, 'http://localhost:4318/v1/traces');
    assert.equal(s.batch.maxQueueSize, 2048);
    assert.equal(s.warnings.length, 6, s.warnings.join('\n'));
  });

  it('OTEL_SDK_DISABLED=true disables the plugin', () => {
    assert.equal(resolve({}, { OTEL_SDK_DISABLED: 'TRUE' }).enabled, false);
    assert.equal(resolve({}, { OTEL_SDK_DISABLED: 'false' }).enabled, true);
  });

  it('gives equal settings equal provider keys, and different pipelines different ones', () => {
    assert.equal(providerKey(resolve({ captureHeaders: { request: ['x-a'] } })), providerKey(resolve({ continueIncoming: 'never' })), 'per-request options do not need another provider');
    assert.notEqual(providerKey(resolve({})), providerKey(resolve({ sampling: { ratio: 0.5 } })));
    assert.notEqual(providerKey(resolve({})), providerKey(resolve({ otlp: { headers: { a: 'b' } } })));
    assert.equal(providerKey(resolve({})), providerKey(resolve({ sampling: { honourIncomingSampled: 'always' }, shutdownTimeout: '5s' })), 'applied per request or at close');
    assert.notEqual(providerKey(resolve({})), providerKey(resolve({ attributeValueLengthLimit: 64 })));
  });

  it('parses OTEL_RESOURCE_ATTRIBUTES like the specification', () => {
    const warnings: string[] = [];
    assert.deepEqual(parseResourceAttributes(' a = 1 , b=x%2Cy,,c=', warnings), { a: '1', b: 'x,y', c: '' });
    assert.deepEqual(warnings, []);
  });
});
