import type { HeaderMap } from '../../runtime/src/chain/types.ts';
import { ALWAYS_REDACTED_HEADERS, ALWAYS_REDACTED_QUERY } from './credentials.ts';
import { REDACTABLE_FIELDS, type LoggingOptions, type RedactableField } from './options.ts';

export const REDACTED = '[REDACTED]';

export { ALWAYS_REDACTED_HEADERS, ALWAYS_REDACTED_QUERY } from './credentials.ts';

/** What a logged header value or user agent is cut to, and the marker that says so. */
export const MAX_USER_AGENT = 512;
export const MAX_HEADER_VALUE = 1024;
/** A repeated header keeps this many values; the rest are replaced by the marker. */
export const MAX_HEADER_VALUES = 8;
export const TRUNCATED = '…[truncated]';

/** `value` when it fits in `max` characters, else its first `max` characters and the marker. */
export function cap(value: string, max: number): string {
  return value.length <= max ? value : value.slice(0, max) + TRUNCATED;
}

/** Which named headers are logged, each paired with whether its value is replaced. Built once in `create`. */
export type HeaderPicks = readonly (readonly [name: string, redacted: boolean])[];

export interface Redaction {
  readonly fields: ReadonlySet<RedactableField>;
  readonly requestHeaders: HeaderPicks | null;
  readonly responseHeaders: HeaderPicks | null;
  /** Lower-case parameter names whose values are replaced. */
  readonly queryParams: ReadonlySet<string>;
  /** `queryAllow`: lower-case names whose values alone are logged, or null (log all but `queryParams`). */
  readonly queryAllow: ReadonlySet<string> | null;
}

export function compileRedaction(options: LoggingOptions): Redaction {
  const fieldNames = new Set<string>(REDACTABLE_FIELDS);
  const fields = new Set<RedactableField>();
  const headers = new Set(ALWAYS_REDACTED_HEADERS);
  for (const entry of options.redact) {
    if (fieldNames.has(entry)) fields.add(entry as RedactableField);
    else headers.add(entry);
  }
  const picks = (names: readonly string[]): HeaderPicks | null =>
    names.length === 0 ? null : [...new Set(names)].map((name) => [name, headers.has(name)] as const);
  return {
    fields,
    requestHeaders: picks(options.headers),
    responseHeaders: picks(options.responseHeaders),
    queryParams: new Set([...ALWAYS_REDACTED_QUERY, ...options.redactQuery.map((n) => n.toLowerCase())]),
    queryAllow: options.queryAllow === undefined ? null : new Set(options.queryAllow.map((n) => n.toLowerCase())),
  };
}

/** The user agent as logged: absent unless sent once, cut at `MAX_USER_AGENT`. */
export function userAgentOf(headers: HeaderMap): string | undefined {
  const ua = headers['user-agent'];
  return typeof ua === 'string' ? cap(ua, MAX_USER_AGENT) : undefined;
}

/**
 * The named headers of one message as a small object (absent ones left out), or undefined when
 * none is present. Only the configured names are read: a whole header map is never serialised.
 * Each value is cut at `MAX_HEADER_VALUE` characters, and a repeated header at `MAX_HEADER_VALUES`
 * values, so a client (or an upstream) cannot make one line arbitrarily long.
 */
export function pickHeaders(headers: HeaderMap, picks: HeaderPicks): Record<string, string | string[]> | undefined {
  let out: Record<string, string | string[]> | undefined;
  for (const [name, redacted] of picks) {
    const value = headers[name];
    if (value === undefined) continue;
    (out ??= {})[name] = redacted ? REDACTED : typeof value === 'string' ? cap(value, MAX_HEADER_VALUE) : capList(value);
  }
  return out;
}

function capList(values: readonly string[]): string[] {
  const out = values.slice(0, MAX_HEADER_VALUES).map((v) => cap(v, MAX_HEADER_VALUE));
  if (values.length > MAX_HEADER_VALUES) out.push(TRUNCATED);
  return out;
}

function paramName(raw: string): string {
  const name = raw.toLowerCase();
  if (!name.includes('%') && !name.includes('+')) return name;
  try {
    return decodeURIComponent(name.replaceAll('+', ' '));
  } catch {
    return name; // malformed escapes: compare as written
  }
}

/**
 * Whether a (decoded, lower-case) parameter name is in `names`: as a whole, by its base before a
 * `[` (`token[]`, `token[0]`), or by its innermost key (`user[password]`, `auth[token]`).
 */
function named(name: string, names: ReadonlySet<string>): boolean {
  if (names.has(name)) return true;
  const open = name.indexOf('[');
  if (open === -1) return false;
  if (names.has(name.slice(0, open))) return true;
  const last = name.lastIndexOf('[');
  return name.endsWith(']') && names.has(name.slice(last + 1, -1));
}

/**
 * The raw query with the values of the named parameters replaced; unchanged (same string) when
 * none is present. With `allow`, every parameter not allowed is replaced too (its name kept, so
 * the line still says it was sent; a bare name, which may itself be the secret, is replaced whole).
 * Parameters are separated by `&`; a `;` inside one is treated as a separator too (some servers
 * split there), and from a credential name after a `;` the rest of the part is replaced, since
 * the value may itself contain `;`.
 */
export function redactQuery(query: string, params: ReadonlySet<string>, allow: ReadonlySet<string> | null = null): string {
  if (query === '') return query;
  const parts = query.split('&');
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const redacted = part.includes(';') ? redactSegments(part, params, allow) : redactParam(part, params, allow);
    if (redacted !== part) {
      parts[i] = redacted;
      changed = true;
    }
  }
  return changed ? parts.join('&') : query;
}

function redactParam(part: string, params: ReadonlySet<string>, allow: ReadonlySet<string> | null): string {
  const eq = part.indexOf('=');
  const raw = eq === -1 ? part : part.slice(0, eq);
  const name = paramName(raw);
  if (named(name, params)) return `${raw}=${REDACTED}`;
  if (allow === null || named(name, allow) || part === '') return part;
  return eq === -1 ? REDACTED : `${raw}=${REDACTED}`;
}

function redactSegments(part: string, params: ReadonlySet<string>, allow: ReadonlySet<string> | null): string {
  // Whole, first: `access_token=a;b` is one credential whatever follows the `;`.
  const whole = redactParam(part, params, null);
  if (whole !== part) return whole;
  const segments = part.split(';');
  for (let j = 0; j < segments.length; j++) {
    const segment = segments[j]!;
    const eq = segment.indexOf('=');
    if (named(paramName(eq === -1 ? segment : segment.slice(0, eq)), params)) {
      segments.length = j + 1;
      segments[j] = `${eq === -1 ? segment : segment.slice(0, eq)}=${REDACTED}`;
      break;
    }
    segments[j] = redactParam(segment, params, allow);
  }
  return segments.join(';');
}
