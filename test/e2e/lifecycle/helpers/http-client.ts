import http from 'node:http';
import net from 'node:net';

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** GET (or another method) with a bounded total time; rejects on any transport error. */
export function httpGet(url: string, options: { agent?: http.Agent | false; timeoutMs?: number; method?: string; headers?: Record<string, string> } = {}): Promise<SimpleResponse> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', agent: options.agent ?? false, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('aborted', () => {
        clearTimeout(timer);
        reject(Object.assign(new Error(`response aborted after ${Buffer.concat(chunks).length} body bytes`), { code: 'ECONNRESET', partialBody: Buffer.concat(chunks).toString() }));
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`request to ${url} took longer than ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

/** Try one TCP connection: 'refused' when nothing listens, 'connected' (then closed at once) otherwise. */
export function probeConnect(port: number, timeoutMs = 2_000): Promise<'refused' | 'connected' | 'other'> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('other');
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'other');
    });
  });
}

/** A free port right now (listen on 0, close). Racy by nature; fine for "nothing listens there" checks. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
