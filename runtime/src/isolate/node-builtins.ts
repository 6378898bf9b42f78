import { builtinModules } from 'node:module';

/**
 * What a plugin uses instead of each Node built-in, for the build error that names it: a plugin
 * runs in a V8 isolate with the WinterTC globals (sandbox/sandbox-entry.ts), not in Node. Keys are
 * module names without `node:` and without a subpath (`fs/promises` is `fs`).
 */
const INSTEAD: Readonly<Record<string, string>> = {
  crypto: 'the global crypto (crypto.subtle for digest, HMAC, ECDSA and Ed25519; crypto.getRandomValues; crypto.randomUUID)',
  buffer: 'Uint8Array, with TextEncoder/TextDecoder for text and atob/btoa for base64',
  string_decoder: 'TextDecoder',
  url: 'the global URL and URLSearchParams',
  querystring: 'URLSearchParams',
  punycode: 'the global URL (it converts international host names)',
  util: 'TextEncoder/TextDecoder, structuredClone, and console for logging',
  console: 'the global console (it writes to the request log) or ctx.log',
  assert: 'a thrown Error',
  fs: 'the plugin\'s options (there is no file system in a plugin)',
  path: 'string operations on req.path, or URL to resolve one path against another',
  http: 'ctx.fetch, for the origins the instance allows in its fetch settings',
  https: 'ctx.fetch, for the origins the instance allows in its fetch settings',
  http2: 'ctx.fetch, for the origins the instance allows in its fetch settings',
  net: 'ctx.fetch, for the origins the instance allows in its fetch settings',
  tls: 'ctx.fetch, for the origins the instance allows in its fetch settings',
  dns: 'ctx.fetch, for the origins the instance allows in its fetch settings',
  timers: 'nothing: a hook has no timers; it answers within its CPU and wall-clock limits',
  events: 'plain callbacks: a hook is called once per request',
  stream: 'requestBody/responseBody: a plugin gets a body whole, not as a stream',
  zlib: 'nothing: bodies reach plugins as they are, and a gzip body is not decoded',
  process: 'the plugin\'s options, for settings (there is no process in a plugin)',
};
const NOTHING = 'the globals a plugin has (README: "Sandbox"): ctx.state, ctx.fetch and the plugin\'s options cover what hooks need from outside';

const builtins = new Set(builtinModules.map((m) => m.replace(/^node:/, '')));

/** The built-in's name if `specifier` is one (`node:x`, `x`, `x/sub`), else null. */
export function nodeBuiltin(specifier: string): string | null {
  if (specifier.startsWith('node:')) return specifier.slice('node:'.length).split('/')[0]!;
  const root = specifier.split('/')[0]!;
  return builtins.has(specifier) || builtins.has(root) ? root : null;
}

/** The build error for an import of a Node built-in: that it does not exist, and what to use. */
export function nodeBuiltinMessage(specifier: string, builtin: string): string {
  return `Node built-ins do not exist in plugins (a plugin runs in a V8 isolate, not in Node): "${specifier}" cannot be imported; use ${INSTEAD[builtin] ?? NOTHING} instead`;
}

/**
 * esbuild's "Could not resolve" for a Node built-in (it suggests building for Node, which is not
 * an option for a plugin), said as what it is; null for any other error. Only failed imports are
 * rewritten: a package from npm that shares a built-in's name (`buffer`, `events`) still bundles.
 */
export function explainUnresolved(text: string): string | null {
  const m = /^Could not resolve "([^"]+)"$/.exec(text);
  const builtin = m ? nodeBuiltin(m[1]!) : null;
  return builtin === null ? null : nodeBuiltinMessage(m![1]!, builtin);
}
