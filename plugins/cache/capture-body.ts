import { pipeline, Readable, Transform } from 'node:stream';
import type { GatewayResponse } from '../../runtime/src/chain/types.ts';
import { streamOrBytes } from '../../runtime/src/proxy/upstream-body.ts';

/**
 * Pass a response body on to the client while keeping a copy of it, up to `maxBytes`.
 * `done(bytes)` is called once: with the whole body when it ended within the bound, with null when
 * it outgrew the bound (the rest streams through, nothing more is kept), failed, or was abandoned
 * (the client went away: the transport destroys the returned stream, which destroys the source).
 *
 * The copy is paced by the client, like the body itself: nothing is read ahead of it, so a
 * never-ending body (server-sent events) costs at most `maxBytes` and is never stored.
 */
export function captureBody(response: GatewayResponse['body'], maxBytes: number, done: (bytes: Buffer | null) => void): GatewayResponse['body'] {
  const body = streamOrBytes({ body: response });
  if (body === null) {
    done(Buffer.alloc(0));
    return null;
  }
  if (!(body instanceof Readable)) {
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    done(bytes.byteLength <= maxBytes ? bytes : null);
    return body;
  }
  let settled = false;
  const settle = (bytes: Buffer | null): void => {
    if (settled) return;
    settled = true;
    done(bytes);
  };
  let chunks: Buffer[] | null = [];
  let size = 0;
  const copy = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (chunks !== null) {
        size += chunk.byteLength;
        if (size > maxBytes) {
          chunks = null;
          settle(null);
        } else chunks.push(chunk);
      }
      callback(null, chunk);
    },
    flush(callback) {
      if (chunks !== null) settle(Buffer.concat(chunks, size));
      chunks = null;
      callback();
    },
  });
  pipeline(body, copy, (err) => {
    if (err) {
      chunks = null;
      settle(null);
    }
  });
  return copy;
}
