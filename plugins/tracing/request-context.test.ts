import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createContextKey, ROOT_CONTEXT, trace, TraceFlags, type Context, type SpanContext } from '@opentelemetry/api';
import { EMPTY_REQUEST_CONTEXT, RequestContext } from './request-context.ts';

const A = createContextKey('a');
const B = createContextKey('b');
const spanContext: SpanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, isRemote: true };

/** What a context answers for the keys used here. */
function read(context: Context): unknown[] {
  return [context.getValue(A), context.getValue(B), trace.getSpanContext(context)];
}

describe('RequestContext, against the API root context it stands in for', () => {
  for (const [name, root] of [
    ['ROOT_CONTEXT', ROOT_CONTEXT],
    ['EMPTY_REQUEST_CONTEXT', EMPTY_REQUEST_CONTEXT],
  ] as const) {
    it(`${name}: immutable set and delete, and the API's span helpers`, () => {
      const one = root.setValue(A, 1);
      const two = one.setValue(B, 2).setValue(A, 3);
      const withSpan = trace.setSpanContext(two, spanContext);
      const without = withSpan.deleteValue(A);
      assert.deepEqual(read(root), [undefined, undefined, undefined]);
      assert.deepEqual(read(one), [1, undefined, undefined]);
      assert.deepEqual(read(two), [3, 2, undefined]);
      assert.deepEqual(read(withSpan), [3, 2, spanContext]);
      assert.deepEqual(read(without), [undefined, 2, spanContext]);
      assert.deepEqual(read(without.deleteValue(A)), [undefined, 2, spanContext]);
      assert.equal(trace.getSpan(withSpan)?.spanContext(), spanContext);
    });
  }

  it('builds its contexts from its own class, with the methods on the prototype', () => {
    const context = EMPTY_REQUEST_CONTEXT.setValue(A, 1);
    assert.ok(context instanceof RequestContext);
    // The point of the class (see its comment): no per-context closures as own properties.
    assert.deepEqual(Object.keys(context), []);
  });
});
