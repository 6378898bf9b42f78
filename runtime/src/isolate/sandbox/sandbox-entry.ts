/**
 * The sandbox script's entry: what a plugin isolate has beyond plain V8, installed once per
 * isolate after the prelude (so the builtin guards are already in place) and before the plugin's
 * bundle. Bundled by sandbox-script.ts with esbuild; runs only inside an isolate.
 *
 * - `URL`, `URLSearchParams`, `atob`, `btoa`, `DOMException`: core-js (its pure build returns
 *   the polyfills instead of patching globals, so only these names appear).
 * - `structuredClone`: @ungap/structured-clone (core-js's pure build clones a Map into its own
 *   Map class, not the isolate's, so `instanceof Map` failed on the copy).
 * - `TextEncoder`, `TextDecoder`: @exodus/bytes (the encodings "lite" build: UTF-8, UTF-16 and the
 *   single-byte encodings, without the large CJK tables).
 * - `crypto`, `CryptoKey`: web-crypto.ts, worked by the host.
 * - `console`: console.ts, into the log of the hook call in progress.
 *
 * The polyfills are installed lazily: each global is a getter until first read, and the module
 * behind it (core-js runs feature detection at load, ~4 ms for all of them) is evaluated then. A
 * plugin that never touches them pays for compiling the script, which the code cache makes cheap,
 * and nothing on its requests.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- require() is what makes esbuild wrap a module to run on first call: the lazy globals rest on it. */
import { createConsole, type LogWrite } from './console.ts';
import { define, domException, lazy } from './lazy-globals.ts';
import { createWebCrypto } from './web-crypto.ts';

type Host = (op: string, ...args: unknown[]) => unknown;

const g = globalThis as unknown as Record<string, unknown>;

// Put there by sandbox-script.ts as a synchronous Callback; taken and removed before plugin code runs.
const host = g['__isogateSandboxHost'] as Host;
delete g['__isogateSandboxHost'];
const runtime = g['__isogateHost'] as { log: LogWrite };

lazy('URL', () => require('core-js-pure/stable/url/index.js'));
lazy('URLSearchParams', () => require('core-js-pure/stable/url-search-params/index.js'));
lazy('atob', () => require('core-js-pure/stable/atob.js'));
lazy('btoa', () => require('core-js-pure/stable/btoa.js'));
lazy('structuredClone', () => {
  // @ungap's own algorithm (its default export would call a native structuredClone, and there is none).
  const { serialize, deserialize } = require('@ungap/structured-clone') as { serialize(value: unknown): unknown; deserialize(records: unknown): unknown };
  return function structuredClone(value: unknown, options?: { transfer?: unknown[] }): unknown {
    if (options?.transfer !== undefined && options.transfer.length > 0) throw domException('structuredClone cannot transfer in a plugin', 'DataCloneError');
    try {
      return deserialize(serialize(value));
    } catch (err) {
      // What the platform throws for a function or a symbol: a DataCloneError.
      if (err instanceof TypeError && err.message.startsWith('unable to serialize')) throw domException(`${err.message.slice('unable to serialize '.length)} could not be cloned`, 'DataCloneError');
      throw err;
    }
  };
});
lazy('DOMException', () => require('core-js-pure/stable/dom-exception/index.js'));

lazy('TextEncoder', () => (require('@exodus/bytes/encoding-lite.js') as { TextEncoder: unknown }).TextEncoder);
lazy('TextDecoder', () => (require('@exodus/bytes/encoding-lite.js') as { TextDecoder: unknown }).TextDecoder);

const { crypto, CryptoKey } = createWebCrypto(host);
define('crypto', crypto);
define('CryptoKey', CryptoKey);
define('console', createConsole(runtime.log));
