import { performance } from 'node:perf_hooks';
import type { SentOutcome } from '../../runtime/src/chain/instruments.ts';
import type { HeaderMap } from '../../runtime/src/chain/types.ts';
import type { BuiltinInstance, UnroutedRequest } from '../../runtime/src/plugins/builtin-plugin.ts';
import type { AccessLog } from './access-line.ts';
import { pickHeaders, REDACTED, redactQuery, userAgentOf } from './redaction.ts';
import type { RequestIdPolicy } from './request-id.ts';

type UnroutedObserver = NonNullable<BuiltinInstance['unrouted']>;

/**
 * One id per request across every logging instance in the global middleware: the core tells each
 * of them about the same request object, one after the other. Weak, so nothing outlives the request.
 */
const unroutedIds = new WeakMap<UnroutedRequest, string>();


const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

export interface UnroutedLogOptions {
  readonly log: AccessLog;
  readonly settleRequestId: RequestIdPolicy;
  /** `server.limits.maxUrlLength`: a 414's path and query are cut there (the line stays bounded). */
  readonly maxUrlLength: number;
  /** A line is now pending (the instance keeps its file open until `log.settled()`). */
  readonly pending: () => void;
  /** The request id header to echo on the answer (`requestId.respond`), or null. */
  readonly respondHeader: string | null;
}

/**
 * Access lines for requests the gateway answered before any route matched (404, 405, a bad path,
 * 413/414, a refused underscore header). Same fields, redaction and sampling as a routed line,
 * with `route: null`. The core resolves the client (and the trust in its request id) through
 * `server.trustedProxies` as for routed requests.
 */
export function unroutedAccessLog(options: UnroutedLogOptions): UnroutedObserver {
  const { log, settleRequestId, maxUrlLength, pending } = options;
  const cut = (s: string): string => (s.length > maxUrlLength ? s.slice(0, maxUrlLength) : s);

  return function logUnrouted(req: UnroutedRequest, status: number, responseHeaders?: HeaderMap) {
    const started = performance.now();
    pending();
    let id = unroutedIds.get(req);
    if (id === undefined) {
      id = settleRequestId({ headers: req.headers, fromTrustedProxy: req.fromTrustedProxy });
      unroutedIds.set(req, id);
    }
    const requestId = id;
    if (options.respondHeader !== null && responseHeaders) responseHeaders[options.respondHeader] = requestId;
    const finish = ({ bytes, aborted }: SentOutcome, upgrade: boolean): void => {
      try {
        // The routed rule; every status here is ≥ 400 today, so these lines are always written.
        if (log.sample < 1 && status < 400 && !aborted && Math.random() >= log.sample) return;
        const durationMs = round3(performance.now() - started);
        const { fields, queryParams, queryAllow, requestHeaders } = log.redaction;
        const pathRedacted = fields.has('path');
        const path = pathRedacted ? REDACTED : cut(req.path);
        const line = {
          requestId,
          method: req.method,
          route: null,
          path,
          query: log.logQuery && req.query !== '' ? redactQuery(cut(req.query), queryParams, queryAllow) : undefined,
          status,
          durationMs,
          bytes,
          aborted,
          clientIp: fields.has('clientIp') ? REDACTED : req.clientIp,
          userAgent: log.logUserAgent ? userAgentOf(req.headers) : undefined,
          upgrade: upgrade ? true : undefined,
          headers: requestHeaders === null ? undefined : pickHeaders(req.headers, requestHeaders),
        };
        log.write(line, `${req.method} ${path} ${status} ${durationMs}ms${aborted ? ' aborted' : ''}`);
      } catch (err) {
        log.failed(err);
      } finally {
        log.settled();
      }
    };
    if (req.upgrade) {
      finish({ bytes: 0, aborted: false }, true);
      return;
    }
    return (outcome) => finish(outcome, false);
  };
}
