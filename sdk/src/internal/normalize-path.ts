// Request-target splitting and path normalisation.
//
// Every routing and policy decision is made on the normalised path, so any
// disagreement between what we route on and what an upstream interprets is a
// bypass. The rules follow what Envoy (normalize_path, merge_slashes,
// reject encoded slashes) and nginx do: anything ambiguous is rejected rather
// than guessed at.
//
// The gateway's router (runtime/src/router/normalize-path.ts re-exports this file) and the SDK's
// test harness both use it, so a path a plugin assigns is normalised by the harness exactly as the
// gateway normalises it before forwarding. Exported as `@isogate/sdk/internal/normalize-path`
// for the runtime only: not a public API.

export type SplitTarget = { ok: true; path: string; query: string } | { ok: false; reason: string };

export type NormalizedPath = { ok: true; path: string } | { ok: false; reason: string };

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const HASH = 0x23;
const QUESTION = 0x3f;

// Only http(s) may appear in absolute-form; other schemes have no business reaching a gateway.
const ABSOLUTE_FORM = /^https?:\/\//i;

/**
 * Split a raw HTTP request-target (as Node gives req.url) into raw path and raw query (without '?', '' if none).
 * @internal
 * @example
 * splitTarget('/a?x=1'); // { ok: true, path: '/a', query: 'x=1' }
 */
export function splitTarget(target: string): SplitTarget {
  // A fragment is never sent by a conforming client; its presence means someone is probing parsers.
  if (target.includes('#')) return { ok: false, reason: 'fragment in request-target' };

  let rest: string;
  if (target.charCodeAt(0) === SLASH) {
    // Origin-form. '//host/x' stays a path: only absolute-form carries an authority.
    rest = target;
  } else {
    const scheme = ABSOLUTE_FORM.exec(target);
    if (scheme === null) return { ok: false, reason: 'unsupported request-target form' };
    const authorityStart = scheme[0].length;
    let authorityEnd = authorityStart;
    while (authorityEnd < target.length) {
      const c = target.charCodeAt(authorityEnd);
      if (c === SLASH || c === QUESTION) break;
      authorityEnd++;
    }
    if (authorityEnd === authorityStart) return { ok: false, reason: 'empty authority' };
    rest = target.slice(authorityEnd);
    if (rest.length === 0 || rest.charCodeAt(0) === QUESTION) rest = '/' + rest;
  }

  const q = rest.indexOf('?');
  if (q === -1) return { ok: true, path: rest, query: '' };
  return { ok: true, path: rest.slice(0, q), query: rest.slice(q + 1) };
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function isUnreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    (b >= 0x30 && b <= 0x39) ||
    b === 0x2d ||
    b === DOT ||
    b === 0x5f ||
    b === 0x7e
  );
}

const HEX_UPPER = '0123456789ABCDEF';

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Segment text here is ASCII plus upper-case %XX escapes, produced by normalizePath itself.
function isValidUtf8Segment(seg: string): boolean {
  const bytes = new Uint8Array(seg.length);
  let n = 0;
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c === PERCENT) {
      bytes[n++] = hexValue(seg.charCodeAt(i + 1)) * 16 + hexValue(seg.charCodeAt(i + 2));
      i += 2;
    } else {
      bytes[n++] = c;
    }
  }
  try {
    utf8.decode(bytes.subarray(0, n));
    return true;
  } catch {
    return false;
  }
}

/** Reason for rejecting a literal (non-escape) character, or null if it is allowed. */
function badCharReason(c: number): string | null {
  if (c === BACKSLASH) return 'backslash in path';
  if (c < 0x21 || c === 0x7f) return 'control character or space in path';
  if (c > 0x7e) return 'non-ASCII character in path';
  // normalizePath takes a path only; these mean the caller skipped splitTarget.
  if (c === QUESTION) return 'query in path';
  if (c === HASH) return 'fragment in path';
  return null;
}

/** `.;…` or `..;…`, the `;` literal or percent-encoded (segments here carry upper-case escapes). */
function isDotSegmentWithParams(seg: string): boolean {
  const dots = seg.charCodeAt(1) === DOT ? 2 : 1;
  if (seg.charCodeAt(0) !== DOT || seg.length === dots) return false;
  return seg.charCodeAt(dots) === 0x3b /* ';' */ || seg.startsWith('%3B', dots);
}

/**
 * Normalise a raw path (no query).
 * @internal
 * @example
 * normalizePath('/a//b/../c'); // { ok: true, path: '/a/c' }
 */
export function normalizePath(rawPath: string): NormalizedPath {
  const len = rawPath.length;
  if (len === 0 || rawPath.charCodeAt(0) !== SLASH) return { ok: false, reason: 'path must start with /' };

  // Fast path: nothing to decode, merge or resolve means the input is already canonical.
  let clean = true;
  for (let i = 0; i < len; i++) {
    const c = rawPath.charCodeAt(i);
    if (c === SLASH) {
      const next = rawPath.charCodeAt(i + 1); // NaN past the end
      if (next === SLASH || next === DOT) {
        clean = false;
        break;
      }
    } else if (c === PERCENT || c < 0x21 || c > 0x7e || c === BACKSLASH || c === QUESTION || c === HASH) {
      clean = false;
      break;
    }
  }
  if (clean) return { ok: true, path: rawPath };

  return normalizeSlow(rawPath);
}

function normalizeSlow(rawPath: string): NormalizedPath {
  const len = rawPath.length;
  const out: string[] = [];
  let trailingSlash = false;
  let i = 1; // skip the leading '/'

  // Each iteration consumes one segment (possibly empty) and the '/' after it.
  while (true) {
    let seg = '';
    let hadEscape = false;
    let hadHighByte = false;
    let runStart = i;
    while (i < len) {
      const c = rawPath.charCodeAt(i);
      if (c === SLASH) break;
      if (c === PERCENT) {
        const hi = hexValue(rawPath.charCodeAt(i + 1));
        const lo = hexValue(rawPath.charCodeAt(i + 2));
        if (hi < 0 || lo < 0) return { ok: false, reason: 'malformed percent-encoding' };
        const b = hi * 16 + lo;
        if (b === SLASH) return { ok: false, reason: 'encoded slash in path' };
        if (b === BACKSLASH) return { ok: false, reason: 'encoded backslash in path' };
        if (b === 0) return { ok: false, reason: 'encoded NUL in path' };
        seg += rawPath.slice(runStart, i);
        seg += isUnreserved(b) ? String.fromCharCode(b) : '%' + HEX_UPPER[hi] + HEX_UPPER[lo];
        if (b > 0x7f) hadHighByte = true;
        hadEscape = true;
        i += 3;
        runStart = i;
        continue;
      }
      const bad = badCharReason(c);
      if (bad !== null) return { ok: false, reason: bad };
      i++;
    }
    seg += rawPath.slice(runStart, i);
    const last = i >= len;

    if (isDotSegmentWithParams(seg)) {
      // `..;jsessionid=x`: Tomcat, Jetty and Spring drop path parameters and then resolve the dot
      // segment, so the upstream would see `..` where we routed on a plain name (and escape the
      // route's prefix). Like other ambiguous segments, it is refused rather than guessed at.
      return { ok: false, reason: 'path parameters on a dot segment' };
    }
    if (seg === '.' || seg === '..') {
      // An encoded dot segment is resolved by some upstreams and not others; refuse to pick one.
      if (hadEscape) return { ok: false, reason: 'encoded dot segment in path' };
      if (seg === '..') out.pop(); // pop on an empty stack clamps at root
      if (last) trailingSlash = true;
    } else if (seg === '') {
      // Empty segments come from '//' (merged away) or a trailing '/'.
      if (last) trailingSlash = true;
    } else {
      if (hadHighByte && !isValidUtf8Segment(seg)) return { ok: false, reason: 'invalid UTF-8 in path' };
      out.push(seg);
    }

    if (last) break;
    i++; // the '/'
  }

  if (out.length === 0) return { ok: true, path: '/' };
  const joined = '/' + out.join('/');
  return { ok: true, path: trailingSlash ? joined + '/' : joined };
}

/**
 * Decode one already-normalised path segment for middleware/params (decodeURIComponent; safe after normalizePath).
 * @internal
 * @example
 * decodeSegment('caf%C3%A9'); // 'café'
 */
export function decodeSegment(s: string): string {
  return s.includes('%') ? decodeURIComponent(s) : s;
}
