import { getGlobalDispatcher, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { callUpstream } from '../proxy/upstream-call.ts';

export interface PluginFetchSettings {
  readonly allow: readonly string[];
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
}

/** A failed fetch as the isolate side reads it: `{"error": "ctx.fetch: …"}`. */
function fetchErrorReply(message: string): string {
  return JSON.stringify({ error: message.startsWith('ctx.fetch:') ? message : `ctx.fetch: ${message}` });
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The host side of a plugin's `ctx.fetch`: only the configured origins, a timeout per call, a
 * bounded response body, and errors reduced to a message (no host objects cross into the
 * isolate). Called from the isolate through hostFetchBridge; answers JSON text.
 */
export function createPluginFetch(settings: PluginFetchSettings, plugin: string, logger: Logger): (url: string, init: string) => Promise<string> {
  const allowed = new Set(settings.allow);
  // Failures travel as `{"error": ...}` (the isolate side throws them), logged here with the URL.
  return async function pluginFetch(url: string, initJson: string): Promise<string> {
    try {
      return await fetchOnce(url, initJson);
    } catch (err) {
      const message = messageOf(err);
      logger.debug({ plugin, url, error: message }, 'plugin fetch failed');
      return fetchErrorReply(message);
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
 * The isolate's side of the ctx.fetch bridge, as the host keeps it: a reference to `deliver`
 * (`installHostFetch`), through which a finished fetch's answer goes back to the call that asked.
 */
export type FetchDelivery = { applyIgnored(self: undefined, args: [number, string]): void };

/**
 * Fetches one plugin isolate may have in flight at once: enough for a fetch per request at any
 * concurrency a gateway sees, and a bound on what a loop of fetches can send to the allowed
 * origins (past it, ctx.fetch fails at once with a message saying so).
 */
export const MAX_FETCHES_IN_FLIGHT = 1_000;

/**
 * The host's side of the ctx.fetch bridge: `start` is what the isolate calls (no result: isolated-vm
 * runs it as a task on the event loop), and each answer goes back through `deliver`, set once the
 * isolate's prelude has made it. Neither direction hands a promise across.
 *
 * Why not one `Reference.apply` whose result is the host's promise (what this replaced): isolated-vm
 * keeps the host's side of such a call alive past its end, so under load each fetch left its
 * promise and closures to be promoted by the next scavenge: ~530 bytes per request behind a plugin
 * fetching on every request, against ~60 this way (test/e2e/proxy/promotion.test.ts).
 */
export function hostFetchBridge(
  fetch: (url: string, init: string) => Promise<string>,
  maxInFlight = MAX_FETCHES_IN_FLIGHT,
): { start: (url: unknown, init: unknown, id: unknown) => void; connect: (deliver: FetchDelivery, alive: () => boolean) => void } {
  let deliver: FetchDelivery | null = null;
  let alive: () => boolean = () => true;
  let inFlight = 0;
  const answer = (id: number, reply: string): void => {
    try {
      deliver?.applyIgnored(undefined, [id, reply]);
    } catch {
      // The isolate is gone (a limit, a reload, shutdown) and nobody is waiting. isolated-vm drops
      // such a call without a word today; an answer must never fail the host if that changes.
    }
  };
  const start = (url: unknown, init: unknown, id: unknown): void => {
    // Only the isolate's own installHostFetch calls this, with two strings and a number.
    if (typeof id !== 'number') return;
    // Asked by an isolate that is gone since (the calls are queued: a loop of fetches stopped by
    // its CPU limit leaves thousands behind it): nobody is waiting, nothing is sent.
    if (!alive()) return;
    if (typeof url !== 'string' || typeof init !== 'string') {
      answer(id, fetchErrorReply('ctx.fetch: invalid arguments'));
      return;
    }
    if (inFlight >= maxInFlight) {
      answer(id, fetchErrorReply(`ctx.fetch: ${maxInFlight} fetches of this plugin are already in flight`));
      return;
    }
    inFlight++;
    // Never rejects across the boundary: a failure of a fetch source the gateway did not build (a
    // test's) travels as `{"error": ...}` like the gateway's own.
    Promise.resolve()
      .then(() => fetch(url, init))
      .then(
        (reply) => {
          inFlight--;
          answer(id, reply);
        },
        (err: unknown) => {
          inFlight--;
          answer(id, fetchErrorReply(messageOf(err)));
        },
      );
  };
  const connect = (to: FetchDelivery, isAlive: () => boolean): void => {
    deliver = to;
    alive = isAlive;
  };
  return { start, connect };
}

/**
 * Evaluated by its source text in the isolate (self-contained), before any plugin code: turns the
 * reference the host put at `__isogateFetchRef` into a frozen function at `__isogateHostFetch`,
 * and leaves at `__isogateFetchDeliver` the function through which the host answers (the host
 * takes a reference to it and deletes it). Plugin code never reaches either reference.
 */
export function installHostFetch(): void {
  const g = globalThis as Record<string, unknown>;
  const ref = g['__isogateFetchRef'] as { applyIgnored(self: undefined, args: unknown[]): void } | undefined;
  delete g['__isogateFetchRef'];
  if (!ref) return;
  const waiting = new Map<number, (reply: string) => void>();
  let last = 0;
  const hostFetch = Object.freeze(
    (url: string, init: string): Promise<string> =>
      new Promise<string>((resolve) => {
        last = (last % 0x7fffffff) + 1;
        waiting.set(last, resolve);
        ref.applyIgnored(undefined, [String(url), String(init), last]);
      }),
  );
  const deliver = (id: number, reply: string): void => {
    const resolve = waiting.get(id);
    if (!resolve) return;
    waiting.delete(id);
    resolve(reply);
  };
  Object.defineProperty(g, '__isogateHostFetch', { value: hostFetch, enumerable: false, configurable: false, writable: false });
  Object.defineProperty(g, '__isogateFetchDeliver', { value: deliver, enumerable: false, configurable: true, writable: false });
}
