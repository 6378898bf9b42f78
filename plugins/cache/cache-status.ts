import type { HeaderMap } from '../../runtime/src/chain/types.ts';

/**
 * The `Cache-Status` response field (RFC 9211): one list member per cache the response went
 * through, the one nearest the origin first, so the cache appends its own. The member names the
 * cache (the instance name, as an sf-token when it is one, quoted otherwise) and says what it did:
 *
 * - `hit; ttl=N`: answered from the cache; `ttl` is the freshness left in seconds, negative when
 *   a stale entry was served (stale-while-revalidate).
 * - `fwd=uri-miss` (nothing stored), `fwd=vary-miss` (stored, but not for this request's `Vary`
 *   headers), `fwd=stale` (stored but stale: revalidated with the upstream, `fwd-status` saying
 *   how it answered), `fwd=bypass` (not cacheable: `detail` says why), `fwd=method`.
 * - `stored`: the answer is being stored (dropped after all if its body outgrows `maxEntryBytes`);
 *   without it, `detail` says why it was not (`no-store`, `private`, `set-cookie`, …).
 * - `collapsed`: the request waited for a concurrent one's answer instead of calling the upstream.
 */
export function cacheName(instanceName: string): string {
  return /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*$/.test(instanceName) ? instanceName : JSON.stringify(instanceName.replace(/[^\x20-\x7e]/g, '?'));
}

/** `detail` values are tokens we choose; they start with a letter and hold no spaces. */
export function appendCacheStatus(headers: HeaderMap, member: string): void {
  const existing = headers['cache-status'];
  headers['cache-status'] = existing === undefined ? member : `${Array.isArray(existing) ? existing.join(', ') : existing}, ${member}`;
}

export function hitStatus(name: string, freshUntil: number, now: number): string {
  return `${name}; hit; ttl=${Math.floor((freshUntil - now) / 1000)}`;
}
