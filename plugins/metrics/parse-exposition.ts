/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests: every sample line
 * must parse, every sample must belong to a family announced by `# TYPE`, and no series may repeat.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** Family name → type, from `# TYPE` lines. */
  readonly types: ReadonlyMap<string, string>;
  /** Samples named `name` whose labels include every pair in `labels`. */
  find(name: string, labels?: Readonly<Record<string, string>>): Sample[];
  /** The one sample named `name` with exactly these labels; undefined when absent. */
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
  /** Sum of the values of `find(name, labels)`. */
  sum(name: string, labels?: Readonly<Record<string, string>>): number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/;

function parseValue(text: string, line: string): number {
  // Prometheus parses these case-insensitively (Go's ParseFloat); prom-client writes `Nan`.
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const n = Number(text);
  if (text === '' || Number.isNaN(n)) throw new Error(`bad sample value in: ${line}`);
  return n;
}

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function familyOf(name: string, types: ReadonlyMap<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (types.get(base) === 'histogram' || types.get(base) === 'summary') return base;
    }
  }
  return undefined;
}

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (type) types.set(type[1]!, type[2]!);
      else if (!line.startsWith('# HELP ')) throw new Error(`unexpected comment line: ${line}`);
      continue;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`no metric name in: ${line}`);
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const m = LABEL.exec(rest);
        if (!m) throw new Error(`bad label in: ${line}`);
        if (m[1]! in labels) throw new Error(`repeated label ${m[1]} in: ${line}`);
        labels[m[1]!] = unescape(m[2]!);
        rest = rest.slice(m[0].length);
        if (rest.startsWith(',')) rest = rest.slice(1);
      }
      rest = rest.slice(1);
    }
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2) throw new Error(`bad sample in: ${line}`);
    if (familyOf(name, types) === undefined) throw new Error(`sample of an undeclared family: ${line}`);
    const key = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`)
      .join(',')}}`;
    if (seen.has(key)) throw new Error(`repeated series: ${key}`);
    seen.add(key);
    samples.push({ name, labels, value: parseValue(parts[0]!, line) });
  }

  const matches = (s: Sample, name: string, labels: Readonly<Record<string, string>>) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  const find = (name: string, labels: Readonly<Record<string, string>> = {}) => samples.filter((s) => matches(s, name, labels));
  return {
    samples,
    types,
    find,
    value(name, labels = {}) {
      const exact = find(name, labels).filter((s) => Object.keys(s.labels).length === Object.keys(labels).length);
      if (exact.length > 1) throw new Error(`several samples match ${name} ${JSON.stringify(labels)}`);
      return exact[0]?.value;
    },
    sum(name, labels = {}) {
      return find(name, labels).reduce((total, s) => total + s.value, 0);
    },
  };
}
