import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';

/** One request head as a raw upstream parsed it. */
export interface RawHead {
  method: string;
  target: string;
  headers: Map<string, string>;
  /** Body bytes that arrived with the head (Content-Length bodies only). */
  body: Buffer;
}

export interface RawUpstream {
  readonly url: string;
  readonly port: number;
  /** Every request head received, in order, on any connection. */
  readonly heads: RawHead[];
  close(): Promise<void>;
}

/**
 * An upstream that answers by writing raw bytes, for what node:http will not send: unsolicited
 * `100 Continue`, status codes past 599, a `101` to any Upgrade. `answer` gets each request (head
 * and its Content-Length body) and the socket; it writes whatever it wants. Requests on one
 * connection are parsed in order (keep-alive), so a test can see a connection being reused.
 */
export async function startRawUpstream(answer: (head: RawHead, socket: Socket) => void): Promise<RawUpstream> {
  const heads: RawHead[] = [];
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (let guard = 0; guard < 100; guard++) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const [method = '', target = ''] = lines[0]!.split(' ');
        const headers = new Map<string, string>();
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        }
        const length = Number(headers.get('content-length') ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.subarray(end + 4, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        const head = { method, target, headers, body };
        heads.push(head);
        answer(head, socket);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    heads,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A complete HTTP/1.1 response with a Content-Length body. */
export function rawResponse(status: number, body: string, headers: Record<string, string> = {}): string {
  const fields = Object.entries({ 'content-type': 'text/plain', ...headers, 'content-length': String(Buffer.byteLength(body)) })
    .map(([n, v]) => `${n}: ${v}\r\n`)
    .join('');
  return `HTTP/1.1 ${status} X\r\n${fields}\r\n${body}`;
}
