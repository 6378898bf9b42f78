import { Readable } from 'node:stream';
import type { HeaderMap } from '../chain/types.ts';

/** What a plugin gets when it declares `requestBody` / `responseBody` without `maxBodyBytes`. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export type BodyKind = 'text' | 'json' | 'bytes';

/** The bound a plugin declared, or the default when it declared nothing usable. */
export function resolveMaxBodyBytes(declared: unknown): number {
  return typeof declared === 'number' && Number.isSafeInteger(declared) && declared >= 0 ? declared : DEFAULT_MAX_BODY_BYTES;
}

/** A buffered body went over its bound; the stream is left paused (the caller decides its fate). */
export class BodyTooLargeError extends Error {
  constructor(maxBytes: number) {
    super(`body is larger than ${maxBytes} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

function ignore(): void {}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** True when a Content-Length is declared and already says the body is over `maxBytes`: refuse before reading. */
export function declaredTooLarge(headers: HeaderMap, maxBytes: number): boolean {
  const length = single(headers['content-length']);
  if (length === undefined) return false;
  const declared = Number(length);
  return Number.isFinite(declared) && declared > maxBytes;
}

/**
 * Whether the body is in identity coding. Text and JSON are only handed to a plugin undecoded:
 * decompressing would make the bound meaningless (a small gzip body can inflate a thousandfold)
 * and re-encoding is not the gateway's business, so a coded body streams through untouched.
 */
export function isIdentityEncoded(headers: HeaderMap): boolean {
  const coding = single(headers['content-encoding']);
  return coding === undefined || coding.trim() === '' || coding.trim().toLowerCase() === 'identity';
}

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

const UTF8_BOM = '\uFEFF';

/**
 * The body as one JSON value to splice into the hook message (`undefined` when the plugin gets
 * no body): a string for 'text', base64 for 'bytes', and for 'json' the body's own text, spliced
 * verbatim once JSON.parse accepted it, so the isolate's single parse of the message is the only
 * one that builds the value. Throws SyntaxError for a 'json' body that is not JSON.
 */
export function bodyFragment(kind: BodyKind, bytes: Uint8Array): string | undefined {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (kind === 'bytes') return `"${buffer.toString('base64')}"`;
  let text = buffer.toString('utf8');
  if (kind === 'text') return JSON.stringify(text);
  if (text.startsWith(UTF8_BOM)) text = text.slice(1);
  if (text.trim() === '') return undefined;
  JSON.parse(text);
  return text;
}

/** A body the plugin put in place of the original: `[tag, payload]` as the prelude reports it. */
export type ReplacedBody = ['t' | 'j' | 'b' | 'e', string];

/** The bytes of a replaced body, and whether it is JSON the gateway serialized. */
export function replacedBytes(replaced: unknown): { bytes: Buffer; json: boolean } | null {
  if (!Array.isArray(replaced) || replaced.length !== 2 || typeof replaced[1] !== 'string') return null;
  const [tag, payload] = replaced as [unknown, string];
  switch (tag) {
    case 't':
      return { bytes: Buffer.from(payload, 'utf8'), json: false };
    case 'j':
      return { bytes: Buffer.from(payload, 'utf8'), json: true };
    case 'b':
      return { bytes: Buffer.from(payload, 'base64'), json: false };
    case 'e':
      return { bytes: Buffer.alloc(0), json: false };
    default:
      return null;
  }
}
