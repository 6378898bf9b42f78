import { Readable } from 'node:stream';

// Shared with the SDK test harness so both decode and bound bodies identically.
export { DEFAULT_MAX_BODY_BYTES, bodyFragment, declaredTooLarge, isIdentityEncoded, replacedBytes, resolveMaxBodyBytes, type BodyKind, type ReplacedBody } from '@isogate/sdk/internal/hook-wire';

/** A buffered body went over its bound; the stream is left paused (the caller decides its fate). */
export class BodyTooLargeError extends Error {
  constructor(maxBytes: number) {
    super(`body is larger than ${maxBytes} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

function ignore(): void {}

/**
 * Read a body stream to its end, never holding more than `maxBytes`. Over the bound it stops
 * reading and rejects with BodyTooLargeError without destroying the stream: for a request the
 * stream is the client's socket (destroying it would lose the 413), for a response the caller
 * discards the upstream body itself. Stream errors reject as they are.
 */
export function readBounded(stream: Readable, maxBytes: number): Promise<Buffer> {
  if (stream.readableEnded) return Promise.resolve(Buffer.alloc(0));
  if (stream.destroyed) return Promise.reject(new Error('body stream was destroyed before it was read'));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > maxBytes) {
        cleanup();
        stream.pause();
        // Whoever ends up destroying it must not turn a late error into an uncaught exception.
        stream.on('error', ignore);
        chunks.length = 0;
        reject(new BodyTooLargeError(maxBytes));
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      stream.on('error', ignore);
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('body stream closed before its end'));
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}

/** A buffered body as a one-chunk stream, so it can be forwarded where a Readable is expected. */
export function replayBody(bytes: Uint8Array): Readable {
  return Readable.from([bytes], { objectMode: false });
}
