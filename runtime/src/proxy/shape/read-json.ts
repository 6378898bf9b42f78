import type { UpstreamBody } from '../upstream-body.ts';

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
 * Content-Length says it is larger, or as soon as the body passes it. Only identity-encoded
 * bodies: the gateway asks shaped upstreams for `Accept-Encoding: identity`. The body is the
 * proxy's own call's (shaping and aggregation read what the upstream sent), collected without a stream.
 */
export async function readJsonAnswer(headers: Record<string, string | string[] | undefined>, body: UpstreamBody, maxBytes: number): Promise<unknown> {
  if (!isJsonContentType(headers['content-type'])) {
    body.discard();
    throw new UnusableAnswer('UPSTREAM_BAD_RESPONSE', `not JSON (content-type ${single(headers['content-type']) || 'missing'})`);
  }
  const encoding = single(headers['content-encoding']).trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    body.discard();
    throw new UnusableAnswer('UPSTREAM_BAD_RESPONSE', `encoded with ${encoding}`);
  }
  const declared = Number(single(headers['content-length']) || NaN);
  if (declared > maxBytes) {
    body.discard();
    throw new UnusableAnswer('UPSTREAM_RESPONSE_TOO_LARGE', `${declared} bytes, more than ${maxBytes}`);
  }
  const bytes = await body.collect(maxBytes);
  if (bytes === null) throw new UnusableAnswer('UPSTREAM_RESPONSE_TOO_LARGE', `more than ${maxBytes} bytes`);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    throw new UnusableAnswer('UPSTREAM_BAD_RESPONSE', 'invalid JSON');
  }
}

