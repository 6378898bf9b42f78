import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TraceFlags } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { testRequest } from '../../runtime/src/chain/test-request.ts';
import type { HeaderMap } from '../../runtime/src/chain/types.ts';
import { extractSpanContext, incomingTrust, injectSpanContext } from './propagation.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('W3C trace context', () => {
  it('extracts a valid traceparent as a remote parent, with its tracestate', () => {
    const sc = extractSpanContext({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a=1, b=2' });
    assert.equal(sc?.traceId, TRACE);
    assert.equal(sc?.spanId, SPAN);
    assert.equal(sc?.traceFlags, TraceFlags.SAMPLED);
    assert.equal(sc?.isRemote, true);
    assert.equal(sc?.traceState?.get('b'), '2');
  });

  it('joins several tracestate fields into one list', () => {
    const sc = extractSpanContext({ traceparent: `00-${TRACE}-${SPAN}-00`, tracestate: ['a=1', 'b=2'] });
    assert.equal(sc?.traceState?.serialize(), 'a=1,b=2');
  });

  it('accepts a future version with extra fields, keeping the known ones', () => {
    const sc = extractSpanContext({ traceparent: `01-${TRACE}-${SPAN}-01-future` });
    assert.equal(sc?.traceId, TRACE);
  });

  it('refuses malformed or ambiguous traceparents', () => {
    const bad: HeaderMap[] = [
      {},
      { traceparent: '' },
      { traceparent: `00-${'0'.repeat(32)}-${SPAN}-01` },
      { traceparent: `00-${TRACE}-${'0'.repeat(16)}-01` },
      { traceparent: `ff-${TRACE}-${SPAN}-01` },
      { traceparent: `00-${TRACE.toUpperCase()}-${SPAN}-01` },
      { traceparent: `00-${TRACE}-${SPAN}-01-extra` },
      { traceparent: `00-${TRACE}-${SPAN}` },
      { traceparent: [`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`] },
    ];
    for (const headers of bad) assert.equal(extractSpanContext(headers), null, JSON.stringify(headers));
  });

  it('injects traceparent and tracestate, and removes a tracestate the context does not carry', () => {
    const headers: HeaderMap = { tracestate: 'stale=1' };
    injectSpanContext(headers, { traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED, traceState: new TraceState('v=1') });
    assert.equal(headers['traceparent'], `00-${TRACE}-${SPAN}-01`);
    assert.equal(headers['tracestate'], 'v=1');
    injectSpanContext(headers, { traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.NONE });
    assert.equal(headers['traceparent'], `00-${TRACE}-${SPAN}-00`);
    assert.equal(headers['tracestate'], undefined);
  });

  it('trusts incoming contexts per policy', () => {
    const direct = testRequest();
    const viaProxy = testRequest({ fromTrustedProxy: true });
    assert.deepEqual([incomingTrust('always')(direct), incomingTrust('always')(viaProxy)], [true, true]);
    assert.deepEqual([incomingTrust('never')(direct), incomingTrust('never')(viaProxy)], [false, false]);
    assert.deepEqual([incomingTrust('trusted-proxies')(direct), incomingTrust('trusted-proxies')(viaProxy)], [false, true]);
  });
});
