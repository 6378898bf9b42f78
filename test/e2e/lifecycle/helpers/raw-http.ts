import net from 'node:net';
import { withTimeout } from './wait.ts';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One client connection driven by hand, so a test controls exactly when each byte of a request
 * is sent (e.g. half a request head before a drain starts, the rest after).
 */
export class RawConnection {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  #buffer = Buffer.alloc(0);
  #notify: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#notify?.();
    });
    socket.on('error', () => {}); // surfaced as 'close'
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    void this.closed.then(() => this.#notify?.());
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = net.connect(port, '127.0.0.1');
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('error', reject);
      }),
      5_000,
      `connect to :${port}`,
    );
    return new RawConnection(socket);
  }

  write(text: string): void {
    this.socket.write(text);
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readyState === 'closed';
  }

  /** Read one complete response (Content-Length bodies only). */
  readResponse(timeoutMs = 10_000): Promise<RawResponse> {
    const parsed = new Promise<RawResponse>((resolve, reject) => {
      const attempt = () => {
        const end = this.#buffer.indexOf('\r\n\r\n');
        if (end !== -1) {
          const [statusLine, ...lines] = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
          const headers: Record<string, string> = {};
          for (const line of lines) {
            const colon = line.indexOf(':');
            headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
          }
          const length = Number(headers['content-length'] ?? 0);
          if (this.#buffer.length >= end + 4 + length) {
            const body = this.#buffer.subarray(end + 4, end + 4 + length).toString();
            this.#buffer = this.#buffer.subarray(end + 4 + length);
            this.#notify = null;
            resolve({ status: Number(statusLine!.split(' ')[1]), headers, body });
            return;
          }
        }
        if (this.isClosed) {
          this.#notify = null;
          reject(new Error(`connection closed before a complete response (got ${JSON.stringify(this.#buffer.toString().slice(0, 200))})`));
        }
      };
      this.#notify = attempt;
      attempt();
    });
    return withTimeout(parsed, timeoutMs, 'a complete response on the raw connection');
  }

  destroy(): void {
    this.socket.destroy();
  }
}
