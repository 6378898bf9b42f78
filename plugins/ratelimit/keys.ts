import { createHash } from 'node:crypto';
import type { GatewayRequest } from '../../runtime/src/chain/types.ts';
import type { RatelimitOptions } from './options.ts';

/** What a request is counted against: a string key, namespaced by kind so kinds never collide. */
export type KeyOf = (req: GatewayRequest) => string;

/** Longer client-chosen values (header values, claims) are hashed so a key stays small in memory and Redis. */
const MAX_RAW_VALUE = 128;

function bounded(kind: string, value: string): string {
  return value.length <= MAX_RAW_VALUE ? kind + value : `${kind}#${createHash('sha256').update(value).digest('base64url')}`;
}

/**
 * The key of a client address. IPv4 as is; IPv6 reduced to its first `v6Prefix` bits, because one
 * host usually holds a whole /64 and could otherwise take a fresh budget with every address.
 * An IPv4 address written as IPv6 — IPv4-mapped `::ffff:0:0/96` (what a dual-stack socket reports
 * for an IPv4 peer) or the NAT64 well-known prefix `64:ff9b::/96` (RFC 6052) — counts as that IPv4
 * address, whatever its spelling (`::FFFF:1.2.3.4`, `::ffff:102:304`): the address is parsed
 * first, never matched as text, so no spelling lands in the bucket of `::/64` (where `::1` is).
 */
export function ipKey(ip: string, v6Prefix: number): string {
  if (ip.indexOf(':') === -1) return 'ip:' + ip;
  const groups = parseIpv6(ip);
  if (groups === null) return bounded('ip?', ip); // not an address (cannot happen with a socket peer); still counted
  if (embedsIpv4(groups)) return `ip:${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  let bits = v6Prefix;
  for (let i = 0; i < 8; i++) {
    if (bits >= 16) bits -= 16;
    else {
      groups[i] = bits === 0 ? 0 : groups[i]! & (0xffff << (16 - bits)) & 0xffff;
      bits = 0;
    }
  }
  return `ip6:${groups.map((g) => g.toString(16)).join(':')}/${v6Prefix}`;
}

/** `::ffff:a.b.c.d` (IPv4-mapped) or `64:ff9b::a.b.c.d` (NAT64 well-known prefix). */
function embedsIpv4(g: readonly number[]): boolean {
  if (g[2] !== 0 || g[3] !== 0 || g[4] !== 0) return false;
  return (g[0] === 0 && g[1] === 0 && g[5] === 0xffff) || (g[0] === 0x64 && g[1] === 0xff9b && g[5] === 0);
}

/** Eight 16-bit groups, or null. Accepts `::` compression, a zone (`%eth0`) and a dotted IPv4 tail. */
export function parseIpv6(text: string): number[] | null {
  let ip = text;
  const zone = ip.indexOf('%');
  if (zone !== -1) ip = ip.slice(0, zone);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const halves = ip.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.indexOf('.') !== -1) {
        const v4 = p.split('.').map(Number);
        if (v4.length !== 4 || v4.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-f]{1,4}$/i.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

function claimValue(claims: Readonly<Record<string, unknown>> | null, path: readonly string[]): string | undefined {
  let v: unknown = claims;
  for (const segment of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, segment)) return undefined;
    v = (v as Record<string, unknown>)[segment];
  }
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/**
 * Header values are normalised before they become keys, so that one credential written several
 * ways (the HTTP grammar allows them all) is one key, not a fresh budget per spelling:
 *
 * - surrounding whitespace is dropped and every run of spaces and tabs inside becomes one space;
 * - `Authorization` / `Proxy-Authorization`: the scheme is case-insensitive (RFC 9110 §11.1) and is
 *   left out of the key: the key is the credential alone (`Bearer tok`, `bearer tok`,
 *   `BEARER  tok` → `tok`);
 * - a field sent more than once is ambiguous (which value does whatever checks it believe?), and a
 *   client could repeat a field with junk to mint a new key per request. So a repeated field is
 *   counted by client IP, like a missing one. Node joins repeated fields with `, ` except for the
 *   fields HTTP defines as single-valued (it keeps the first of those, see SINGLE_VALUED), so for
 *   any other field a comma means "sent more than once" and the request is counted by IP.
 *
 * Values are otherwise case-sensitive (API keys usually are).
 */
const SINGLE_VALUED: ReadonlySet<string> = new Set([
  'age', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'referer', 'retry-after', 'server', 'user-agent',
]);

const WHITESPACE_RUN = /[ \t]{2,}|\t/;

function tidy(value: string): string | undefined {
  let v = value.trim();
  if (WHITESPACE_RUN.test(v)) v = v.replace(/[ \t]+/g, ' ');
  return v === '' ? undefined : v;
}

/** One value, or undefined when the field is absent, empty, or repeated (an array of several). */
function only(raw: string | string[] | undefined): string | undefined {
  if (typeof raw === 'string') return raw;
  return raw?.length === 1 ? raw[0] : undefined;
}

function singleValue(raw: string | string[] | undefined): string | undefined {
  const v = only(raw);
  return v === undefined ? undefined : tidy(v);
}

function listedValue(raw: string | string[] | undefined): string | undefined {
  const v = only(raw);
  return v === undefined || v.indexOf(',') !== -1 ? undefined : tidy(v);
}

/** `<scheme> <credential>` → the credential; a value without a scheme is the credential itself. */
function credentialOf(raw: string | string[] | undefined): string | undefined {
  const v = singleValue(raw);
  if (v === undefined) return undefined;
  const space = v.indexOf(' ');
  if (space === -1) return v;
  return v.slice(space + 1);
}

/**
 * Build the key function once per instance. A request without the configured header or claim is
 * counted by its client IP (in the IP namespace, so it shares the budget of that address's other
 * anonymous requests and can never collide with a header or claim value).
 */
export function keyFunction(options: Pick<RatelimitOptions, 'key' | 'ipv6Prefix' | 'scope'>): KeyOf {
  const v6 = options.ipv6Prefix;
  let keyOf: KeyOf;
  const k = options.key;
  if (k === 'global') keyOf = function globalKey() {
    return 'global';
  };
  else if (k === 'ip') keyOf = function clientIpKey(req) {
    return ipKey(req.clientIp, v6);
  };
  else if ('header' in k) {
    const name = k.header;
    const value = name === 'authorization' || name === 'proxy-authorization' ? credentialOf : SINGLE_VALUED.has(name) ? singleValue : listedValue;
    keyOf = function headerKey(req) {
      const v = value(req.headers[name]);
      return v === undefined ? ipKey(req.clientIp, v6) : bounded('h:', v);
    };
  } else {
    const path = typeof k.claim === 'string' ? k.claim.split('.') : k.claim;
    keyOf = function claimKey(req) {
      const value = claimValue(req.claims, path);
      return value === undefined ? ipKey(req.clientIp, v6) : bounded('c:', value);
    };
  }
  if (options.scope === 'instance') return keyOf;
  const inner = keyOf;
  // The route name's length makes the prefix unambiguous whatever characters the name holds.
  return function routeScopedKey(req) {
    const name = req.route.name;
    return `r${name.length}:${name}|${inner(req)}`;
  };
}
