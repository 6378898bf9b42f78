import type { ParsedServer } from './schema.ts';

/** A route after validation: defaults filled, upstreams always a list, frozen. */
export interface ResolvedRoute {
  readonly name: string;
  readonly path: string;
  /** null: every method. */
  readonly methods: readonly string[] | null;
  readonly upstreams: readonly string[];
  readonly stripPrefix: string | null;
  readonly rewrite: string | null;
  readonly preserveHost: boolean;
  readonly timeout: { readonly connect: number; readonly headers: number; readonly idle: number };
  readonly middleware: readonly string[];
}

export type ResolvedPluginInstance =
  | {
      readonly kind: 'builtin';
      readonly use: string;
      /** Options after the plugin's own schema validated them. */
      readonly options: unknown;
    }
  | {
      readonly kind: 'user';
      /** Path (relative to the config file) or npm package name. */
      readonly use: string;
      /** Raw options: validated by the plugin's schema inside its isolate when it loads. */
      readonly options: unknown;
      readonly failurePolicy: 'fail-closed' | 'fail-open';
      readonly limits: { readonly memoryMb: number; readonly cpuMs: number; readonly wallMs: number };
      /** Origins `ctx.fetch` may reach; null: the plugin has no `ctx.fetch`. */
      readonly fetch: { readonly allow: readonly string[]; readonly timeoutMs: number; readonly maxResponseBytes: number } | null;
    };

/** What factories see: the frozen config after parse → validate → defaults. Times in ms, sizes in bytes. */
export interface ResolvedConfig {
  readonly server: Readonly<ParsedServer>;
  readonly plugins: Readonly<Record<string, ResolvedPluginInstance>>;
  readonly middleware: readonly string[];
  readonly routes: readonly ResolvedRoute[];
}
