import { Readable } from 'node:stream';
import { UpstreamBody } from '../proxy/upstream-body.ts';

function ignore(): void {}

/**
 * Throw away a response body nobody will read. undici's body stream can emit an 'error'
 * (RequestAbortedError) when destroyed before its end; without a listener that error is an
 * uncaught exception (seen once under load when a client hung up just as its response was about
 * to be written), and a client that hangs up at the wrong moment must never take the process down.
 */
export function discardBody(body: unknown): void {
  if (body instanceof UpstreamBody) {
    body.discard();
    return;
  }
  if (body instanceof Readable && !body.destroyed) {
    body.on('error', ignore);
    body.destroy();
  }
}
