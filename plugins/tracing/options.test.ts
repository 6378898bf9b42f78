import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import type { TracingPluginOptions } from '../../sdk/src/builtins/tracing.ts';
import { tracingOptions } from './options.ts';

type Input = z.input<typeof tracingOptions>;

// The SDK's hand-written type (what authors see, with TSDoc) and the schema's input accept the
// same options. The schema is looser on durations (any "<n>s" string, checked by a regex), so the
// other direction compares shapes: the same keys at every depth.
type Extends<A, B> = [A] extends [B] ? true : false;
type Shape<T> = T extends readonly (infer U)[] ? Shape<U>[] : T extends object ? { [K in keyof T]-?: Shape<NonNullable<T[K]>> } : 'leaf';
const sdkFitsSchema: Extends<TracingPluginOptions, Input> = true;
const sameShape: Extends<Shape<TracingPluginOptions>, Shape<Input>> & Extends<Shape<Input>, Shape<TracingPluginOptions>> = true;

describe('tracing options', () => {
  it('the SDK type and the schema describe the same options', () => {
    assert.equal(sdkFitsSchema && sameShape, true);
  });

  it('fills defaults and leaves env-backed settings undefined', () => {
    const o = tracingOptions.parse({});
    assert.equal(o.continueIncoming, 'always');
    assert.deepEqual(o.otlp.headers, {});
    assert.equal(o.otlp.endpoint, undefined);
    assert.equal(o.exporter, undefined);
    assert.equal(o.sampling.ratio, undefined);
    assert.deepEqual(o.captureHeaders, { request: [], response: [] });
    assert.equal(o.sampling.honourIncomingSampled, undefined, 'resolved with parentBased in settings.ts');
    assert.equal(o.attributeValueLengthLimit, undefined, 'OTEL_*ATTRIBUTE_VALUE_LENGTH_LIMIT may decide');
    assert.equal(o.shutdownTimeout, 2000);
  });

  it('parses durations', () => {
    const o = tracingOptions.parse({ otlp: { timeout: '2s' }, batch: { scheduledDelay: '500ms', exportTimeout: 1000 } });
    assert.equal(o.otlp.timeout, 2000);
    assert.equal(o.batch.scheduledDelay, 500);
    assert.equal(o.batch.exportTimeout, 1000);
  });

  const rejects = (input: unknown, path: string): void => {
    const result = tracingOptions.safeParse(input);
    assert.equal(result.success, false, `${JSON.stringify(input)} is refused`);
    assert.ok(
      result.error!.issues.some((i) => i.path.join('.') === path),
      `an issue at ${path}: ${JSON.stringify(result.error!.issues)}`,
    );
  };

  it('refuses what would misbehave at run time', () => {
    rejects({ sampling: { ratio: 1.5 } }, 'sampling.ratio');
    rejects({ sampling: { ratio: -0.1 } }, 'sampling.ratio');
    rejects({ unknown: true }, '');
    rejects({ otlp: { endpoint: 'collector:4318' } }, 'otlp.endpoint');
    rejects({ otlp: { endpoint: 'ftp://collector' } }, 'otlp.endpoint');
    rejects({ otlp: { headers: { 'x-key': 'a\r\nb' } } }, 'otlp.headers.x-key');
    rejects({ exporter: 'jaeger' }, 'exporter');
    rejects({ continueIncoming: 'sometimes' }, 'continueIncoming');
    rejects({ batch: { maxQueueSize: 10, maxExportBatchSize: 20 } }, 'batch.maxExportBatchSize');
    rejects({ exporter: 'otlp-grpc', otlp: { encoding: 'json' } }, 'otlp.encoding');
    rejects({ captureHeaders: { request: ['bad header'] } }, 'captureHeaders.request.0');
    rejects({ sampling: { parentBased: false, honourIncomingSampled: 'trusted-proxies' } }, 'sampling.honourIncomingSampled');
    rejects({ sampling: { honourIncomingSampled: 'sometimes' } }, 'sampling.honourIncomingSampled');
    rejects({ attributeValueLengthLimit: 0 }, 'attributeValueLengthLimit');
    rejects({ shutdownTimeout: '2 days' }, 'shutdownTimeout');
    assert.equal(tracingOptions.parse({ sampling: { parentBased: false, honourIncomingSampled: 'never' } }).sampling.honourIncomingSampled, 'never');
    assert.equal(tracingOptions.parse({ shutdownTimeout: '500ms' }).shutdownTimeout, 500);
  });
});
