import type { Dispatcher } from 'undici';
import { GatewayError } from '../../errors.ts';

/** Dispatch option read by this interceptor: how long a request may wait for a pooled connection (ms; 0: no bound). */
export interface QueueTimeoutOptions {
  queueTimeout?: number;
}

/**
 * Bound the time a request waits in the pool's queue for a free connection. When every pooled
 * connection to an origin is busy (slow clients streaming, a slow upstream), undici queues further
 * requests without limit, and a queued request ignores its abort signal until a connection frees
 * up (api-request only aborts once dispatched): a normal request then waited a full minute. Here
 * the caller is answered `503 ISOGATE_ERR_UPSTREAM_SATURATED` when the bound passes; the request
 * is aborted the moment undici reaches it, before a byte is written.
 *
 * undici calls `onRequestStart` when it writes the request to a connection, so that is when the
 * request has left the queue.
 */
export function queueTimeout(): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) =>
    function dispatchWithQueueBound(opts: Dispatcher.DispatchOptions & QueueTimeoutOptions, handler: Dispatcher.DispatchHandler): boolean {
      const ms = opts.queueTimeout ?? 0;
      if (ms <= 0) return dispatch(opts, handler);
      return dispatch(opts, new QueueBoundHandler(handler, ms));
    };
}

class QueueBoundHandler implements Dispatcher.DispatchHandler {
  readonly #handler: Dispatcher.DispatchHandler;
  #timer: NodeJS.Timeout | null;
  #expired: GatewayError | null = null;

  constructor(handler: Dispatcher.DispatchHandler, ms: number) {
    this.#handler = handler;
    this.#timer = setTimeout(() => this.#expire(), ms);
  }

  #expire(): void {
    this.#timer = null;
    this.#expired = new GatewayError('UPSTREAM_SATURATED');
    // No controller exists while queued; the handler only uses it once started.
    this.#handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, this.#expired);
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    if (this.#expired) {
      controller.abort(this.#expired);
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>, socket: import('node:stream').Duplex): void {
    if (this.#expired) return;
    this.#handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string): void {
    if (this.#expired) return;
    this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#expired) return;
    this.#handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Record<string, string | string[]>): void {
    if (this.#expired) return;
    this.#handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // Already answered when the bound passed; this is the abort it asked for.
    if (this.#expired) return;
    this.#handler.onResponseError?.(controller, err);
  }
}
