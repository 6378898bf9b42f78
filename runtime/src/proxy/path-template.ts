/**
 * Upstream URL templates: `/users/{id}` or `/files/{*}`. Compiled once per route into literal and
 * placeholder parts, so filling one per request is a join.
 */
export type CompiledTemplate = readonly (string | { param: string })[];

export function compileTemplate(template: string): CompiledTemplate {
  const parts: (string | { param: string })[] = [];
  let last = 0;
  for (const match of template.matchAll(/\{([^}]*)\}/g)) {
    if (match.index > last) parts.push(template.slice(last, match.index));
    parts.push({ param: match[1]! });
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
export function fillTemplate(template: CompiledTemplate, params: Record<string, string>): string {
  let out = '';
  for (const part of template) {
    if (typeof part === 'string') out += part;
    else if (part.param === '*') out += params['*'] ?? '';
    else out += encodeURIComponent(params[part.param] ?? '');
  }
  // `/files/{*}` with an empty rest gives `/files/`; `/{*}` gives `/`. Never forward an empty path.
  return out === '' ? '/' : out;
}
