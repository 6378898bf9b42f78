import type { ResolvedConfig } from '../config/resolved-config.ts';

/** The resolved routing table as text, most specific pattern first (the order matching uses). */
export function formatRouteTable(config: ResolvedConfig): string {
  const rows = config.routes.map((r) => ({
    methods: r.methods ? r.methods.join(',') : '*',
    path: r.path,
    upstream: r.upstreams.join(' | ') + (r.stripPrefix ? `  (strip ${r.stripPrefix})` : r.rewrite ? `  (rewrite ${r.rewrite})` : ''),
    middleware: [...config.middleware, ...r.middleware].join(' → ') || '—',
  }));
  const header = { methods: 'METHODS', path: 'PATH', upstream: 'UPSTREAM', middleware: 'MIDDLEWARE' };
  const all = [header, ...rows];
  const width = (k: keyof typeof header) => Math.max(...all.map((r) => r[k].length));
  const w = { methods: width('methods'), path: width('path'), upstream: width('upstream') };
  return all.map((r) => `${r.methods.padEnd(w.methods)}  ${r.path.padEnd(w.path)}  ${r.upstream.padEnd(w.upstream)}  ${r.middleware}`).join('\n');
}
