/** One problem in a config, located by key path (`routes[2].upstream`). */
export interface ConfigIssue {
  path: string;
  message: string;
}

/**
 * A config that cannot be served. Startup exits 1 with it; a hot reload logs it and keeps the
 * last good config serving.
 */
export class ConfigError extends Error {
  readonly code = 'ISOGATE_ERR_CONFIG';
  readonly issues: readonly ConfigIssue[];
  readonly file: string | undefined;

  constructor(issues: ConfigIssue[], file?: string) {
    super(formatIssues(issues, file));
    this.name = 'ConfigError';
    this.issues = issues;
    this.file = file;
  }
}

export function formatIssues(issues: readonly ConfigIssue[], file?: string): string {
  const head = `invalid config${file ? ` ${file}` : ''} (${issues.length} problem${issues.length === 1 ? '' : 's'}):`;
  return [head, ...issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`)].join('\n');
}

/** `['routes', 2, 'upstream']` → `routes[2].upstream`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      out += /^[A-Za-z_$][\w$]*$/.test(key) ? (out ? `.${key}` : key) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}
