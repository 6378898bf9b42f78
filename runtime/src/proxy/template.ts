import { GatewayError } from '../errors.ts';

/**
 * Value templates for backend URLs and header values: `/users/{id}`, `/search?q={query.q}`,
 * `/orgs/{claims.org.id}`, `/invoices/{resp0.account.id}`, `X-Client: {req.clientIp}`,
 * `X-Env: {env.REGION}`. Compiled once at load into literal and placeholder parts, so filling one
 * per request is a join. Which placeholders a place accepts is decided where it is compiled (a
 * backend URL may use earlier responses, a response header may not).
 */
export type Placeholder =
  | { kind: 'param'; name: string }
  | { kind: 'rest' }
  | { kind: 'claim'; path: readonly string[] }
  | { kind: 'query'; name: string }
  | { kind: 'response'; index: number; path: readonly string[] }
  | { kind: 'client-ip' };

export type CompiledValueTemplate = readonly (string | Placeholder)[];

const DOTTED = /^[A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*$/;

/** Read one placeholder's text (without braces); `env` is resolved at load, so it comes back as a literal. */
export function parsePlaceholder(text: string, env: NodeJS.ProcessEnv = process.env): Placeholder | string | { error: string } {
  if (text === '*') return { kind: 'rest' };
  if (text === 'req.clientIp') return { kind: 'client-ip' };
  const dot = text.indexOf('.');
  const head = dot === -1 ? text : text.slice(0, dot);
  const rest = dot === -1 ? '' : text.slice(dot + 1);
  if (head === 'params' && DOTTED.test(rest) && !rest.includes('.')) return { kind: 'param', name: rest };
  if (head === 'claims') return DOTTED.test(rest) ? { kind: 'claim', path: rest.split('.') } : { error: `{${text}} is not a claim path like {claims.sub} or {claims.org.id}` };
  if (head === 'query') return /^[^.{}]+$/.test(rest) ? { kind: 'query', name: rest } : { error: `{${text}} is not a query parameter like {query.q}` };
  if (head === 'env') {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(rest)) return { error: `{${text}} is not an environment variable like {env.REGION}` };
    const value = env[rest];
    return value === undefined ? { error: `{${text}}: the environment variable ${rest} is not set` } : value;
  }
  const response = /^resp(\d+)$/.exec(head);
  if (response) return DOTTED.test(rest) ? { kind: 'response', index: Number(response[1]), path: rest.split('.') } : { error: `{${text}} names no field: write {${head}.field} or {${head}.a.b}` };
  if (dot === -1 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(text)) return { kind: 'param', name: text };
  return { error: `{${text}} is not a known placeholder` };
}

/** Compile a template, or give the problems with it (empty when it is fine). */
export function compileValueTemplate(template: string, env: NodeJS.ProcessEnv = process.env): { template: CompiledValueTemplate; problems: string[] } {
  const parts: (string | Placeholder)[] = [];
  const problems: string[] = [];
  let last = 0;
  for (const match of template.matchAll(/\{([^}]*)\}/g)) {
    if (match.index > last) parts.push(template.slice(last, match.index));
    const parsed = parsePlaceholder(match[1]!, env);
    if (typeof parsed === 'object' && 'error' in parsed) problems.push(parsed.error);
    else parts.push(parsed);
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  // Adjacent literals (an env value next to text) become one.
  const merged: (string | Placeholder)[] = [];
  for (const part of parts) {
    if (typeof part === 'string' && typeof merged.at(-1) === 'string') merged[merged.length - 1] += part;
    else merged.push(part);
  }
  return { template: merged, problems };
}

export function placeholdersOf(template: CompiledValueTemplate): Placeholder[] {
  return template.filter((p): p is Placeholder => typeof p !== 'string');
}

/** What a template is filled from, for one request. */
export interface TemplateValues {
  readonly params: Readonly<Record<string, string>>;
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** The raw query string (without `?`), read lazily. */
  readonly query: string;
  readonly clientIp: string;
  /** Earlier backends' parsed JSON answers, by backend index (sequential steps). */
  readonly responses?: readonly unknown[];
}

/** A backend that needs another's answer and finds no such field: that backend fails, not the gateway. */
export class MissingTemplateValue extends Error {
  readonly placeholder: string;
  constructor(placeholder: string) {
    super(`no value for ${placeholder}`);
    this.placeholder = placeholder;
    this.name = 'MissingTemplateValue';
  }
}

/**
 * Fill a template. `encode`: values are percent-encoded (URL paths and query values: a `/` in a
 * value can never add a path segment); otherwise they go in as they are, refused if they could
 * break a header (CR, LF, NUL). Claims missing follow the core's rule (401 anonymous, 403 missing).
 */
export function fillValueTemplate(template: CompiledValueTemplate, values: TemplateValues, encode: boolean): string {
  let out = '';
  let query: URLSearchParams | null = null;
  for (const part of template) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    let value: string;
    switch (part.kind) {
      case 'rest':
        out += values.params['*'] ?? '';
        continue;
      case 'param':
        value = values.params[part.name] ?? '';
        break;
      case 'claim':
        value = claimValue(values.claims, part.path);
        break;
      case 'query':
        value = (query ??= new URLSearchParams(values.query)).get(part.name) ?? '';
        break;
      case 'client-ip':
        value = values.clientIp;
        break;
      case 'response':
        value = responseValue(values.responses?.[part.index], part);
        break;
    }
    if (encode) out += encodeURIComponent(value);
    else if (/[\r\n\0]/.test(value)) throw new GatewayError('BAD_REQUEST');
    else out += value;
  }
  return out;
}

function responseValue(answer: unknown, part: { index: number; path: readonly string[] }): string {
  let value = answer;
  for (const key of part.path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) throw new MissingTemplateValue(`{resp${part.index}.${part.path.join('.')}}`);
    value = (value as Record<string, unknown>)[key];
  }
  if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') return String(value);
  throw new MissingTemplateValue(`{resp${part.index}.${part.path.join('.')}}`);
}

/**
 * A claim used in a template must be there and be a plain string or number, and not a dot
 * segment: without it the request cannot be addressed to the right resource (403); with no claims
 * at all the caller is anonymous (401).
 */
export function claimValue(claims: Readonly<Record<string, unknown>> | null, path: readonly string[]): string {
  if (claims === null) throw new GatewayError('UNAUTHORIZED', { headers: { 'www-authenticate': 'Bearer' } });
  let value: unknown = claims;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) throw new GatewayError('FORBIDDEN');
    value = (value as Record<string, unknown>)[key];
  }
  if (typeof value === 'string' && value !== '' && value !== '.' && value !== '..') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new GatewayError('FORBIDDEN');
}
