import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../../errors.ts';
import { CircuitBreaker } from '../breaker/circuit-breaker.ts';
import { circuitBreaker } from './circuit-breaker.ts';

type Script = (handler: Dispatcher.DispatchHandler) => void;

/** A dispatch that plays `script` against the handler it is given, counting its calls. */
function fakeDispatch(script: Script) {
  const calls = { count: 0 };
  const dispatch = (_opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean => {
    calls.count++;
    script(handler);
    return true;
  };
  return { dispatch, calls };
}

const controller = {} as Dispatcher.DispatchController;
const opts = (extra: Record<string, unknown> = {}) => ({ origin: 'http://up:1', path: '/', method: 'GET', ...extra }) as Dispatcher.DispatchOptions;

function openedCircuit(): CircuitBreaker {
  const circuit = new CircuitBreaker('http://up:1');
  circuit.configure({ consecutiveFailures: 1, errorRate: null, cooldown: 60_000, halfOpenProbes: 1, failureStatuses: [503] });
  circuit.exit(circuit.enter(), 'failure');
  assert.equal(circuit.state, 'open');
  return circuit;
}

function recorder() {
  const seen: string[] = [];
  let error: Error | null = null;
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart: () => seen.push('start'),
    onResponseStart: (_c, status) => seen.push(`status ${status}`),
    onResponseData: () => seen.push('data'),
    onResponseEnd: () => seen.push('end'),
    onResponseError: (_c, err) => {
      seen.push('error');
      error = err;
    },
    onResponseStarted: () => seen.push('started'),
    onBodySent: () => seen.push('body-sent'),
    onRequestSent: () => seen.push('request-sent'),
  };
  return { handler, seen, error: () => error };
}

describe('circuitBreaker interceptor', () => {
  it('open: fails the call at once with the coded 503 and never dispatches it', () => {
    const circuit = openedCircuit();
    const { dispatch, calls } = fakeDispatch(() => assert.fail('dispatched'));
    const { handler, seen, error } = recorder();
    assert.equal(circuitBreaker(circuit)(dispatch)(opts(), handler), true);
    assert.equal(calls.count, 0);
    assert.deepEqual(seen, ['error']);
    const err = error();
    assert.ok(err instanceof GatewayError && err.key === 'UPSTREAM_CIRCUIT_OPEN' && err.status === 503);
    circuit.dispose();
  });

  it('a refusal costs microseconds (well under a millisecond each)', () => {
    const circuit = openedCircuit();
    const intercepted = circuitBreaker(circuit)(fakeDispatch(() => {}).dispatch);
    const handler = { onResponseError() {} };
    const n = 10_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) intercepted(opts(), handler);
    const perCallMs = Number(process.hrtime.bigint() - started) / 1e6 / n;
    // A loose bound (a loaded CI machine is slow), still far from "tried and timed out".
    assert.ok(perCallMs < 0.1, `${perCallMs} ms per refused call`);
    circuit.dispose();
  });

  it('counts a failure status and a connect error as failures, anything else as success', () => {
    const circuit = new CircuitBreaker('http://up:1');
    circuit.configure({ consecutiveFailures: 2, errorRate: null, cooldown: 60_000, halfOpenProbes: 1, failureStatuses: [503] });
    const run = (script: Script, o = opts()) => circuitBreaker(circuit)(fakeDispatch(script).dispatch)(o, recorder().handler);
    run((h) => h.onResponseStart!(controller, 503, {}));
    run((h) => h.onResponseStart!(controller, 404, {}));
    run((h) => h.onResponseStart!(controller, 503, {}));
    assert.equal(circuit.state, 'closed', 'the 404 in between was a success');
    run((h) => h.onResponseError!(controller, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
    assert.equal(circuit.state, 'open');
    circuit.dispose();
  });

  it('never counts a call whose client went away, nor an upload the client broke off', () => {
    const circuit = new CircuitBreaker('http://up:1');
    circuit.configure({ consecutiveFailures: 1, errorRate: null, cooldown: 60_000, halfOpenProbes: 1, failureStatuses: [503] });
    const run = (script: Script, o: Dispatcher.DispatchOptions) => circuitBreaker(circuit)(fakeDispatch(script).dispatch)(o, recorder().handler);
    const gone = new AbortController();
    gone.abort(new Error('client gone'));
    run((h) => h.onResponseError!(controller, Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })), opts({ signal: gone.signal }));
    const upload = new Readable({ read() {} }).on('error', () => {});
    upload.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    run((h) => h.onResponseError!(controller, Object.assign(new Error('aborted'), { code: 'ECONNRESET' })), opts({ body: upload, method: 'POST' }));
    run((h) => h.onResponseError!(controller, new GatewayError('UPSTREAM_SATURATED')), opts());
    assert.equal(circuit.state, 'closed');
    // The gateway's own deadline is a timeout: it counts.
    const deadline = new AbortController();
    deadline.abort(new GatewayError('UPSTREAM_TIMEOUT'));
    run((h) => h.onResponseError!(controller, new GatewayError('UPSTREAM_TIMEOUT')), opts({ signal: deadline.signal }));
    assert.equal(circuit.state, 'open');
    circuit.dispose();
  });

  it('passes every handler hook through, in order', () => {
    const circuit = new CircuitBreaker('http://up:1');
    circuit.configure({ consecutiveFailures: 1, errorRate: null, cooldown: 60_000, halfOpenProbes: 1, failureStatuses: [503] });
    const { handler, seen } = recorder();
    const { dispatch } = fakeDispatch((h) => {
      h.onRequestStart!(controller, {});
      h.onBodySent!(Buffer.from('x'));
      h.onRequestSent!();
      h.onResponseStarted!();
      h.onResponseStart!(controller, 200, {});
      h.onResponseData!(controller, Buffer.from('y'));
      h.onResponseEnd!(controller, {});
    });
    circuitBreaker(circuit)(dispatch)(opts(), handler);
    assert.deepEqual(seen, ['start', 'body-sent', 'request-sent', 'started', 'status 200', 'data', 'end']);
  });

  it('with no breaker settings and a closed circuit, hands the handler through untouched', () => {
    const circuit = new CircuitBreaker('http://up:1');
    const { handler } = recorder();
    let given: Dispatcher.DispatchHandler | null = null;
    circuitBreaker(circuit)((_o, h) => {
      given = h;
      return true;
    })(opts(), handler);
    assert.equal(given, handler);
  });
});
