import type { HeaderMap } from '../../runtime/src/chain/types.ts';

/** A client's conditions on a GET or HEAD (RFC 9110 §13.1.2, §13.1.3). */
export interface Conditions {
  readonly ifNoneMatch: string | undefined;
  readonly ifModifiedSince: string | undefined;
}

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

export function conditionsOf(headers: HeaderMap): Conditions | null {
  const ifNoneMatch = joined(headers['if-none-match']);
  const ifModifiedSince = joined(headers['if-modified-since']);
  return ifNoneMatch === undefined && ifModifiedSince === undefined ? null : { ifNoneMatch, ifModifiedSince };
}

/**
 * Remove the client's conditions from a request the cache sends upstream to fill an entry: the
 * cache needs the whole answer to store it (a 304 has no body), and answers the conditions
 * itself from that answer. Returns them.
 */
export function takeConditions(headers: HeaderMap): Conditions | null {
  const conditions = conditionsOf(headers);
  if (conditions !== null) {
    delete headers['if-none-match'];
    delete headers['if-modified-since'];
  }
  return conditions;
}

/** Weak comparison (RFC 9110 §8.8.3.2): `W/"x"` matches `"x"`. */
function opaque(tag: string): string {
  const t = tag.trim();
  return t.startsWith('W/') ? t.slice(2) : t;
}

/** Entity tags in an If-None-Match list; commas inside quotes are part of a tag. */
function entityTags(list: string): string[] {
  return list.match(/(?:W\/)?"[^"]*"|\*/g) ?? [];
}

/**
 * Whether a 200 with these headers may be answered 304 Not Modified to these conditions:
 * If-None-Match against the ETag (weakly; `*` matches any), or when the client sent no
 * If-None-Match, If-Modified-Since against Last-Modified.
 */
export function notModified(conditions: Conditions, status: number, headers: Readonly<HeaderMap>): boolean {
  if (status !== 200) return false;
  if (conditions.ifNoneMatch !== undefined) {
    const etag = joined(headers['etag']);
    const tags = entityTags(conditions.ifNoneMatch);
    if (tags.includes('*')) return true;
    if (etag === undefined) return false;
    const mine = opaque(etag);
    return tags.some((t) => opaque(t) === mine);
  }
  if (conditions.ifModifiedSince === undefined) return false;
  const lastModified = Date.parse(joined(headers['last-modified']) ?? '');
  const since = Date.parse(conditions.ifModifiedSince);
  return !Number.isNaN(lastModified) && !Number.isNaN(since) && lastModified <= since;
}

/** What a 304 carries of the 200 it stands for (RFC 9110 §15.4.5), plus the cache's own fields. */
const KEPT_IN_304 = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'last-modified', 'vary', 'via', 'age', 'cache-status'];

export function notModifiedHeaders(headers: Readonly<HeaderMap>): HeaderMap {
  const out: HeaderMap = {};
  for (const name of KEPT_IN_304) {
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** The request fields that revalidate a stored response with its upstream. */
export function setValidators(headers: HeaderMap, stored: Readonly<HeaderMap>): void {
  const etag = joined(stored['etag']);
  const lastModified = joined(stored['last-modified']);
  if (etag !== undefined) headers['if-none-match'] = etag;
  if (lastModified !== undefined) headers['if-modified-since'] = lastModified;
}

export function hasValidator(headers: Readonly<HeaderMap>): boolean {
  return headers['etag'] !== undefined || headers['last-modified'] !== undefined;
}
