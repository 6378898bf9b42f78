import type { Readable } from 'node:stream';
import { discardBody } from '../../chain/discard-body.ts';
import { BodyTooLargeError, readBounded } from '../../isolate/buffer-body.ts';
import { UpstreamBody } from '../upstream-body.ts';

/** Why an upstream answer could not be used as JSON; `code` is the catalogue error it becomes. */
export class UnusableAnswer extends Error {
  readonly code: 'UPSTREAM_BAD_RESPONSE' | 'UPSTREAM_RESPONSE_TOO_LARGE';
  constructor(code: UnusableAnswer['code'], message: string) {
    super(message);
    this.name = 'UnusableAnswer';
    this.code = code;
  }
}

function single(value: string | string[] | undefined): string {
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

/** `application/json`, or any `+json` media type (problem+json, vnd.api+json). */
export function isJsonContentType(contentType: string | string[] | undefined): boolean {
  const type = single(contentType).split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

/**
 * Read an upstream answer as JSON, never holding more than `maxBytes`: refused before reading when
 * Content-Length says it is larger, or as soon as the stream passes it. Only identity-encoded
 * bodies: the gateway asks shaped upstreams for `Accept-Encoding: identity`. An UpstreamBody (the
 * proxy's own calls) is collected without a stream; a Readable (a cached or plugin-made body) is read.
 */
export async function readJsonAnswer(headers: Record<string, string | string[] | undefined>, body: Readable | UpstreamBody, maxBytes: number): Promise<unknown> {
  if (!isJsonContentType(headers['content-type'])) {
    discardBody(body);
    throw new UnusableAnswer('UPSTREAM_BAD_RESPONSE', `not JSON (content-type ${single(headers['content-type']) || 'missing'})`);
  }
  const encoding = single(headers['content-encoding']).trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    discardBody(body);
    throw new UnusableAnswer('UPSTREAM_BAD_RESPONSE', `encoded with ${encoding}`);
  }
  const declared = Number(single(headers['content-length']) || NaN);
  if (declared > maxBytes) {
    discardBody(body);
    throw new UnusableAnswer('UPSTREAM_RESPONSE_TOO_LARGE', `${declared} bytes, more than ${maxBytes}`);
  }
  const bytes = await readAtMost(body, maxBytes);
  if (bytes === null) throw new UnusableAnswer('UPSTREAM_RESPONSE_TOO_LARGE', `more than ${maxBytes} bytes`);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    throw new UnusableAnswer('UPSTREAM_BAD_RESPONSE', 'invalid JSON');
  }
}

/** The body in memory, or null once it passed `maxBytes` (the rest is discarded). */
async function readAtMost(body: Readable | UpstreamBody, maxBytes: number): Promise<Buffer | null> {
  if (body instanceof UpstreamBody) return body.collect(maxBytes);
  try {
    return await readBounded(body, maxBytes);
  } catch (err) {
    discardBody(body);
    if (err instanceof BodyTooLargeError) return null;
    throw err;
  }
}
