import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** Where an upstream body goes: the client's response, a Readable, or nowhere. */
export interface BodySink {
  /** false: stop sending until `UpstreamBody.resume()` (backpressure). */
  write(chunk: Buffer): boolean;
  end(): void;
  fail(err: Error): void;
}

/** Chunks held before a sink attaches; past this the upstream connection is paused. */
const QUEUE_HIGH_WATER = 64 * 1024;
/** The most of an unwanted body read to keep its connection (undici's own dump() default). */
const DRAIN_LIMIT = 64 * 1024;

/**
 * An upstream response body delivered straight from undici's dispatch handler to whoever takes it,
 * without the Readable that `pool.request()` builds per response. On the proxy's hot path the
 * server attaches the client's response as the sink and chunks are written as they arrive, with
 * undici's own pause/resume for backpressure. Code that needs a stream (plugins reading the body,
 * the cache, shaping) gets one from `toReadable()`, which costs what the Readable always did.
 * Chunks that arrive before a sink attaches (the chain is still returning) wait in a short queue.
 */
export class UpstreamBody {
  /** Filled when the body has ended (gRPC's grpc-status); the same object throughout. */
  readonly trailers: Record<string, string | string[] | undefined> = {};
  #controller: Dispatcher.DispatchController;
  #queue: Buffer[] | null = null;
  #queued = 0;
  #sink: BodySink | null = null;
  #ended = false;
  #error: Error | null = null;

  constructor(controller: Dispatcher.DispatchController) {
    this.#controller = controller;
  }

  /** Whether nothing more will come (ended, failed, or discarded). */
  get finished(): boolean {
    return this.#ended || this.#error !== null;
  }

  /** From the dispatch handler. */
  push(chunk: Buffer): void {
    const sink = this.#sink;
    if (sink !== null) {
      if (!sink.write(chunk)) this.#controller.pause();
      return;
    }
    (this.#queue ??= []).push(chunk);
    this.#queued += chunk.length;
    if (this.#queued > QUEUE_HIGH_WATER) this.#controller.pause();
  }

  /** From the dispatch handler: the body is complete. */
  end(trailers: Record<string, string | string[]> | null): void {
    if (this.finished) return;
    if (trailers) Object.assign(this.trailers, trailers);
    this.#ended = true;
    this.#sink?.end();
  }

  /** From the dispatch handler: the body broke off (the upstream reset, a timeout, an abort). */
  fail(err: Error): void {
    if (this.finished) return;
    this.#error = err;
    this.#queue = null;
    this.#sink?.fail(err);
  }

  /** Send the body to `sink` (once): what is queued first, then chunks as they come. */
  pipeTo(sink: BodySink): void {
    if (this.#sink !== null) throw new Error('an upstream body can be read once');
    this.#sink = sink;
    const queue = this.#queue;
    this.#queue = null;
    this.#queued = 0;
    let flowing = true;
    if (queue !== null) for (const chunk of queue) flowing = sink.write(chunk) && flowing;
    if (this.#error !== null) sink.fail(this.#error);
    else if (this.#ended) sink.end();
    else if (flowing) this.#controller.resume();
  }

  /** The sink can take more (its 'drain'). */
  resume(): void {
    if (!this.finished) this.#controller.resume();
  }

  /** Nobody wants it: stop the upstream transfer (the connection is closed). */
  discard(): void {
    if (this.finished) return;
    this.#error = new Error('upstream body discarded');
    this.#queue = null;
    this.#controller.abort(this.#error);
  }

  /**
   * Read it to the end and drop it, so a small body's connection can be reused; past `limit`
   * bytes it is not worth reading: the transfer is stopped (and its connection closed).
   */
  drain(limit = DRAIN_LIMIT): void {
    let left = limit;
    this.pipeTo({
      write: (chunk) => {
        left -= chunk.length;
        if (left < 0) this.discard();
        return true;
      },
      end() {},
      fail() {},
    });
  }

  /**
   * The whole body in memory, for code that parses it (shaping, aggregation), without the
   * Readable that `toReadable()` would build for the same job. Resolves with null once it passes
   * `maxBytes`: the rest is not worth reading, so the transfer is stopped (its connection closed).
   * Rejects when the body breaks off.
   */
  collect(maxBytes: number): Promise<Buffer | null> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      this.pipeTo({
        write: (chunk) => {
          size += chunk.length;
          if (size > maxBytes) {
            chunks.length = 0;
            this.discard();
            resolve(null);
          } else chunks.push(chunk);
          return true;
        },
        end: () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)),
        fail: reject,
      });
    });
  }

  /** The body as a Readable, for code that reads streams. Destroying the stream discards the body. */
  toReadable(): Readable {
    const readable = new Readable({
      read: () => this.resume(),
      destroy: (err, callback) => {
        if (!this.finished) this.discard();
        callback(err);
      },
    });
    this.pipeTo({
      write: (chunk) => readable.push(chunk),
      end: () => readable.push(null),
      fail: (err) => readable.destroy(err),
    });
    return readable;
  }
}

/**
 * The body of `res` as a stream or in memory, never an UpstreamBody: one is turned into a Readable
 * (and put back in `res.body`, since it can be read only once). For code that reads bodies.
 */
export function streamOrBytes<T extends { body: unknown }>(res: T): Exclude<T['body'], UpstreamBody> {
  if (res.body instanceof UpstreamBody) res.body = res.body.toReadable();
  return res.body as Exclude<T['body'], UpstreamBody>;
}
