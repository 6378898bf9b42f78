import { STATUS_CODES } from 'node:http';
import type { HeaderMap } from '../chain/types.ts';

/**
 * Serialise a complete HTTP/1.1 response for a raw socket: used where Node gives us a socket
 * instead of a ServerResponse (client errors, refused upgrades). Always closes the connection.
 */
export function rawHttpResponse(status: number, headers: HeaderMap, body: string | Uint8Array | null): Buffer {
  const payload = body === null ? Buffer.alloc(0) : typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'content-length' || name === 'connection' || name === 'transfer-encoding') continue;
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
  }
  head += status === 101 ? 'connection: upgrade\r\n' : `content-length: ${payload.length}\r\nconnection: close\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), payload]);
}
