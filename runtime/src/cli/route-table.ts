import type { ResolvedConfig } from '../config/resolved-config.ts';

/** Marks an instance with `isolation: 'shared'` in the MIDDLEWARE column (explained under the table). */
const SHARED_MARK = '*';
const SHARED_NOTE =
  "* isolation: 'shared': in one isolate with the config's other shared instances; consecutive ones on a route run each hook phase in one crossing (those whose hooks take a body keep a crossing of their own)";

/** The resolved routing table as text, most specific pattern first (the order matching uses). */
export function formatRouteTable(config: ResolvedConfig): string {
  const shown = (name: string) => {
    const instance = config.plugins[name];
    return instance?.kind === 'user' && instance.isolation === 'shared' ? `${name}${SHARED_MARK}` : name;
  };
  const rows = config.routes.map((r) => ({
    methods: r.methods ? r.methods.join(',') : '*',
    path: r.path,
    upstream: r.upstreams.join(' | ') + (r.stripPrefix ? `  (strip ${r.stripPrefix})` : r.rewrite ? `  (rewrite ${r.rewrite})` : ''),
    middleware: [...config.middleware, ...r.middleware].map(shown).join(' → ') || '—',
  }));
  const anyShared = rows.some((r) => r.middleware.includes(SHARED_MARK));
  const header = { methods: 'METHODS', path: 'PATH', upstream: 'UPSTREAM', middleware: 'MIDDLEWARE' };
  const all = [header, ...rows];
  const width = (k: keyof typeof header) => Math.max(...all.map((r) => r[k].length));
  const w = { methods: width('methods'), path: width('path'), upstream: width('upstream') };
  const table = all.map((r) => `${r.methods.padEnd(w.methods)}  ${r.path.padEnd(w.path)}  ${r.upstream.padEnd(w.upstream)}  ${r.middleware}`).join('\n');
  return anyShared ? `${table}\n\n${SHARED_NOTE}` : table;
}
