import { createHash } from 'node:crypto';
import type { HeaderMap } from '../chain/types.ts';

/**
 * The WebSocket opening handshake (RFC 6455 §4), checked on both sides of the gateway. WebSocket
 * is the only protocol the gateway lets a client upgrade to: after a 101 the bytes are spliced and
 * nothing the gateway does per request (routing, middleware, auth, logs) sees them again, so both
 * ends must prove they are doing a WebSocket handshake for this very request.
 */

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** 16 random bytes, base64: 22 characters and `==`. */
const CLIENT_KEY = /^[A-Za-z0-9+/]{22}==$/;

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** `Upgrade: websocket` (one token, any case), as browsers and every WebSocket client send it. */
export function isWebSocketUpgrade(headers: HeaderMap): boolean {
  const upgrade = single(headers['upgrade']);
  return upgrade !== undefined && upgrade.trim().toLowerCase() === 'websocket';
}

/** A complete client handshake: GET, `Upgrade: websocket` and a well-formed `Sec-WebSocket-Key`. */
export function isWebSocketHandshake(method: string, headers: HeaderMap): boolean {
  const key = single(headers['sec-websocket-key']);
  return method === 'GET' && isWebSocketUpgrade(headers) && key !== undefined && CLIENT_KEY.test(key.trim());
}

/** The `Sec-WebSocket-Accept` a server must answer to this client key. */
export function acceptFor(clientKey: string): string {
  return createHash('sha1').update(clientKey.trim() + ACCEPT_GUID).digest('base64');
}

/**
 * Whether the upstream's 101 completes the client's WebSocket handshake: `Upgrade: websocket` and
 * the accept value derived from the client's key. Anything else (an upstream that switched to
 * h2c, or answered 101 to whatever it was sent) must not be spliced.
 */
export function upstreamAcceptedWebSocket(requestHeaders: HeaderMap, responseHeaders: Record<string, string | string[] | undefined>): boolean {
  const key = single(requestHeaders['sec-websocket-key']);
  const upgrade = single(responseHeaders['upgrade']);
  const accept = single(responseHeaders['sec-websocket-accept']);
  return key !== undefined && upgrade?.trim().toLowerCase() === 'websocket' && accept?.trim() === acceptFor(key);
}
