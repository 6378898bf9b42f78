import type { HeaderMap } from '../../runtime/src/chain/types.ts';
import { compileClaimPath, readClaim, type Claims } from './claims.ts';
import type { AuthOptions } from './options.ts';

/**
 * Claims copied to upstream request headers (KrakenD's `propagate_claims`). The client's own
 * copies of those headers are always removed first — whether or not the token carries the claim,
 * and even on routes where authentication is optional — so an upstream can trust them.
 */
export interface Propagation {
  /** Lower-case names of every propagated header. */
  readonly headers: readonly string[];
  strip(headers: HeaderMap): void;
  apply(headers: HeaderMap, claims: Claims): void;
}

export function compilePropagation(propagate: AuthOptions['propagate']): Propagation | null {
  if (propagate.length === 0) return null;
  const rules = propagate.map(([claim, header]) => ({ path: compileClaimPath(claim), header: header.toLowerCase() }));
  const headers = rules.map((r) => r.header);
  return {
    headers,
    strip(map) {
      for (const h of headers) if (h in map) delete map[h];
    },
    apply(map, claims) {
      for (const rule of rules) {
        const value = headerValue(readClaim(claims, rule.path));
        if (value !== null) map[rule.header] = value;
      }
    },
  };
}

/**
 * A claim as a header value, so that two different claim values never send the same header (an
 * upstream trusting the header must not be able to confuse `"a,b"` with `["a","b"]`, nor
 * `"José"` with `"Jos%C3%A9"`). The value is a comma-separated list of items, each
 * percent-encoded (UTF-8, upper-case hex):
 *
 * - a string is one item; a number or boolean is one item of its text; an array is one item per
 *   element (nested arrays, objects and null elements as JSON); an object is one item of its JSON;
 * - within an item, `%`, `,`, control characters, DEL and anything beyond ASCII are encoded, and
 *   so is a space at either end of an item (HTTP parsers drop whitespace around field values and
 *   list elements: `"alice "` must not arrive as `alice`); other spaces and visible ASCII stay;
 * - absent, null, `""` and `[]` → no header. So is a string with a lone UTF-16 surrogate, which
 *   UTF-8 cannot represent (rather than a lossy replacement character).
 *
 * Decoding is: split on `,`, percent-decode each item. The type is not carried: `"1"` and `1`
 * give the same header, as they would in any text header.
 */
export function headerValue(value: unknown): string | null {
  let text: string | null;
  if (typeof value === 'string') text = encodeItem(value);
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value)) {
    if (value.length === 0) return null;
    let joined = '';
    for (let i = 0; i < value.length; i++) {
      const item = itemText(value[i]);
      if (item === null) return null;
      joined += i === 0 ? item : `,${item}`;
    }
    text = joined;
  } else if (value !== null && typeof value === 'object') text = encodeItem(JSON.stringify(value));
  else return null;
  return text === '' ? null : text;
}

function itemText(value: unknown): string | null {
  if (typeof value === 'string') return encodeItem(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  // Nested arrays, objects and null: their JSON, encoded, rather than silently dropped.
  const json = JSON.stringify(value);
  return json === undefined ? null : encodeItem(json);
}

// Visible ASCII but `%` and `,`, with inner spaces: kept as is (the common case, one regex test).
const PLAIN_ITEM = /^(?:[\x21-\x24\x26-\x2b\x2d-\x7e](?:[\x20-\x24\x26-\x2b\x2d-\x7e]*[\x21-\x24\x26-\x2b\x2d-\x7e])?)?$/;
const HEX = '0123456789ABCDEF';

/** One list item, percent-encoded; null for a string UTF-8 cannot represent (lone surrogate). */
function encodeItem(text: string): string | null {
  if (PLAIN_ITEM.test(text)) return text;
  if (!text.isWellFormed()) return null;
  const bytes = Buffer.from(text, 'utf8');
  const last = bytes.length - 1;
  let out = '';
  for (let i = 0; i <= last; i++) {
    const b = bytes[i]!;
    const keep = (b > 0x20 && b < 0x7f && b !== 0x25 && b !== 0x2c) || (b === 0x20 && i !== 0 && i !== last);
    out += keep ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}
