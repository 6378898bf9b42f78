import type { Dispatcher } from 'undici';
import { UpstreamBody } from './upstream-body.ts';

/** An upstream's answer once its headers arrived; the body follows through `body`. */
export interface UpstreamAnswer {
  readonly statusCode: number;
  /** Parsed by undici (lower-case names, repeated fields as arrays). */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: UpstreamBody;
}

/**
 * undici's dispatch handler for one proxied call: resolves with the status and headers as soon as
 * they arrive, then hands body chunks to an UpstreamBody. Compared with `pool.request()` it builds
 * no Readable and registers nothing on the signal beyond one listener, and interim (1xx)
 * responses are skipped here.
 */
class ProxyCallHandler implements Dispatcher.DispatchHandler {
  readonly #resolve: (answer: UpstreamAnswer) => void;
  readonly #reject: (err: Error) => void;
  readonly #signal: AbortSignal | null;
  #controller: Dispatcher.DispatchController | null = null;
  #body: UpstreamBody | null = null;
  #settled = false;
  readonly #onAbort = (): void => {
    const reason = (this.#signal?.reason as Error | undefined) ?? new Error('aborted');
    if (this.#controller !== null) this.#controller.abort(reason);
    else this.onResponseError(null as unknown as Dispatcher.DispatchController, reason);
  };

  constructor(resolve: (answer: UpstreamAnswer) => void, reject: (err: Error) => void, signal: AbortSignal | null) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#signal = signal;
    if (signal !== null) signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  #done(): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#signal?.aborted) controller.abort(this.#signal.reason as Error);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>): void {
    if (statusCode < 200) return;
    this.#controller = controller;
    const body = new UpstreamBody(controller);
    this.#body = body;
    this.#settled = true;
    this.#resolve({ statusCode, headers, body });
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#body?.push(chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[]>): void {
    this.#done();
    this.#body?.end(trailers);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.#done();
    if (this.#settled) {
      this.#body?.fail(err);
      return;
    }
    this.#settled = true;
    this.#reject(err);
  }
}

/**
 * Send one request through `dispatcher` (the pool with the gateway's interceptors). Resolves when
 * the response headers arrive; rejects on a failure before them. `signal` aborts the call at any
 * point (a client that went away, the route's deadline).
 */
export function callUpstream(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal: AbortSignal | null): Promise<UpstreamAnswer> {
  return new Promise<UpstreamAnswer>((resolve, reject) => {
    const handler = new ProxyCallHandler(resolve, reject, signal);
    try {
      dispatcher.dispatch(options, handler);
    } catch (err) {
      handler.onResponseError(null as unknown as Dispatcher.DispatchController, err as Error);
    }
  });
}
