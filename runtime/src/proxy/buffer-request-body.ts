import { Readable } from 'node:stream';

/** Bytes of request bodies the gateway holds in memory at once (all routes, all reloads). */
const DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024;

/**
 * A process-wide bound on buffered request bodies. Buffering protects upstream connections from
 * slow uploads; under a flood of large concurrent uploads the budget runs out and further bodies
 * stream as they did before, so memory stays bounded whatever clients send.
 */
export class BodyBufferBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit = DEFAULT_BUDGET_BYTES) {
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  take(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used -= bytes;
  }
}

/** What to send upstream: the whole body (replayable on another upstream), or a stream. */
export type PreparedBody = { kind: 'buffer'; body: Buffer; release(): void } | { kind: 'stream'; body: Readable; release(): void };

function noop(): void {}

/**
 * Read a request body completely before the upstream is called (nginx's `proxy_request_buffering`),
 * so a client that uploads slowly never holds a pooled upstream connection while it trickles in.
 * Bodies declared larger than `maxBytes`, or when the budget is spent, stream as before; a chunked
 * body that grows past `maxBytes` streams from there on (what was read is sent first). Rejects with
 * the body's own error (a 413 from the body limit, a client that went away).
 */
export function bufferRequestBody(body: Readable, declaredLength: number | null, maxBytes: number, budget: BodyBufferBudget): Promise<PreparedBody> {
  if (declaredLength !== null && declaredLength > maxBytes) return Promise.resolve({ kind: 'stream', body, release: noop });
  const reserved = declaredLength ?? maxBytes;
  if (!budget.take(reserved)) return Promise.resolve({ kind: 'stream', body, release: noop });
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    budget.give(reserved);
  };

  return new Promise<PreparedBody>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
    };
    function onData(chunk: Buffer): void {
      size += chunk.length;
      chunks.push(chunk);
      if (size <= maxBytes) return;
      // Larger than we buffer: send what arrived, then the rest as it comes.
      cleanup();
      body.pause();
      release();
      resolve({ kind: 'stream', body: prepend(chunks, body), release: noop });
    }
    function onEnd(): void {
      cleanup();
      resolve({ kind: 'buffer', body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), release });
    }
    function onError(err: Error): void {
      cleanup();
      release();
      reject(err);
    }
    // A client that goes away mid-upload may close the body without an 'error'.
    function onClose(): void {
      onError(new Error('the request body ended before it was complete'));
    }
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}

/** `head` followed by the rest of `rest`, with `rest`'s errors passed on. */
function prepend(head: readonly Buffer[], rest: Readable): Readable {
  async function* all(): AsyncGenerator<Buffer> {
    yield* head;
    for await (const chunk of rest) yield chunk as Buffer;
  }
  return Readable.from(all(), { objectMode: false });
}
