import { claimValue } from './template.ts';

/**
 * Upstream URL templates: `/users/{id}`, `/files/{*}` or `/tenants/{claims.org.id}/...`.
 * Compiled once per route into literal and placeholder parts, so filling one per request is a join.
 */
type Part = string | { param: string } | { claim: readonly string[] };
export type CompiledTemplate = readonly Part[];

/** `{claims.a.b}` names a verified claim by its path; everything else names a route param. */
export const CLAIM_PLACEHOLDER = /^claims\.([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)$/;

export function compileTemplate(template: string): CompiledTemplate {
  const parts: Part[] = [];
  let last = 0;
  for (const match of template.matchAll(/\{([^}]*)\}/g)) {
    if (match.index > last) parts.push(template.slice(last, match.index));
    const claim = CLAIM_PLACEHOLDER.exec(match[1]!);
    parts.push(claim ? { claim: claim[1]!.split('.') } : { param: match[1]! });
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

export function hasPlaceholders(template: string): boolean {
  return /\{[^}]*\}/.test(template);
}

/**
 * Fill a template. Named params are decoded values, so they are percent-encoded again (a `/` in a
 * param can never add a path segment upstream). The wildcard rest is already a normalised path.
 */
export function fillTemplate(template: CompiledTemplate, params: Record<string, string>, claims: Readonly<Record<string, unknown>> | null = null): string {
  let out = '';
  for (const part of template) {
    if (typeof part === 'string') out += part;
    else if ('claim' in part) out += encodeURIComponent(claimValue(claims, part.claim));
    else if (part.param === '*') out += params['*'] ?? '';
    else out += encodeURIComponent(params[part.param] ?? '');
  }
  // `/files/{*}` with an empty rest gives `/files/`; `/{*}` gives `/`. Never forward an empty path.
  return out === '' ? '/' : out;
}
