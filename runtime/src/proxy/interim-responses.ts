import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { buildConnector } from 'undici';

/**
 * RFC 9110 §15.2: a client must parse one or more 1xx responses before the final one, even when it
 * did not expect them. Some servers (older IIS, Java containers) send `100 Continue` to every POST.
 * undici's HTTP/1 parser handles other 1xx codes (103 Early Hints passes), but destroys the
 * connection on any 100 it receives ("bad response", client-h1.js onHeadersComplete), so such an
 * upstream got a 502 for every upload.
 *
 * Until undici accepts unsolicited 100s, the gateway's connector lets its parser treat a 100 as the
 * interim response it is: undici creates the parser right after our connector hands over the
 * socket, storing it under its `kParser` symbol, and a setter there passes the status on as a
 * no-meaning 1xx (102). undici then reads the final response that follows as usual, and the proxy
 * ignores interim responses. This reaches into undici's internals on purpose, guarded: if the
 * symbol or the parser method is not where this expects, nothing is patched (today's 502), and
 * test/e2e/proxy/interim-responses.test.ts fails loudly on an undici upgrade that moved them.
 */

const undiciSymbols = createRequire(import.meta.resolve('undici'))('./lib/core/symbols.js') as { kParser?: symbol };
const PARSER = undiciSymbols.kParser;

interface HeadersCompleteParser {
  onHeadersComplete(statusCode: number, upgrade: boolean, shouldKeepAlive: boolean): number;
}

function tolerateInterimContinue(parser: unknown): void {
  const p = parser as Partial<HeadersCompleteParser> | null;
  const original = p?.onHeadersComplete;
  if (typeof original !== 'function') return;
  // Bound to a const first: a function literal assigned straight to a property is allocated in
  // old space until TurboFan compiles the enclosing function (eslint.config.js says why that matters).
  const tolerating: HeadersCompleteParser['onHeadersComplete'] = function onHeadersCompleteTolerating100(this: HeadersCompleteParser, statusCode, upgrade, shouldKeepAlive) {
    return original.call(this, statusCode === 100 ? 102 : statusCode, upgrade, shouldKeepAlive);
  };
  p!.onHeadersComplete = tolerating;
}

function watchParser(socket: Socket): void {
  if (PARSER === undefined) return;
  let parser: unknown = null;
  Object.defineProperty(socket, PARSER, {
    configurable: true,
    enumerable: false,
    get: () => parser,
    set: (value: unknown) => {
      parser = value;
      tolerateInterimContinue(value);
    },
  });
}

/** undici's own connector (TCP, connect timeout), whose sockets' parsers read past interim 100s. */
export function interimTolerantConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options);
  return function connectTolerating100(opts, callback) {
    return connect(opts, (err, socket) => {
      if (socket) watchParser(socket as Socket);
      // undici's callback type is overloaded on err; forward exactly what we were given.
      (callback as (err: Error | null, socket: unknown) => void)(err, socket);
    });
  };
}
