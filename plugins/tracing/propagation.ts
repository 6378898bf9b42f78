import type { SpanContext } from '@opentelemetry/api';
import { parseTraceParent, TraceState } from '@opentelemetry/core';
import type { GatewayRequest, HeaderMap } from '../../runtime/src/chain/types.ts';
import type { TracingSettings } from './settings.ts';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) on the gateway's header maps.
 *
 * We read and write the two headers directly instead of going through a TextMapPropagator and a
 * Context: the gateway knows exactly which span's context goes upstream (the CLIENT span of the
 * attempt), and this keeps the per-request cost to one regex and one string.
 */

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';

/** The remote parent a request carries, or null when it has none or it is malformed. */
export function extractSpanContext(headers: HeaderMap): SpanContext | null {
  const traceparent = headers[TRACEPARENT];
  // Several traceparent fields are invalid (the spec): ignore them all rather than pick one.
  if (typeof traceparent !== 'string') return null;
  const parsed = parseTraceParent(traceparent);
  if (parsed === null) return null;
  const context: SpanContext = { traceId: parsed.traceId, spanId: parsed.spanId, traceFlags: parsed.traceFlags, isRemote: true };
  const tracestate = headers[TRACESTATE];
  // Several tracestate fields are one list (RFC 9110 field combination).
  if (tracestate !== undefined) context.traceState = new TraceState(typeof tracestate === 'string' ? tracestate : tracestate.join(','));
  return context;
}

/** Make `context` the upstream's parent; drops a tracestate that belonged to someone else's context. */
export function injectSpanContext(headers: HeaderMap, context: SpanContext): void {
  const flags = context.traceFlags & 0xff;
  headers[TRACEPARENT] = `00-${context.traceId}-${context.spanId}-${flags < 16 ? '0' : ''}${flags.toString(16)}`;
  const state = context.traceState?.serialize();
  if (state) headers[TRACESTATE] = state;
  else delete headers[TRACESTATE];
}

/** Which requests may continue the trace context they arrive with. */
export function incomingTrust(policy: TracingSettings['continueIncoming']): (req: Pick<GatewayRequest, 'fromTrustedProxy'>) => boolean {
  switch (policy) {
    case 'always':
      return () => true;
    case 'never':
      return () => false;
    case 'trusted-proxies':
      return (req) => req.fromTrustedProxy;
  }
}
