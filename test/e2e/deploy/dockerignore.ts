/**
 * Which paths a `.dockerignore` keeps out of the build context, by Docker's rules (moby's
 * patternmatcher): one pattern a line, `#` comments, paths relative to the context root (a
 * leading `/` is dropped), `*` and `?` within a path segment, `**` across any number of them,
 * `!` re-includes, the last matching line decides, and a pattern that matches a directory
 * excludes everything under it. Enough for the tests' questions; not a build.
 */

interface Rule {
  readonly pattern: RegExp;
  readonly exclude: boolean;
}

function toRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more whole segments; a trailing `**` anything.
      if (pattern[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

export function parseDockerignore(text: string): Rule[] {
  const rules: Rule[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const exclude = !line.startsWith('!');
    if (!exclude) line = line.slice(1).trim();
    line = line.replace(/^\/+/, '').replace(/\/+$/, '').replace(/\/{2,}/g, '/');
    rules.push({ pattern: toRegExp(line), exclude });
  }
  return rules;
}

/** Whether `file` (relative to the context root, `/`-separated) is left out of the build context. */
export function isIgnored(rules: readonly Rule[], file: string): boolean {
  const segments = file.split('/');
  let ignored = false;
  for (const rule of rules) {
    // The path itself or any directory above it.
    for (let n = 1; n <= segments.length; n++) {
      if (rule.pattern.test(segments.slice(0, n).join('/'))) {
        ignored = rule.exclude;
        break;
      }
    }
  }
  return ignored;
}
