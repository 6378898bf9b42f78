import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { REJECTED, type CallOutcome, type CircuitBreaker } from '../breaker/circuit-breaker.ts';
import { upstreamFailure } from '../upstream-errors.ts';

/**
 * The origin's circuit breaker in front of its pool. An open circuit fails the call at once with
 * `503 ISOGATE_ERR_UPSTREAM_CIRCUIT_OPEN`: nothing is queued, no connection is made. Otherwise
 * the call goes through and its outcome is reported when the response headers arrive (a status in
 * the breaker's `failureStatuses` is a failure, any other a success) or when it fails first
 * (connect errors, resets, timeouts are failures; a client abort, a full pool or a bad request
 * say nothing about the upstream and are ignored). What happens to the body afterwards does not
 * change the verdict.
 *
 * Composed last (outermost), so that a refused call never waits in the pool's queue. When the
 * origin has no breaker and no failed health check, a call costs one property read.
 */
export function circuitBreaker(circuit: CircuitBreaker): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) =>
    function dispatchThroughBreaker(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      if (!circuit.engaged) return dispatch(opts, handler);
      const ticket = circuit.enter();
      if (ticket === REJECTED) {
        // No controller exists: the call never started (api-request only reads it once started).
        handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, circuit.rejection());
        return true;
      }
      const counted = new CountedHandler(handler, circuit, ticket, opts);
      try {
        return dispatch(opts, counted);
      } catch (err) {
        counted.settle('ignored');
        throw err;
      }
    };
}

class CountedHandler implements Dispatcher.DispatchHandler {
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #circuit: CircuitBreaker;
  readonly #ticket: number;
  readonly #opts: Dispatcher.DispatchOptions;
  #settled = false;

  constructor(handler: Dispatcher.DispatchHandler, circuit: CircuitBreaker, ticket: number, opts: Dispatcher.DispatchOptions) {
    this.#handler = handler;
    this.#circuit = circuit;
    this.#ticket = ticket;
    this.#opts = opts;
  }

  settle(outcome: CallOutcome): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#circuit.exit(this.#ticket, outcome);
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>, socket: Duplex): void {
    this.settle('success');
    this.#handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string): void {
    if (statusCode >= 200) this.settle(this.#circuit.isFailureStatus(statusCode) ? 'failure' : 'success');
    this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Record<string, string | string[]>): void {
    this.#handler.onResponseEnd?.(controller, trailers);
  }

  // Forwarded too, so that nothing a handler further in listens for is lost (undici #5695).
  onResponseStarted(): void {
    this.#handler.onResponseStarted?.();
  }

  onBodySent(chunk: Buffer): void {
    this.#handler.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    this.#handler.onRequestSent?.();
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    if (!this.#settled) {
      const signal = (this.#opts as { signal?: AbortSignal | null }).signal;
      const failure = upstreamFailure(err, this.#opts.body);
      // A caller that gave up (the client left) tells nothing, whatever error that caused; a
      // deadline the gateway set (UPSTREAM_TIMEOUT as the reason) is a timeout.
      const callerGaveUp = signal?.aborted === true && upstreamFailure(signal.reason) !== 'timeout';
      this.settle(failure !== null && !callerGaveUp ? 'failure' : 'ignored');
    }
    this.#handler.onResponseError?.(controller, err);
  }
}
