import { getGlobalDispatcher, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { callUpstream } from '../proxy/upstream-call.ts';

export interface PluginFetchSettings {
  readonly allow: readonly string[];
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
}

/**
 * The host side of a plugin's `ctx.fetch`: only the configured origins, a timeout per call, a
 * bounded response body, and errors reduced to a message (no host objects cross into the
 * isolate). Called from the isolate through an isolated-vm reference; answers JSON text.
 */
export function createPluginFetch(settings: PluginFetchSettings, plugin: string, logger: Logger): (url: string, init: string) => Promise<string> {
  const allowed = new Set(settings.allow);
  // Never reject across the isolate boundary: isolated-vm observes the promise late, so a
  // rejection would surface as an unhandled rejection in the host (a crash under Node's default
  // policy). Failures travel as `{"error": ...}` and the isolate side throws them.
  return async function pluginFetch(url: string, initJson: string): Promise<string> {
    try {
      return await fetchOnce(url, initJson);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      logger.debug({ plugin, url, error: message }, 'plugin fetch failed');
      return JSON.stringify({ error: message.startsWith('ctx.fetch:') ? message : `ctx.fetch: ${message}` });
    }
  };

  async function fetchOnce(url: string, initJson: string): Promise<string> {
    if (!URL.canParse(url)) throw new Error(`ctx.fetch: invalid URL ${JSON.stringify(url)}`);
    const target = new URL(url);
    if (!allowed.has(target.origin)) throw new Error(`ctx.fetch: origin ${target.origin} is not allowed for this plugin`);
    const init = JSON.parse(initJson) as { method?: unknown; headers?: unknown; body?: unknown };
    const method = typeof init.method === 'string' ? init.method.toUpperCase() : 'GET';
    // A tunnel is not a fetch (undici's request() refused it; the dispatch handler would hand the
    // socket over to nobody).
    if (method === 'CONNECT') throw new Error('ctx.fetch: invalid method CONNECT');
    const headers: Record<string, string> = {};
    if (init.headers && typeof init.headers === 'object') {
      for (const [k, v] of Object.entries(init.headers as Record<string, unknown>)) headers[k.toLowerCase()] = String(v);
    }
    const started = Date.now();
    // The whole call, body included, within the timeout. A timer of our own, cleared as soon as the
    // call ends, rather than AbortSignal.timeout(), whose timer lives for the full timeout after
    // the call is over.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error(`ctx.fetch: ${target.origin} did not complete within ${settings.timeoutMs} ms`)), settings.timeoutMs);
    try {
      // The proxy's dispatch handler (on the process-wide dispatcher), not undici's request(): its
      // handler assigns an arrow to a property per request (`this.abort = …`), which V8 allocates
      // in old space until TurboFan has compiled it, and a plugin fetching on every request then
      // piled requests up in the old generation (see `reportSent` in runtime/src/gateway.ts).
      const res = await callUpstream(
        getGlobalDispatcher(),
        {
          origin: target.origin,
          path: `${target.pathname}${target.search}`,
          method: method as Dispatcher.HttpMethod,
          headers,
          body: typeof init.body === 'string' ? init.body : null,
          headersTimeout: settings.timeoutMs,
          bodyTimeout: settings.timeoutMs,
        },
        deadline.signal,
      );
      const body = await res.body.collect(settings.maxResponseBytes);
      if (body === null) throw new Error(`ctx.fetch: response from ${target.origin} is larger than ${settings.maxResponseBytes} bytes`);
      const responseHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) responseHeaders[k] = Array.isArray(v) ? v.join(', ') : v;
      logger.debug({ plugin, origin: target.origin, status: res.statusCode, ms: Date.now() - started }, 'plugin fetch');
      return JSON.stringify({ status: res.statusCode, headers: responseHeaders, body: body.toString('utf8') });
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Evaluated by its source text in the isolate (self-contained): turns the reference the host put
 * at `__isogateFetchRef` into a frozen function at `__isogateHostFetch`, and removes the reference
 * from the global object so plugin code can never reach it.
 */
export function installHostFetch(): void {
  const g = globalThis as Record<string, unknown>;
  const ref = g['__isogateFetchRef'] as { apply(self: undefined, args: unknown[], options: unknown): Promise<string> } | undefined;
  delete g['__isogateFetchRef'];
  if (!ref) return;
  const hostFetch = Object.freeze((url: string, init: string): Promise<string> => ref.apply(undefined, [url, init], { arguments: { copy: true }, result: { promise: true, copy: true } }));
  Object.defineProperty(g, '__isogateHostFetch', { value: hostFetch, enumerable: false, configurable: false, writable: false });
}
