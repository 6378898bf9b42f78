import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deferred, waitFor } from './wait.ts';

export interface TestUpstream {
  readonly url: string;
  readonly port: number;
  /** Requests received so far (counted before the handler runs). */
  readonly received: number;
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** A plain node:http upstream on 127.0.0.1, port 0. `close()` also cuts connections still open. */
export async function startUpstream(handler: UpstreamHandler): Promise<TestUpstream> {
  let received = 0;
  const server = http.createServer((req, res) => {
    received++;
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get received() {
      return received;
    },
    waitForRequests(count, timeoutMs = 10_000) {
      return waitFor(() => received >= count, { timeoutMs, message: `upstream :${port} to receive ${count} request(s) (got ${received})` }).then(() => undefined);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** An upstream that answers every request with `200 <body>` (text/plain). */
export function startTextUpstream(body: string): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  });
}

export type HoldingUpstream = TestUpstream & { readonly slowArrived: Promise<void>; release(): void };

/**
 * An upstream that answers `200 up` at once, except `/v/slow`, which it holds until `release()`
 * (or 20 s: a safety net, never relied on): an in-flight request for drain and reload tests.
 * `slowArrived` settles when the held request has reached it.
 */
export async function startHoldingUpstream(): Promise<HoldingUpstream> {
  const gate = deferred();
  const arrived = deferred();
  const upstream = await startUpstream((req, res) => {
    req.resume();
    const reply = (body: string) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    };
    if (req.url !== '/v/slow') return reply('up');
    arrived.resolve();
    void Promise.race([gate.promise, new Promise((r) => setTimeout(r, 20_000).unref())]).then(() => reply('slow'));
  });
  return Object.assign(upstream, { slowArrived: arrived.promise, release: gate.resolve });
}
