import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import type { LoggingPluginOptions } from '../../sdk/src/builtins/logging.ts';
import { loggingOptions } from './options.ts';

/**
 * The SDK's hand-written `LoggingPluginOptions` (what config authors see) and the schema's input
 * must accept the same shapes: these assignments stop compiling when one side gains a key or a
 * type the other lacks.
 */
type Extends<A, B> = [A] extends [B] ? true : false;
type Input = z.input<typeof loggingOptions>;
type Shape<T> = T extends readonly (infer U)[] ? Shape<U>[] : T extends object ? { [K in keyof T]-?: Shape<NonNullable<T[K]>> } : 'leaf';
const sdkFitsSchema: Extends<LoggingPluginOptions, Input> = true;
const schemaFitsSdk: Extends<Input, LoggingPluginOptions> = true;
const sameShape: Extends<Shape<LoggingPluginOptions>, Shape<Input>> & Extends<Shape<Input>, Shape<LoggingPluginOptions>> = true;

describe('logging: options', () => {
  it('the SDK type and the schema describe the same options', () => {
    assert.equal(sdkFitsSchema && schemaFitsSdk && sameShape, true);
  });

  it('fills every default', () => {
    assert.deepEqual(loggingOptions.parse({}), {
      level: 'info',
      requestId: { header: 'x-request-id', trustIncoming: 'trusted-proxies', maxLength: 128, forward: true, respond: true },
      query: true,
      redactQuery: [],
      userAgent: true,
      headers: [],
      responseHeaders: [],
      redact: [],
      sample: 1,
    });
  });

  it('lower-cases header names and sorts redact entries into fields and headers', () => {
    const parsed = loggingOptions.parse({ headers: ['X-Tenant'], requestId: { header: 'X-Correlation-Id' }, redact: ['clientIp', 'X-Secret'] });
    assert.deepEqual(parsed.headers, ['x-tenant']);
    assert.equal(parsed.requestId.header, 'x-correlation-id');
    assert.deepEqual(parsed.redact, ['clientIp', 'x-secret']);
  });

  it('refuses unknown keys and bad values, naming the key', () => {
    const problems = (input: unknown): string[] => {
      const result = loggingOptions.safeParse(input);
      assert.equal(result.success, false);
      return result.error!.issues.map((i) => i.path.join('.'));
    };
    assert.deepEqual(problems({ levle: 'info' }), ['']);
    assert.deepEqual(problems({ level: 'verbose' }), ['level']);
    assert.deepEqual(problems({ requestId: { trustIncoming: 'yes' } }), ['requestId.trustIncoming']);
    assert.deepEqual(problems({ requestId: { maxLength: 4 } }), ['requestId.maxLength']);
    assert.deepEqual(problems({ requestId: { header: 'bad header' } }), ['requestId.header']);
    assert.deepEqual(problems({ headers: ['x\r\ny'] }), ['headers.0']);
    assert.deepEqual(problems({ redact: ['client ip'] }), ['redact.0']);
    assert.deepEqual(problems({ sample: 1.5 }), ['sample']);
    assert.deepEqual(problems({ file: '' }), ['file']);
    assert.deepEqual(problems({ queryAllow: ['page', ''] }), ['queryAllow.1']);
  });

  it('takes a queryAllow list, but refuses to allow a credential parameter', () => {
    assert.deepEqual(loggingOptions.parse({ queryAllow: ['page', 'Sort'] }).queryAllow, ['page', 'Sort']);
    const result = loggingOptions.safeParse({ queryAllow: ['page', 'Access_Token'] });
    assert.equal(result.success, false);
    assert.deepEqual(result.error!.issues[0]!.path, ['queryAllow', 1]);
    assert.match(result.error!.issues[0]!.message, /"Access_Token" is a credential parameter/);
  });
});
