import { randomUUID } from 'node:crypto';
import type { GatewayRequest } from '../../runtime/src/chain/types.ts';
import type { LoggingOptions } from './options.ts';

/**
 * Where built-ins find the request id the logging plugin settled on (`req.state[REQUEST_ID]`).
 * User plugins read it from the request header instead, which carries the same value. The slot is
 * the runtime's, so that the core's own lines about a request (a plugin's failure) carry the id.
 */
export { REQUEST_ID } from '../../runtime/src/chain/instruments.ts';

/**
 * The characters an incoming id may use. It is written verbatim into log lines and upstream
 * headers, so no whitespace, quotes, commas (a merged duplicate header), semicolons or control
 * characters: what passes cannot break a log line or smuggle a second header value. UUIDs, ULIDs,
 * hex and base64 ids (`+/=`) and `service:id` forms fit.
 */
const ID_CHAR = 'A-Za-z0-9._~:@/+=-';

/** Settles the request id of one request: the trusted incoming one, or a new one. */
export type RequestIdPolicy = (req: Pick<GatewayRequest, 'headers' | 'fromTrustedProxy'>) => string;

/**
 * New ids are `crypto.randomUUID()`: unique across processes and gateways with no coordination,
 * not guessable by a client (who could otherwise pre-announce another request's id and muddle
 * the correlation), recognised by every log tool, and cheap — Node draws them from a cached
 * entropy batch (tens of nanoseconds; see bench.ts).
 */
export function requestIdPolicy(options: LoggingOptions['requestId']): RequestIdPolicy {
  const { header, trustIncoming } = options;
  const valid = new RegExp(`^[${ID_CHAR}]{1,${options.maxLength}}$`);
  const trusted: (req: Pick<GatewayRequest, 'fromTrustedProxy'>) => boolean =
    trustIncoming === 'always' ? () => true : trustIncoming === 'never' ? () => false : (req) => req.fromTrustedProxy;

  return function settleRequestId(req) {
    const incoming = req.headers[header];
    // A repeated header (string[]) is refused: which copy would be the id?
    if (typeof incoming === 'string' && trusted(req) && valid.test(incoming)) return incoming;
    return randomUUID();
  };
}
