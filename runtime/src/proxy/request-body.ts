import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { GatewayError } from '../errors.ts';
import type { HeaderMap } from '../chain/types.ts';

/**
 * Decide the body to stream upstream, enforcing the body limit: a declared Content-Length over
 * the limit is refused before a byte is read; a chunked body is counted as it streams and the
 * upstream request fails with 413 the moment it crosses the limit.
 */
export function limitedRequestBody(headers: HeaderMap, body: Readable, maxBytes: number): Readable | null {
  const length = headers['content-length'];
  if (typeof length === 'string') {
    const declared = Number(length);
    if (declared > maxBytes) throw new GatewayError('BODY_TOO_LARGE');
    return declared === 0 ? null : body;
  }
  if (headers['transfer-encoding'] === undefined) return null;
  const limiter = new BodyLimiter(maxBytes);
  body.on('error', (err) => limiter.destroy(err));
  return body.pipe(limiter);
}

class BodyLimiter extends Transform {
  readonly #max: number;
  #seen = 0;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#max) callback(new GatewayError('BODY_TOO_LARGE'));
    else callback(null, chunk);
  }
}
